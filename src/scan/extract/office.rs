//! Office documents inside ZIP containers.
//!
//! - Office Open XML: docx (body, tables, headers, footers, comments, foot/endnotes, hidden
//!   text, pictures' alt text; with tracked changes, the text as it reads now and as it read
//!   before them, so a deletion never runs into the insertion beside it), pptx (slides, notes,
//!   alt text) with quick-xml; xlsx cells in [`super::sheets`],
//!   pivot caches in [`super::pivot`], external links' cached cells here; in all three,
//!   charts, drawings/text boxes, comments and embedded files (read as attachments of their
//!   own).
//! - OpenDocument: odt, ods, odp from content.xml (rows and cells kept) and the content of
//!   embedded objects (charts); an encrypted ODF
//!   (manifest `encryption-data`) is reported as protected.

use quick_xml::events::Event;

use super::archive::{Archive, read_member};
use super::sink::{Sink, member_location};
use super::sniff::{Format, sniff};
use crate::scan::segment::{Location, Segment};

/// Text and table rows of an XML document part.
pub struct XmlText {
    pub text: String,
    pub rows: Vec<Vec<String>>,
}

/// Element local names that structure a document.
pub struct Shape {
    pub paragraph: &'static [&'static str],
    pub row: &'static [&'static str],
    pub cell: &'static [&'static str],
    /// Elements whose text is not content (field codes, style names).
    pub skip: &'static [&'static str],
    /// Elements that are a line break or tab inside text.
    pub line_break: &'static [&'static str],
    pub tab: &'static [&'static str],
    /// Elements whose `descr` and `title` attributes are text (pictures' alt text).
    pub alt: &'static [&'static str],
}

/// A docx part as it reads now: tracked deletions and moved-away text left out.
pub const DOCX: Shape = Shape {
    paragraph: &["p"],
    row: &["tr"],
    cell: &["tc"],
    skip: &["instrText", "rPr", "pPr", "del", "moveFrom"],
    line_break: &["br", "cr"],
    tab: &["tab"],
    alt: &["docPr"],
};

/// A docx part as it read before its tracked changes: deletions and moved-away text in
/// place, insertions left out (Word's "Original" view: what "Reject all" brings back).
pub const DOCX_ORIGINAL: Shape = Shape {
    skip: &["instrText", "rPr", "pPr", "ins", "moveTo"],
    ..DOCX
};

pub const PPTX: Shape = Shape {
    paragraph: &["p"],
    row: &["tr"],
    cell: &["tc"],
    skip: &["rPr", "pPr"],
    line_break: &["br"],
    tab: &[],
    alt: &["cNvPr"],
};

/// DrawingML and SpreadsheetML side parts (charts, text boxes, comments): paragraphs and
/// values as lines.
pub const DRAWING: Shape = Shape {
    paragraph: &["p", "pt", "v", "comment", "threadedComment"],
    row: &[],
    cell: &[],
    skip: &["rPr", "pPr", "formatCode", "f"],
    line_break: &["br"],
    tab: &[],
    alt: &["cNvPr", "docPr"],
};

/// An xlsx external link's cache: the cells of another workbook that formulas here refer to
/// (`<row><cell><v>…</v></cell></row>`), kept after the source is gone or the formulas are
/// deleted, until the link is broken.
pub const EXTERNAL_LINK: Shape = Shape {
    paragraph: &[],
    row: &["row"],
    cell: &["cell"],
    skip: &[],
    line_break: &[],
    tab: &[],
    alt: &[],
};

pub const ODF: Shape = Shape {
    paragraph: &["p", "h"],
    row: &["table-row"],
    cell: &["table-cell"],
    // Tracked changes' deleted text (`text:tracked-changes/…/text:deletion`) is read, as
    // its own paragraphs: the recipient can show it (who changed it and when is not).
    skip: &["annotation-end", "change-info"],
    line_break: &["line-break"],
    tab: &["tab", "s"],
    alt: &[],
};

/// Reads the text of an XML part: paragraphs become lines; table rows become lines with
/// cells separated by tabs, and are also returned as rows for the same-row name rule.
pub fn xml_text(xml: &str, shape: &Shape) -> Result<XmlText, String> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut text = String::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row: Option<Vec<String>> = None;
    let mut cell: Option<String> = None;
    let mut skip = 0usize;
    let mut depth_guard = 0usize;
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match ev {
            Event::Start(e) => {
                depth_guard += 1;
                if depth_guard > 10_000 {
                    return Err("XML nested too deep".into());
                }
                let n = e.local_name();
                let n = n.as_ref();
                if shape.alt.contains(&n) && skip == 0 {
                    alt_text(&e, cell.as_mut().unwrap_or(&mut text));
                }
                if shape.skip.contains(&n) {
                    skip += 1;
                } else if shape.row.contains(&n) {
                    row = Some(Vec::new());
                } else if shape.cell.contains(&n) {
                    cell = Some(String::new());
                }
            }
            Event::Empty(e) => {
                let n = e.local_name();
                let n = n.as_ref();
                if shape.alt.contains(&n) && skip == 0 {
                    alt_text(&e, cell.as_mut().unwrap_or(&mut text));
                }
                let s = if shape.line_break.contains(&n) {
                    "\n"
                } else if shape.tab.contains(&n) {
                    "\t"
                } else {
                    ""
                };
                if !s.is_empty() {
                    match &mut cell {
                        Some(c) => c.push(' '),
                        None => text.push_str(s),
                    }
                }
                if shape.cell.contains(&n)
                    && let Some(r) = &mut row
                {
                    r.push(String::new());
                }
            }
            Event::End(e) => {
                depth_guard = depth_guard.saturating_sub(1);
                let n = e.local_name();
                let n = n.as_ref();
                if shape.skip.contains(&n) {
                    skip = skip.saturating_sub(1);
                } else if shape.paragraph.contains(&n) {
                    match &mut cell {
                        Some(c) => c.push(' '),
                        None => text.push('\n'),
                    }
                } else if shape.cell.contains(&n) {
                    if let Some(c) = cell.take() {
                        let c = c.trim().to_string();
                        text.push_str(&c);
                        text.push('\t');
                        if let Some(r) = &mut row {
                            r.push(c);
                        }
                    }
                } else if shape.row.contains(&n) {
                    text.push('\n');
                    if let Some(r) = row.take() {
                        rows.push(r);
                    }
                }
            }
            Event::Text(t) if skip == 0 => {
                let s = t.xml_content(quick_xml::XmlVersion::Implicit1_0);
                match &mut cell {
                    Some(c) => c.push_str(&s),
                    None => text.push_str(&s),
                }
            }
            Event::GeneralRef(g) if skip == 0 => {
                let name = g.clone().into_inner();
                let s = if let Ok(Some(c)) = g.resolve_char_ref() {
                    c.to_string()
                } else {
                    quick_xml::escape::resolve_predefined_entity(&name)
                        .unwrap_or("")
                        .to_string()
                };
                match &mut cell {
                    Some(c) => c.push_str(&s),
                    None => text.push_str(&s),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(XmlText { text, rows })
}

/// A picture's alt text (`descr`, `title`), each on a line of its own.
fn alt_text(e: &quick_xml::events::BytesStart, out: &mut String) {
    for a in e.attributes().flatten() {
        if matches!(a.key.local_name().into_inner(), "descr" | "title")
            && let Ok(v) = a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
            && !v.trim().is_empty()
        {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(v.trim());
            out.push('\n');
        }
    }
}

fn member_index(names: &[String], name: &str) -> Option<usize> {
    names.iter().position(|n| n == name)
}

fn push_xml(location: &Location, xml: &[u8], shape: &Shape, sink: &mut Sink) {
    match xml_text(&String::from_utf8_lossy(xml), shape) {
        Ok(t) => {
            if !t.rows.is_empty() {
                sink.push(Segment::table(location.clone(), t.rows));
            }
            sink.push(Segment::text(location.clone(), t.text));
        }
        Err(why) => sink.not_read(location.clone(), why),
    }
}

/// Parts an OOXML file may hold besides its main text, with their shape: charts (their
/// cached category and series values), drawings and text boxes, cell comments and threaded
/// comments, and an xlsx's external links' cached cells.
fn side_part(n: &str) -> Option<&'static Shape> {
    if !n.ends_with(".xml") {
        return None;
    }
    if n.starts_with("xl/externalLinks/externalLink") {
        return Some(&EXTERNAL_LINK);
    }
    [
        "/charts/chart",
        "/drawings/drawing",
        "/comments",
        "/threadedComments/",
    ]
    .iter()
    .any(|p| n.contains(p))
    .then_some(&DRAWING)
}

/// Files embedded in a document (a spreadsheet pasted as an object into Word or
/// PowerPoint, a chart's workbook, an altChunk of HTML or RTF): read as attachments of their
/// own.
fn embedded(
    location: &Location,
    archive: &mut Archive,
    names: &[String],
    depth: usize,
    sink: &mut Sink,
) {
    let limits = sink.budget.limits().clone();
    // altChunk parts: HTML, RTF or text a generator pasted in whole (not in document.xml).
    let alt_chunk = |n: &str| {
        let lower = n.to_ascii_lowercase();
        [".htm", ".html", ".mht", ".rtf", ".txt", ".csv"]
            .iter()
            .any(|e| lower.ends_with(e))
    };
    // Pictures (a screenshot pasted into Word or a slide, a scan in a spreadsheet): read by
    // OCR when they are pictures it reads; vector pictures (EMF, WMF, SVG) are not read.
    let picture = |n: &str| n.contains("/media/") || n.starts_with("Pictures/");
    for (i, n) in names.iter().enumerate() {
        if !(n.contains("/embeddings/") || alt_chunk(n) || picture(n)) || n.ends_with('/') {
            continue;
        }
        let member = member_location(location, n);
        if depth + 1 > limits.max_depth {
            sink.not_read(member, "embedded files nested too deep".into());
            continue;
        }
        match read_member(archive, i, sink) {
            Ok(data) if picture(n) && !matches!(sniff(&data), Format::Image(_)) => {
                sink.listed(member, "vector picture (EMF, WMF or SVG): not read".into())
            }
            Ok(data) => sink.open_file(&member, &data, depth + 1),
            Err(why) => sink.not_read(member, why),
        }
    }
}

/// A docx, xlsx or pptx, with its charts, comments and embedded files.
pub fn ooxml(
    location: &Location,
    archive: &mut Archive,
    names: &[String],
    depth: usize,
    sink: &mut Sink,
) {
    let side: Vec<(usize, &Shape)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((i, side_part(n)?)))
        .collect();
    for (i, shape) in side {
        match read_member(archive, i, sink) {
            Ok(xml) => push_xml(location, &xml, shape, sink),
            Err(why) => sink.not_read(location.clone(), format!("{}: {why}", names[i])),
        }
    }
    embedded(location, archive, names, depth, sink);
    if names.iter().any(|n| n.starts_with("xl/")) {
        super::pivot::caches(location, archive, names, sink);
        return super::sheets::xlsx(location, archive, names, sink);
    }
    let (shape, parts): (&Shape, Vec<usize>) = if names.iter().any(|n| n.starts_with("ppt/")) {
        let mut parts: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                (n.starts_with("ppt/slides/slide") || n.starts_with("ppt/notesSlides/notesSlide"))
                    && n.ends_with(".xml")
            })
            .map(|(i, _)| i)
            .collect();
        parts.sort_by_key(|i| natural_key(&names[*i]));
        (&PPTX, parts)
    } else {
        let parts = names
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                n.starts_with("word/")
                    && n.ends_with(".xml")
                    && ["document", "header", "footer", "footnotes", "endnotes"]
                        .iter()
                        .any(|p| n[5..].starts_with(p))
            })
            .map(|(i, _)| i)
            .collect();
        (&DOCX, parts)
    };
    if parts.is_empty() {
        sink.not_read(
            location.clone(),
            "Office document with no readable text parts".into(),
        );
        return;
    }
    for i in parts {
        match read_member(archive, i, sink) {
            Ok(xml) => {
                push_xml(location, &xml, shape, sink);
                // Tracked changes: the text before them too (a name deleted to "anonymise"
                // a document is still in it, shown to anyone who turns the markup on).
                let tracked = |tag: &[u8]| memchr::memmem::find(&xml, tag).is_some();
                if std::ptr::eq(shape, &DOCX) && (tracked(b"<w:del ") || tracked(b"<w:moveFrom ")) {
                    push_xml(location, &xml, &DOCX_ORIGINAL, sink);
                }
            }
            Err(why) => sink.not_read(location.clone(), format!("{}: {why}", names[i])),
        }
    }
}

fn natural_key(name: &str) -> (String, u64) {
    let digits: String = name.chars().filter(char::is_ascii_digit).collect();
    (
        name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c.is_ascii_alphabetic())
            .to_string(),
        digits.parse().unwrap_or(0),
    )
}

/// An odt, ods or odp.
pub fn odf(
    location: &Location,
    archive: &mut Archive,
    names: &[String],
    depth: usize,
    sink: &mut Sink,
) {
    if let Some(m) = member_index(names, "META-INF/manifest.xml")
        && let Ok(manifest) = read_member(archive, m, sink)
        && String::from_utf8_lossy(&manifest).contains("encryption-data")
    {
        sink.encrypted
            .push((location.clone(), "OpenDocument password encryption".into()));
        return;
    }
    let Some(c) = member_index(names, "content.xml") else {
        sink.not_read(
            location.clone(),
            "OpenDocument file without content.xml".into(),
        );
        return;
    };
    match read_member(archive, c, sink) {
        Ok(xml) => push_xml(location, &xml, &ODF, sink),
        Err(why) => sink.not_read(location.clone(), format!("content.xml: {why}")),
    }
    if let Some(s) = member_index(names, "styles.xml")
        && let Ok(xml) = read_member(archive, s, sink)
    {
        push_xml(location, &xml, &ODF, sink);
    }
    embedded(location, archive, names, depth, sink);
    // Embedded objects (charts, formulas, sub-documents): "Object 1/content.xml".
    for (i, n) in names.iter().enumerate() {
        if n.ends_with("/content.xml") && n != "content.xml" {
            match read_member(archive, i, sink) {
                Ok(xml) => push_xml(location, &xml, &ODF, sink),
                Err(why) => sink.not_read(location.clone(), format!("{n}: {why}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docx_paragraphs_and_table_rows() {
        let xml = r#"<w:document xmlns:w="w"><w:body>
            <w:p><w:r><w:t>Dear </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>Olivia</w:t></w:r><w:r><w:t xml:space="preserve"> Smith</w:t></w:r></w:p>
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>Smith</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Olivia</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
            <w:p><w:r><w:instrText>HYPERLINK x</w:instrText></w:r><w:r><w:t>A&amp;B</w:t></w:r></w:p>
            </w:body></w:document>"#;
        let t = xml_text(xml, &DOCX).unwrap();
        assert!(t.text.contains("Dear Olivia Smith\n"), "{:?}", t.text);
        assert_eq!(
            t.rows,
            vec![vec!["Smith".to_string(), "Olivia".to_string()]]
        );
        assert!(t.text.contains("A&B") && !t.text.contains("HYPERLINK"));
    }

    #[test]
    fn tracked_changes_hidden_text_and_alt_text() {
        // "Anonymised" with Track Changes on: the name deleted, "Pupil A" inserted beside it.
        let xml = r#"<w:document xmlns:w="w" xmlns:wp="wp"><w:body>
            <w:p><w:r><w:t xml:space="preserve">Incident involving </w:t></w:r><w:del w:id="1" w:author="x"><w:r><w:delText>Grace Wood</w:delText></w:r></w:del><w:ins w:id="2" w:author="x"><w:r><w:t>Pupil A</w:t></w:r></w:ins><w:r><w:t xml:space="preserve"> in 8B.</w:t></w:r></w:p>
            <w:p><w:moveFrom w:id="3"><w:r><w:t>Leah Walker</w:t></w:r></w:moveFrom><w:r><w:rPr><w:vanish/></w:rPr><w:t>Olivia Smith</w:t></w:r></w:p>
            <w:p><w:r><w:drawing><wp:inline><wp:docPr id="1" name="Picture 1" descr="Photo of Rose Hill at sports day"/></wp:inline></w:drawing></w:r></w:p>
            </w:body></w:document>"#;
        let now = xml_text(xml, &DOCX).unwrap().text;
        assert!(now.contains("Incident involving Pupil A in 8B."), "{now:?}");
        assert!(
            !now.contains("Grace Wood") && !now.contains("Leah Walker"),
            "{now:?}"
        );
        assert!(now.contains("Olivia Smith"), "hidden text is read: {now:?}");
        assert!(now.contains("Photo of Rose Hill at sports day"), "{now:?}");
        let before = xml_text(xml, &DOCX_ORIGINAL).unwrap().text;
        assert!(
            before.contains("Incident involving Grace Wood in 8B."),
            "{before:?}"
        );
        assert!(before.contains("Leah Walker"), "{before:?}");
    }

    #[test]
    fn odf_tracked_deletions_are_read() {
        let xml = r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:dc="d"><office:body><office:text>
            <text:tracked-changes><text:changed-region text:id="ct1"><text:deletion><office:change-info><dc:creator>Luke Rich</dc:creator></office:change-info><text:p>Grace Wood</text:p></text:deletion></text:changed-region></text:tracked-changes>
            <text:p>Incident involving <text:change text:change-id="ct1"/>a Year 8 pupil.</text:p>
            </office:text></office:body></office:document-content>"#;
        let t = xml_text(xml, &ODF).unwrap().text;
        assert!(t.contains("Grace Wood\n"), "{t:?}");
        assert!(t.contains("Incident involving a Year 8 pupil."), "{t:?}");
        assert!(!t.contains("Luke Rich"), "{t:?}");
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(xml_text("<w:p><w:t>x</w:p>", &DOCX).is_err());
    }
}
