//! PDF (lopdf): the text of every page (FlateDecode and the other filters lopdf decodes,
//! ToUnicode maps, object streams, incremental updates; read by [`super::pdf_text`], which
//! keeps words apart and reads form XObjects), the values of filled-in form fields
//! and the text of comments (a spreadsheet saved as PDF has no rows: neighbouring short lines
//! stand in for them, see [`cell_rows`]), and the protection judged from the
//! `/Encrypt` dictionary: a PDF that needs a user password is encrypted; one with only an
//! owner (permissions) password opens without one, so it is read like any other. A page with
//! no text layer (a copier's scan) is rendered and read by OCR; a page with one keeps it.

use lopdf::{Document, LoadOptions, Object, ObjectId};

use super::sink::{Locked, Sink};
use crate::scan::segment::{Location, Segment};

pub fn extract(location: &Location, bytes: &[u8], sink: &mut Sink) {
    let limits = sink.budget.limits().clone();
    let options = LoadOptions {
        max_decompressed_size: Some(limits.max_member_bytes),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(d) => d,
        Err(e) => {
            sink.not_read(location.clone(), format!("damaged PDF: {e}"));
            return;
        }
    };
    if doc.is_encrypted() && doc.authenticate_password("").is_err() {
        sink.encrypted
            .push((location.clone(), "PDF user password".into()));
        sink.lock(Locked::Pdf {
            location: location.clone(),
            bytes: bytes.to_vec(),
        });
        return;
    }
    if doc.objects.len() > limits.max_pdf_objects {
        sink.not_read(
            location.clone(),
            format!(
                "PDF with {} objects: more than the {} read",
                doc.objects.len(),
                limits.max_pdf_objects
            ),
        );
        return;
    }
    // Filled-in form fields and comments are not page text, and are often the personal
    // part of the file (a referral form's "Child's name").
    let fields = form_and_comment_text(&doc);
    if !fields.is_empty() {
        sink.push_text(location.clone(), fields);
    }
    let pages: Vec<(u32, ObjectId)> = doc.get_pages().into_iter().collect();
    if pages.is_empty() {
        sink.not_read(location.clone(), "PDF without a readable page tree".into());
        return;
    }
    for (n, page) in pages {
        if let Some(why) = sink.budget.exhausted() {
            sink.not_read(location.clone(), why);
            return;
        }
        match super::pdf_text::page_text(&doc, page, limits.max_member_bytes) {
            Ok(t) if t.trim().is_empty() => {
                // No text layer: a scanned page, or a picture printed to PDF. Read it by OCR.
                page_by_ocr(location, bytes, n, media_box(&doc, page), sink);
            }
            Ok(t) => {
                let rows = cell_rows(&t);
                if !rows.is_empty() {
                    sink.push(Segment::table(location.clone(), rows));
                }
                sink.push(Segment::text(location.clone(), t));
            }
            Err(e) => sink.not_read(location.clone(), format!("PDF page {n}: {e}")),
        }
    }
}

/// A page without a text layer, rendered and read by OCR, at `NAME page N (image text)`.
fn page_by_ocr(location: &Location, bytes: &[u8], n: u32, size: (f32, f32), sink: &mut Sink) {
    let settings = sink.budget.limits().ocr.clone();
    let deadline = sink.budget.ocr_deadline();
    let at = super::image::image_text(location, &format!(" page {n} (image text)"));
    match crate::scan::ocr::pdf_page(bytes, n, size, &settings, deadline) {
        Ok(text) => sink.push_text(at, text),
        Err(crate::scan::ocr::NoText::TooSmall(why) | crate::scan::ocr::NoText::NotRead(why)) => {
            sink.not_read(at, why)
        }
    }
}

/// A page's size in points, from its own or an inherited `/MediaBox` (A4 when none).
fn media_box(doc: &Document, page: ObjectId) -> (f32, f32) {
    let mut id = page;
    for _ in 0..32 {
        let Ok(dict) = doc.get_dictionary(id) else {
            break;
        };
        if let Ok(Object::Array(b)) = dict.get_deref(b"MediaBox", doc)
            && b.len() == 4
        {
            let v: Vec<f32> = b
                .iter()
                .map(|o| {
                    o.as_float()
                        .or_else(|_| o.as_i64().map(|i| i as f32))
                        .unwrap_or(0.0)
                })
                .collect();
            return ((v[2] - v[0]).abs(), (v[3] - v[1]).abs());
        }
        match dict.get(b"Parent").and_then(Object::as_reference) {
            Ok(parent) => id = parent,
            Err(_) => break,
        }
    }
    (595.0, 842.0)
}

/// Lines of at most this many words count as table cells.
const CELL_WORDS: usize = 4;
/// Cells taken together as one row, and how far the next row starts.
const ROW_CELLS: usize = 8;
const ROW_STEP: usize = 4;

/// A PDF has no rows: a spreadsheet saved as PDF reads as one short line per cell
/// ("Walker\n8\nLeah\n25/11/2010\n…"). Runs of such short lines are cut into overlapping
/// groups of [`ROW_CELLS`] consecutive cells, so the same-row rule finds a pupil whose surname
/// and forename stand in neighbouring cells. Prose lines break the runs.
fn cell_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let mut flush = |run: &mut Vec<&str>| {
        if run.len() >= 2 {
            let mut i = 0;
            loop {
                let end = (i + ROW_CELLS).min(run.len());
                rows.push(run[i..end].iter().map(|c| c.to_string()).collect());
                if end == run.len() {
                    break;
                }
                i += ROW_STEP;
            }
        }
        run.clear();
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if line.split_whitespace().count() <= CELL_WORDS && line.len() <= 60 {
            run.push(line);
        } else {
            flush(&mut run);
        }
    }
    flush(&mut run);
    rows
}

/// At most this many form fields and annotations are read (a hostile file may hold more,
/// or loop).
const MAX_FIELDS: usize = 20_000;

/// The values of the AcroForm fields (with their names, one "name<TAB>value" line each) and
/// the text of page annotations (comments, sticky notes, widget values).
fn form_and_comment_text(doc: &Document) -> String {
    let mut out = String::new();
    let mut seen: std::collections::HashSet<ObjectId> = std::collections::HashSet::new();
    let mut todo: Vec<&Object> = Vec::new();
    if let Ok(cat) = doc.catalog()
        && let Ok(form) = cat.get_deref(b"AcroForm", doc)
        && let Ok(form) = form.as_dict()
        && let Ok(fields) = form.get_deref(b"Fields", doc)
        && let Ok(fields) = fields.as_array()
    {
        todo.extend(fields.iter());
    }
    for (_, page) in doc.get_pages() {
        if let Ok(page) = doc.get_dictionary(page)
            && let Ok(annots) = page.get_deref(b"Annots", doc)
            && let Ok(annots) = annots.as_array()
        {
            todo.extend(annots.iter());
        }
    }
    let mut count = 0;
    while let Some(obj) = todo.pop() {
        count += 1;
        if count > MAX_FIELDS {
            break;
        }
        let Ok((id, obj)) = doc.dereference(obj) else {
            continue;
        };
        if let Some(id) = id
            && !seen.insert(id)
        {
            continue;
        }
        let Ok(d) = obj.as_dict() else { continue };
        let text = |key: &[u8]| {
            d.get_deref(key, doc)
                .ok()
                .and_then(|v| lopdf::decode_text_string(v).ok())
                .filter(|t| !t.trim().is_empty())
        };
        let value = text(b"V").or_else(|| text(b"Contents"));
        if let Some(v) = value {
            if let Some(name) = text(b"TU").or_else(|| text(b"T")) {
                out.push_str(&name);
                out.push('\t');
            }
            out.push_str(&v);
            out.push('\n');
        }
        if let Ok(kids) = d.get_deref(b"Kids", doc)
            && let Ok(kids) = kids.as_array()
        {
            todo.extend(kids.iter());
        }
    }
    out
}

/// Which of `passwords` (if any) is the PDF's user password; the file is parsed once.
pub fn password_opens(bytes: &[u8], passwords: &[&str]) -> Option<usize> {
    let doc = Document::load_mem(bytes).ok()?;
    if !doc.is_encrypted() {
        return None;
    }
    passwords
        .iter()
        .position(|p| doc.authenticate_password(p).is_ok())
}
