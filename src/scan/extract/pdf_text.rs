//! A PDF page's text, read from its content stream with lopdf's parser and the fonts'
//! encodings (ToUnicode maps included): what lopdf's own `extract_text` gives, plus
//!
//! - a line break where the text moves to another line (`Td`/`TD` with a vertical move, a
//!   `Tm` to another baseline): generators that end a line without a space would otherwise
//!   run the last word of one line and the first of the next together ("Leah" and "Walker"
//!   into "LeahWalker"). A move along the same line adds nothing: Chromium (Skia) moves with
//!   `Td` between the glyphs of one word to kern them ("W" `Td` "alker"), and without the
//!   glyphs' widths a kerning move cannot be told from a word gap;
//! - the text of the form XObjects the page draws (`Do`), where a flattened form keeps its
//!   field values and some generators put whole tables or letterheads; nested within
//!   [`MAX_DEPTH`], each read once per page, the page's and its forms' content together
//!   bounded by the limit of one page.

use std::collections::{BTreeMap, HashSet};

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

/// Form XObjects drawn inside form XObjects, at most this deep.
const MAX_DEPTH: usize = 8;
/// Form XObjects read on one page, at most.
const MAX_FORMS: usize = 2_000;

/// The text of page `page_id`. `limit` bounds the page's content and its forms' together,
/// decompressed; an error is a page whose content could not be read (or is over the limit).
pub fn page_text(doc: &Document, page_id: ObjectId, limit: usize) -> lopdf::Result<String> {
    let content = doc.get_page_content_with_limit(page_id, limit)?;
    let fonts = encodings(doc, doc.get_page_fonts(page_id)?, limit);
    let (own, inherited) = doc.get_page_resources(page_id)?;
    let mut xobjects = Dictionary::new();
    for d in inherited
        .iter()
        .filter_map(|id| doc.get_dictionary(*id).ok())
        .chain(own)
    {
        if let Ok(x) = d.get_deref(b"XObject", doc).and_then(Object::as_dict) {
            for (k, v) in x.iter() {
                xobjects.set(k.clone(), v.clone());
            }
        }
    }
    let mut walk = Walk {
        doc,
        limit,
        left: limit.saturating_sub(content.len()),
        out: String::new(),
        forms: 0,
        drawn: HashSet::new(),
    };
    walk.content(&content, &fonts, &xobjects, 0)?;
    Ok(walk.out)
}

/// Each font's encoding by resource name; a font whose encoding cannot be read maps to
/// `None`, and text shown in it makes the page unreadable (never silently skipped).
fn encodings<'a>(
    doc: &'a Document,
    fonts: BTreeMap<Vec<u8>, &'a Dictionary>,
    limit: usize,
) -> BTreeMap<Vec<u8>, Option<Encoding<'a>>> {
    fonts
        .into_iter()
        .map(|(name, font)| (name, font.get_font_encoding_with_limit(doc, limit).ok()))
        .collect()
}

type Fonts<'a> = BTreeMap<Vec<u8>, Option<Encoding<'a>>>;

struct Walk<'a> {
    doc: &'a Document,
    /// For the fonts' ToUnicode maps.
    limit: usize,
    /// Content bytes the forms may still decompress on this page.
    left: usize,
    out: String,
    forms: usize,
    /// Forms already read on this page (a form drawn twice, or drawing itself, is read once).
    drawn: HashSet<ObjectId>,
}

impl<'a> Walk<'a> {
    fn content(
        &mut self,
        data: &[u8],
        fonts: &Fonts<'a>,
        xobjects: &Dictionary,
        depth: usize,
    ) -> lopdf::Result<()> {
        let content = Content::decode(data)?;
        let mut encoding: Option<&Encoding> = None;
        // The font selected has an encoding that could not be read.
        let mut unreadable = false;
        // The baseline of the current text line (from Tm), to tell a new line from a move
        // along the same one.
        let mut line_y: Option<f32> = None;
        for op in &content.operations {
            let num = |i: usize| op.operands.get(i).and_then(|o| o.as_float().ok());
            match op.operator.as_str() {
                "Tf" => {
                    let font = op
                        .operands
                        .first()
                        .and_then(|n| n.as_name().ok())
                        .and_then(|n| fonts.get(n));
                    encoding = font.and_then(Option::as_ref);
                    unreadable = matches!(font, Some(None));
                }
                "Tj" | "TJ" | "'" | "\"" if unreadable => {
                    return Err(lopdf::Error::Syntax(
                        "text in a font whose encoding could not be read".into(),
                    ));
                }
                "Tj" | "TJ" => {
                    if let Some(e) = encoding {
                        collect(&mut self.out, e, &op.operands);
                    }
                }
                "'" | "\"" => {
                    self.line_break();
                    if let Some(e) = encoding {
                        let shown = if op.operator == "'" { 0 } else { 2 };
                        collect(&mut self.out, e, op.operands.get(shown..).unwrap_or(&[]));
                    }
                }
                "Td" | "TD" => {
                    if num(1).is_some_and(|ty| ty != 0.0) {
                        self.line_break();
                    }
                }
                "Tm" => {
                    let y = num(5);
                    if y.is_some() && line_y.is_some() && y != line_y {
                        self.line_break();
                    }
                    line_y = y;
                }
                "T*" | "ET" => self.line_break(),
                "BT" => line_y = None,
                "Do" if depth < MAX_DEPTH => {
                    if let Some(name) = op.operands.first().and_then(|n| n.as_name().ok()) {
                        self.form(name, xobjects, fonts, depth)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads the form XObject `name` (images and unknown names are passed over).
    fn form(
        &mut self,
        name: &[u8],
        xobjects: &Dictionary,
        fonts: &Fonts<'a>,
        depth: usize,
    ) -> lopdf::Result<()> {
        let doc = self.doc;
        let Ok(Object::Reference(id)) = xobjects.get(name) else {
            return Ok(());
        };
        if self.forms >= MAX_FORMS || !self.drawn.insert(*id) {
            return Ok(());
        }
        let Ok(stream) = doc.get_object(*id).and_then(Object::as_stream) else {
            return Ok(());
        };
        if !stream
            .dict
            .get(b"Subtype")
            .and_then(Object::as_name)
            .is_ok_and(|s| s == b"Form")
        {
            return Ok(());
        }
        self.forms += 1;
        let data = stream.decompressed_content_with_limit(self.left)?;
        self.left -= data.len().min(self.left);
        // A form's own resources, else the page's (as older files rely on).
        let resources = stream
            .dict
            .get_deref(b"Resources", doc)
            .and_then(Object::as_dict)
            .ok();
        let own_fonts;
        let fonts = match resources.and_then(|r| r.get_deref(b"Font", doc).ok()) {
            Some(Object::Dictionary(f)) => {
                let listed = f
                    .iter()
                    .filter_map(|(k, v)| {
                        let font = doc.dereference(v).ok()?.1.as_dict().ok()?;
                        Some((k.clone(), font))
                    })
                    .collect();
                own_fonts = encodings(doc, listed, self.limit);
                &own_fonts
            }
            _ => fonts,
        };
        let inner = resources
            .and_then(|r| r.get_deref(b"XObject", doc).ok())
            .and_then(|x| x.as_dict().ok())
            .unwrap_or(xobjects);
        self.line_break();
        let read = self.content(&data, fonts, inner, depth + 1);
        self.line_break();
        read
    }

    fn line_break(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }
}

/// The text of `Tj`/`TJ` operands: strings decoded, a space after an array and at a kerning
/// gap wider than a tenth of the font size (as lopdf's own extraction does).
fn collect(out: &mut String, encoding: &Encoding, operands: &[Object]) {
    for operand in operands {
        match operand {
            Object::String(bytes, _) => {
                let _ = encoding.write_to_string(bytes, out);
            }
            Object::Array(items) => {
                collect(out, encoding, items);
                out.push(' ');
            }
            Object::Integer(i) if *i < -100 => out.push(' '),
            Object::Real(r) if *r < -100.0 => out.push(' '),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::{Stream, dictionary};

    /// A one-page PDF (Helvetica as F1) drawing `page`, with form XObjects `Fm0`, `Fm1`…
    /// holding `forms`; a form may draw the others (or itself).
    fn pdf(page: &str, forms: &[&str]) -> Document {
        pdf_with(page, forms, false)
    }

    /// [`pdf`], with `F2` a font whose encoding cannot be read when `broken_font`.
    fn pdf_with(page: &str, forms: &[&str], broken_font: bool) -> Document {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        let mut fonts = dictionary! { "F1" => font };
        if broken_font {
            // Not a font dictionary (no /Type /Font): its encoding cannot be read.
            let broken =
                doc.add_object(dictionary! { "Subtype" => "Type1", "BaseFont" => "Helvetica" });
            fonts.set("F2", broken);
        }
        let ids: Vec<ObjectId> = forms.iter().map(|_| doc.new_object_id()).collect();
        let mut xobjects = Dictionary::new();
        for (i, id) in ids.iter().enumerate() {
            xobjects.set(format!("Fm{i}"), *id);
        }
        for (id, body) in ids.iter().zip(forms) {
            let dict = dictionary! {
                "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 600.into(), 800.into()],
                "Resources" => dictionary! { "Font" => fonts.clone(), "XObject" => xobjects.clone() },
            };
            doc.objects.insert(
                *id,
                Object::Stream(Stream::new(dict, body.as_bytes().to_vec())),
            );
        }
        let resources = doc.add_object(dictionary! { "Font" => fonts, "XObject" => xobjects });
        let content = doc.add_object(Stream::new(dictionary! {}, page.as_bytes().to_vec()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content, "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 },
            ),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        Document::load_mem(&bytes).unwrap()
    }

    fn text(doc: &Document) -> String {
        let page = *doc.get_pages().values().next().unwrap();
        page_text(doc, page, 1 << 20).unwrap()
    }

    #[test]
    fn line_moves_keep_words_apart_and_kerning_moves_do_not_split_them() {
        // A line ended without a space, then a new line by Td; lines placed by Tm on new
        // baselines; and Chromium's kerning: "W", a move right by its advance, "alker".
        let doc = pdf(
            "BT /F1 12 Tf 72 700 Td (Please seat Leah) Tj 0 -14 Td (Walker at the front.) Tj ET \
             BT /F1 9 Tf 1 0 0 1 72 600 Tm (Grace) Tj 1 0 0 1 72 589 Tm (Wood) Tj ET \
             BT /F1 16 Tf 1 0 0 -1 13 109 Tm (W) Tj 13.82 0 Td (alker) Tj ET",
            &[],
        );
        assert_eq!(
            text(&doc),
            "Please seat Leah\nWalker at the front.\nGrace\nWood\nWalker\n"
        );
        // What lopdf's own extraction makes of the same page (why this module exists).
        let lopdf = doc.extract_text(&[1]).unwrap();
        assert!(
            lopdf.contains("LeahWalker") && lopdf.contains("GraceWood"),
            "{lopdf:?}"
        );
    }

    #[test]
    fn text_in_a_font_that_cannot_be_read_makes_the_page_unreadable() {
        let doc = pdf_with(
            "BT /F1 12 Tf (Trip) Tj /F2 12 Tf (Leah Walker) Tj ET",
            &[],
            true,
        );
        let page = *doc.get_pages().values().next().unwrap();
        assert!(page_text(&doc, page, 1 << 20).is_err());
        // Declared but not used: the page reads.
        let doc = pdf_with("BT /F1 12 Tf (Trip) Tj ET", &[], true);
        assert_eq!(text(&doc), "Trip\n");
    }

    #[test]
    fn form_xobjects_are_read_once_and_bounded() {
        // A flattened form: the field's value is drawn by a form XObject. Fm1 draws itself and
        // Fm0 again (a loop): each is read once.
        let doc = pdf(
            "BT /F1 12 Tf 72 700 Td (Child's name:) Tj ET q /Fm0 Do Q q /Fm1 Do Q /Missing Do",
            &[
                "BT /F1 10 Tf 2 2 Td (Grace Wood) Tj ET",
                "/Fm1 Do /Fm0 Do BT /F1 10 Tf 2 2 Td (Year 8) Tj ET",
            ],
        );
        assert_eq!(text(&doc), "Child's name:\nGrace Wood\nYear 8\n");
        // The page and its forms share one limit: over it, the page is not read (so the
        // scan is incomplete), never read in part.
        let page = *doc.get_pages().values().next().unwrap();
        let page_len = doc.get_page_content(page).len();
        assert!(page_text(&doc, page, page_len + 60).is_err());
        assert!(page_text(&doc, page, page_len + 200).is_ok());
    }
}
