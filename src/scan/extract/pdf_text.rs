//! A PDF page's text, read from its content stream with lopdf's parser and the fonts'
//! encodings (ToUnicode maps included): what lopdf's own `extract_text` gives, plus
//!
//! - a line break where the text moves to another line (`Td`/`TD` with a vertical move, a
//!   `Tm` to another baseline): generators that end a line without a space would otherwise
//!   run the last word of one line and the first of the next together ("Leah" and "Walker"
//!   into "LeahWalker");
//! - a space where text placed along the same line leaves a gap after the previous glyphs, as
//!   pdftotext and pdfminer rebuild words: generators that place each word (or each glyph)
//!   by its own `Td`/`Tm` and write no space characters. The gap is measured with the font's
//!   glyph widths (`/Widths`, a CID font's `/W`), the font size, character and word spacing
//!   and horizontal scaling; wider than [`WORD_GAP`] of the font size is a word break. A
//!   kerning move (Chromium moves with `Td` between the glyphs of one word: "W" `Td`
//!   "alker") leaves no gap and adds nothing. Without widths (a standard font without
//!   `/Widths`) a move along the line adds nothing, as before;
//! - the text of the form XObjects the page draws (`Do`), where a flattened form keeps its
//!   field values and some generators put whole tables or letterheads; nested within
//!   [`MAX_DEPTH`], each read once per page, the page's and its forms' content together
//!   bounded by the limit of one page.

use std::collections::{BTreeMap, HashSet};

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

/// A gap along the line wider than this fraction of the font size is a word break (a space
/// is about 0.25 of it in common fonts; kerning and tracking stay well under 0.1).
const WORD_GAP: f32 = 0.12;

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
) -> Fonts<'a> {
    fonts
        .into_iter()
        .map(|(name, font)| {
            let font = font
                .get_font_encoding_with_limit(doc, limit)
                .ok()
                .map(|e| (e, Widths::of(doc, font)));
            (name, font)
        })
        .collect()
}

/// Each font's encoding and glyph widths, by resource name.
type Fonts<'a> = BTreeMap<Vec<u8>, Option<(Encoding<'a>, Option<Widths>)>>;

/// A font's glyph widths (thousandths of the font size) by character code.
#[derive(Debug, Clone)]
struct Widths {
    /// Two-byte codes (a Type0 font), else one byte per code.
    two_byte: bool,
    first: u32,
    widths: Vec<f32>,
    /// CID ranges from `/W`: (first, last, width).
    ranges: Vec<(u32, u32, f32)>,
    missing: f32,
}

impl Widths {
    /// From `/FirstChar` and `/Widths` (simple fonts) or the descendant's `/W` and `/DW`
    /// (Type0 with two-byte codes); `None` when the font gives none (standard fonts).
    fn of(doc: &Document, font: &Dictionary) -> Option<Widths> {
        let num = |o: &Object| {
            o.as_float()
                .ok()
                .or_else(|| o.as_i64().ok().map(|i| i as f32))
        };
        let subtype = font.get(b"Subtype").and_then(Object::as_name).ok()?;
        if subtype == b"Type0" {
            let enc = font.get(b"Encoding").and_then(Object::as_name).ok()?;
            if enc != b"Identity-H" {
                return None;
            }
            let desc = font
                .get_deref(b"DescendantFonts", doc)
                .and_then(Object::as_array)
                .ok()?
                .first()
                .and_then(|d| doc.dereference(d).ok())?
                .1
                .as_dict()
                .ok()?;
            let missing = desc.get(b"DW").ok().and_then(num).unwrap_or(1000.0);
            let mut ranges = Vec::new();
            if let Ok(w) = desc.get_deref(b"W", doc).and_then(Object::as_array) {
                let mut i = 0;
                while i + 1 < w.len() && ranges.len() < 65_536 {
                    let Some(c) = num(&w[i]) else { break };
                    let c = c as u32;
                    match doc.dereference(&w[i + 1]).map(|(_, o)| o) {
                        Ok(Object::Array(ws)) => {
                            for (k, x) in ws.iter().enumerate().take(65_536) {
                                if let Some(x) = num(x) {
                                    ranges.push((c + k as u32, c + k as u32, x));
                                }
                            }
                            i += 2;
                        }
                        Ok(o) => {
                            let (Some(last), Some(x)) = (num(o), w.get(i + 2).and_then(num)) else {
                                break;
                            };
                            ranges.push((c, last as u32, x));
                            i += 3;
                        }
                        Err(_) => break,
                    }
                }
            }
            // Sorted for a binary search per glyph (a hostile /W may hold many ranges).
            ranges.sort_unstable_by_key(|r| r.0);
            return Some(Widths {
                two_byte: true,
                first: 0,
                widths: Vec::new(),
                ranges,
                missing,
            });
        }
        let widths: Vec<f32> = font
            .get_deref(b"Widths", doc)
            .and_then(Object::as_array)
            .ok()?
            .iter()
            .take(256)
            .map(|w| {
                doc.dereference(w)
                    .ok()
                    .and_then(|(_, o)| num(o))
                    .unwrap_or(0.0)
            })
            .collect();
        let first = font.get(b"FirstChar").ok().and_then(num).unwrap_or(0.0) as u32;
        let missing = font
            .get_deref(b"FontDescriptor", doc)
            .and_then(Object::as_dict)
            .ok()
            .and_then(|d| d.get(b"MissingWidth").ok().and_then(num))
            .unwrap_or(0.0);
        Some(Widths {
            two_byte: false,
            first,
            widths,
            ranges: Vec::new(),
            missing,
        })
    }

    fn width(&self, code: u32) -> f32 {
        if self.two_byte {
            let i = self.ranges.partition_point(|r| r.0 <= code);
            return match i.checked_sub(1).map(|i| self.ranges[i]) {
                Some((_, last, w)) if code <= last => w,
                _ => self.missing,
            };
        }
        code.checked_sub(self.first)
            .and_then(|i| self.widths.get(i as usize))
            .copied()
            .unwrap_or(self.missing)
    }

    /// How far a string moves the pen, in unscaled text space units.
    fn advance(&self, bytes: &[u8], st: &TextState) -> f32 {
        let mut x = 0.0;
        let step = if self.two_byte { 2 } else { 1 };
        for c in bytes.chunks(step) {
            let code = c.iter().fold(0u32, |a, b| a << 8 | u32::from(*b));
            let w = self.width(code) / 1000.0 * st.size + st.char_spacing;
            // Word spacing applies to the single-byte code 32.
            let w = if step == 1 && code == 32 {
                w + st.word_spacing
            } else {
                w
            };
            x += w * st.scale;
        }
        x
    }
}

/// The text state the gap test needs (PDF 32000 9.3).
#[derive(Debug, Clone)]
struct TextState {
    size: f32,
    char_spacing: f32,
    word_spacing: f32,
    /// Horizontal scaling, as a fraction.
    scale: f32,
    leading: f32,
    /// Text matrix and text line matrix: [a b c d e f].
    tm: [f32; 6],
    tlm: [f32; 6],
    /// Where the last glyphs shown ended (text matrix e, f), when their widths were known.
    pen: Option<(f32, f32)>,
}

const IDENTITY: [f32; 6] = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

impl Default for TextState {
    fn default() -> Self {
        TextState {
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            leading: 0.0,
            tm: IDENTITY,
            tlm: IDENTITY,
            pen: None,
        }
    }
}

impl TextState {
    fn translate(&mut self, tx: f32, ty: f32) {
        let m = self.tlm;
        self.tlm[4] = tx * m[0] + ty * m[2] + m[4];
        self.tlm[5] = tx * m[1] + ty * m[3] + m[5];
        self.tm = self.tlm;
    }

    /// Moves the pen along the line by `tx` unscaled text space units.
    fn advance(&mut self, tx: f32) {
        self.tm[4] += tx * self.tm[0];
        self.tm[5] += tx * self.tm[1];
    }

    /// Whether the glyphs about to be shown start past a word gap after the last ones, on
    /// the same line.
    fn word_gap(&self) -> bool {
        let Some((x, y)) = self.pen else {
            return false;
        };
        let scale = (self.tm[0] * self.tm[0] + self.tm[1] * self.tm[1])
            .sqrt()
            .max(1e-3);
        let em = self.size.abs() * scale;
        let (dx, dy) = (self.tm[4] - x, self.tm[5] - y);
        dy.abs() < em * 0.5 && (dx > em * WORD_GAP || dx < -em)
    }
}

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
        let mut font: Option<&(Encoding, Option<Widths>)> = None;
        // The font selected has an encoding that could not be read.
        let mut unreadable = false;
        // The baseline of the current text line (from Tm), to tell a new line from a move
        // along the same one.
        let mut line_y: Option<f32> = None;
        let mut st = TextState::default();
        for op in &content.operations {
            let num = |i: usize| op.operands.get(i).and_then(|o| o.as_float().ok());
            match op.operator.as_str() {
                "Tf" => {
                    let f = op
                        .operands
                        .first()
                        .and_then(|n| n.as_name().ok())
                        .and_then(|n| fonts.get(n));
                    font = f.and_then(Option::as_ref);
                    unreadable = matches!(f, Some(None));
                    st.size = num(1).unwrap_or(st.size);
                }
                "Tc" => st.char_spacing = num(0).unwrap_or(0.0),
                "Tw" => st.word_spacing = num(0).unwrap_or(0.0),
                "Tz" => st.scale = num(0).unwrap_or(100.0) / 100.0,
                "TL" => st.leading = num(0).unwrap_or(0.0),
                "Tj" | "TJ" | "'" | "\"" if unreadable => {
                    return Err(lopdf::Error::Syntax(
                        "text in a font whose encoding could not be read".into(),
                    ));
                }
                "Tj" | "TJ" | "'" | "\"" => {
                    let shown = match op.operator.as_str() {
                        "'" => 0,
                        "\"" => 2,
                        _ => 0,
                    };
                    if op.operator == "'" || op.operator == "\"" {
                        if op.operator == "\"" {
                            st.word_spacing = num(0).unwrap_or(st.word_spacing);
                            st.char_spacing = num(1).unwrap_or(st.char_spacing);
                        }
                        st.translate(0.0, -st.leading);
                        self.line_break();
                    } else if st.word_gap() && !self.out.ends_with(char::is_whitespace) {
                        self.out.push(' ');
                    }
                    let operands = op.operands.get(shown..).unwrap_or(&[]);
                    if let Some((e, widths)) = font {
                        collect(&mut self.out, e, operands);
                        match widths {
                            Some(w) => {
                                st.advance(shown_advance(w, operands, &st));
                                st.pen = Some((st.tm[4], st.tm[5]));
                            }
                            None => st.pen = None,
                        }
                    }
                }
                "Td" | "TD" => {
                    let (tx, ty) = (num(0).unwrap_or(0.0), num(1).unwrap_or(0.0));
                    if op.operator == "TD" {
                        st.leading = -ty;
                    }
                    st.translate(tx, ty);
                    if ty != 0.0 {
                        self.line_break();
                    }
                }
                "Tm" => {
                    if op.operands.len() == 6 {
                        for (i, v) in st.tm.iter_mut().enumerate() {
                            *v = num(i).unwrap_or(0.0);
                        }
                        st.tlm = st.tm;
                    }
                    let y = num(5);
                    if y.is_some() && line_y.is_some() && y != line_y {
                        self.line_break();
                    }
                    line_y = y;
                }
                "T*" => {
                    st.translate(0.0, -st.leading);
                    self.line_break();
                }
                "ET" => {
                    st.pen = None;
                    self.line_break();
                }
                "BT" => {
                    line_y = None;
                    st.tm = IDENTITY;
                    st.tlm = IDENTITY;
                    st.pen = None;
                }
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

/// How far `Tj`/`TJ` operands move the pen (unscaled text space units): the glyphs' widths
/// and a `TJ` array's adjustments.
fn shown_advance(widths: &Widths, operands: &[Object], st: &TextState) -> f32 {
    let mut x = 0.0;
    for operand in operands {
        match operand {
            Object::String(bytes, _) => x += widths.advance(bytes, st),
            Object::Array(items) => x += shown_advance(widths, items, st),
            Object::Integer(i) => x -= *i as f32 / 1000.0 * st.size * st.scale,
            Object::Real(r) => x -= *r / 1000.0 * st.size * st.scale,
            _ => {}
        }
    }
    x
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
        // F3: every glyph 500/1000 of the font size wide, as an embedded font's /Widths say.
        let fixed = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "TrueType", "BaseFont" => "Fixed",
            "Encoding" => "WinAnsiEncoding", "FirstChar" => 32, "LastChar" => 126,
            "Widths" => vec![Object::Integer(500); 95],
        });
        let mut fonts = dictionary! { "F1" => font, "F3" => fixed };
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
    fn words_placed_one_by_one_are_rebuilt_from_glyph_positions() {
        // F3 at 10 pt: each glyph 5 units wide. Words placed by their own Tm on one baseline,
        // then glyph by glyph with Td, with no space characters anywhere; a 3-unit gap (0.3
        // of the font size) between words, none inside them.
        let doc = pdf(
            "BT /F3 10 Tf 1 0 0 1 72 700 Tm (Grace) Tj 1 0 0 1 100 700 Tm (Wood) Tj \
             1 0 0 1 123 700 Tm (8B) Tj ET \
             BT /F3 10 Tf 72 600 Td (L) Tj 5 0 Td (e) Tj 5 0 Td (a) Tj 5 0 Td (h) Tj \
             8 0 Td (W) Tj 5 0 Td (a) Tj 5 0 Td (l) Tj 5 0 Td (k) Tj 5 0 Td (e) Tj 5 0 Td (r) Tj ET \
             BT /F3 10 Tf 2 Tc 72 500 Td (Rose) Tj 31 0 Td (Hill) Tj ET",
            &[],
        );
        assert_eq!(text(&doc), "Grace Wood 8B\nLeah Walker\nRose Hill\n");
        // Without the spacing rebuilt, the words run together (what we read before).
        let lopdf = doc.extract_text(&[1]).unwrap();
        assert!(lopdf.contains("GraceWood"), "{lopdf:?}");
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
