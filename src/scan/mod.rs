//! The scanner: the bytes of a message and its envelope in, a [`Report`] out.
//!
//! Pure and synchronous: no I/O, no async, no knowledge of SMTP. Every front end (relay,
//! milter, `hallpass scan`) calls [`Scanner::scan`]. The MIME walk (`mime`) turns the message
//! into text [`Segment`]s with their location; attachment extractors (`extract`) turn
//! attachment bytes into segments; the detectors (`detectors`) find pupil data in segments.
//! What could not be read is listed in `not_scanned`, never silently passed as clean.

pub mod detectors;
pub mod extract;
pub mod html;
pub mod mime;
pub mod ocr;
mod report;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use report::{Finding, FindingKind, NotScanned, Report, kind_names};

use crate::directory::Directory;
use crate::settings::Site;
use detectors::Detectors;

/// Where a piece of text was found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    Subject,
    Body,
    /// An attachment, by its decoded name; nested paths joined with `/`.
    Attachment(String),
    /// The file name of an attachment (or of an archive member), which travels readable
    /// even when the file itself is encrypted: "Olivia Smith EHCP.pdf".
    AttachmentName(String),
    /// The message as a whole (bulk, envelope and contact rules).
    Message,
}

impl Location {
    pub fn is_attachment(&self) -> bool {
        matches!(self, Location::Attachment(_))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Subject => f.write_str("subject"),
            Location::Body => f.write_str("body"),
            Location::Attachment(n) => write!(f, "attachment:{n}"),
            Location::AttachmentName(n) => write!(f, "attachment-name:{n}"),
            Location::Message => f.write_str("message"),
        }
    }
}

/// Text to scan, with where it came from and its structure.
/// Its text borrows from the raw message where mail-parser could (a body that needed no
/// decoding is not copied); extracted text is owned.
#[derive(Debug, Clone)]
pub struct Segment<'m> {
    pub location: Location,
    pub text: Cow<'m, str>,
    /// For sheets and delimited files: the rows and cells. `text` then holds the rows, one per
    /// line, cells separated by tabs, so text detectors see them too.
    pub rows: Option<Table>,
}

/// A table's rows and cells, as spans of its segment's text (built by [`TableText`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Each cell's (start, end) in the text, row after row.
    cells: Vec<(usize, usize)>,
    /// Each row's first cell in `cells` and where the row begins in the text.
    rows: Vec<(usize, usize)>,
}

impl Table {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The cells of row `i` as spans of the text.
    pub fn row(&self, i: usize) -> &[(usize, usize)] {
        let end = self.rows.get(i + 1).map_or(self.cells.len(), |r| r.0);
        &self.cells[self.rows[i].0..end]
    }

    /// Where row `i` begins in the text.
    pub fn row_start(&self, i: usize) -> usize {
        self.rows[i].1
    }

    /// The row holding text position `pos`.
    pub fn row_at(&self, pos: usize) -> usize {
        self.rows.partition_point(|r| r.1 <= pos).saturating_sub(1)
    }

    /// [`Self::row_at`], trying row `hint` and the one after it first (positions looked up
    /// in order are mostly in the same row or the next).
    pub fn row_at_hint(&self, pos: usize, hint: usize) -> usize {
        let holds = |i: usize| {
            self.rows.get(i).is_some_and(|r| r.1 <= pos)
                && self.rows.get(i + 1).is_none_or(|r| r.1 > pos)
        };
        if holds(hint) {
            hint
        } else if holds(hint + 1) {
            hint + 1
        } else {
            self.row_at(pos)
        }
    }

    /// The same table over a text whose offsets moved (`map` takes an old offset to its new).
    pub fn map_offsets(&self, map: impl Fn(usize) -> usize) -> Table {
        Table {
            cells: self.cells.iter().map(|&(s, e)| (map(s), map(e))).collect(),
            rows: self
                .rows
                .iter()
                .map(|&(c, start)| (c, map(start)))
                .collect(),
        }
    }

    /// The rows as strings (for tests and comparisons).
    pub fn to_rows(&self, text: &str) -> Vec<Vec<String>> {
        (0..self.len())
            .map(|i| {
                self.row(i)
                    .iter()
                    .map(|&(s, e)| text[s..e].to_string())
                    .collect()
            })
            .collect()
    }
}

/// Writes a table's text (cells separated by tabs, rows ended by line feeds) and its
/// [`Table`] together, with no string per cell.
#[derive(Debug, Default)]
pub struct TableText {
    text: String,
    table: Table,
    /// The current row has been begun.
    in_row: bool,
}

impl TableText {
    pub fn cell(&mut self, cell: &str) {
        if self.in_row {
            self.text.push('\t');
        } else {
            self.table
                .rows
                .push((self.table.cells.len(), self.text.len()));
            self.in_row = true;
        }
        let start = self.text.len();
        self.text.push_str(cell);
        self.table.cells.push((start, self.text.len()));
    }

    /// Ends the current row (a row with no cell is an empty line).
    pub fn end_row(&mut self) {
        if !self.in_row {
            self.table
                .rows
                .push((self.table.cells.len(), self.text.len()));
        }
        self.text.push('\n');
        self.in_row = false;
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Bytes of text written so far.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    pub fn into_segment<'m>(mut self, location: Location) -> Segment<'m> {
        if self.in_row {
            self.end_row();
        }
        Segment {
            location,
            text: self.text.into(),
            rows: Some(self.table),
        }
    }
}

impl<'m> Segment<'m> {
    pub fn text(location: Location, text: impl Into<Cow<'m, str>>) -> Segment<'m> {
        Segment {
            location,
            text: text.into(),
            rows: None,
        }
    }

    /// Free text, plus the table hidden in it: the lines holding a tab (a range pasted from a
    /// spreadsheet, an HTML table read as text, a tab-separated export) as rows, so the
    /// same-row name rule sees "Clark<TAB>Tom" as a pupil. One segment, or two.
    pub fn text_and_tab_rows(location: Location, text: Cow<'m, str>) -> Vec<Segment<'m>> {
        if memchr::memchr(b'\t', text.as_bytes()).is_none() {
            return vec![Segment::text(location, text)];
        }
        let mut table = TableText::default();
        for l in text.lines().filter(|l| l.contains('\t')) {
            let mut cells = l.split('\t').map(str::trim).filter(|c| !c.is_empty());
            let (Some(a), Some(b)) = (cells.next(), cells.next()) else {
                continue;
            };
            for c in [a, b].into_iter().chain(cells) {
                table.cell(c);
            }
            table.end_row();
        }
        let mut out = Vec::with_capacity(2);
        if !table.is_empty() {
            out.push(table.into_segment(location.clone()));
        }
        out.push(Segment::text(location, text));
        out
    }

    pub fn table(location: Location, rows: Vec<Vec<String>>) -> Segment<'m> {
        let mut table = TableText::default();
        for r in &rows {
            for c in r {
                table.cell(c);
            }
            table.end_row();
        }
        table.into_segment(location)
    }
}

/// The envelope of a message: the SMTP sender and recipients, plus the header sender's
/// display name (for "a name that is the sender's own").
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
}

/// Limits on what one message may cost to scan. What goes past a limit is not read, and is
/// listed in `not_scanned` (the fail mode then decides); it is never reported as clean.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Total text extracted from one message.
    pub max_text_bytes: usize,
    /// MIME parts read in one message.
    pub max_parts: usize,
    /// message/rfc822 and archive nesting.
    pub max_depth: usize,
    /// Wall-clock budget for one message.
    pub time_budget: Duration,
    /// Bytes unpacked from archives and documents in one message.
    pub max_unpacked_bytes: usize,
    /// Bytes unpacked from one archive member or PDF stream.
    pub max_member_bytes: usize,
    /// Unpacked : packed ratio of one member above which it is a bomb.
    pub max_ratio: u64,
    /// Members read from one archive.
    pub max_members: usize,
    /// Objects in one PDF.
    pub max_pdf_objects: usize,
    /// Reading text in pictures (`[scan]`).
    pub ocr: ocr::Settings,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_bytes: 64 << 20,
            max_parts: 1000,
            max_depth: 8,
            time_budget: Duration::from_secs(20),
            max_unpacked_bytes: 256 << 20,
            max_member_bytes: 64 << 20,
            max_ratio: 200,
            max_members: 1000,
            max_pdf_objects: 200_000,
            ocr: ocr::Settings::default(),
        }
    }
}

/// Everything a scan needs, built once and shared by every message (and thread).
pub struct Scanner {
    /// The trust and its schools.
    pub site: Arc<Site>,
    pub directory: Arc<Directory>,
    pub classifier: crate::classes::Classifier,
    pub detectors: Detectors,
    pub limits: Limits,
}

/// Running budget of one scan.
pub struct Budget {
    started: Instant,
    limits: Limits,
    pub text_bytes: usize,
    pub parts: usize,
    pub unpacked_bytes: usize,
}

impl Budget {
    pub fn new(limits: &Limits) -> Budget {
        Budget {
            started: Instant::now(),
            limits: limits.clone(),
            text_bytes: 0,
            parts: 0,
            unpacked_bytes: 0,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// When this message's OCR must stop: its OCR time budget, within the scan's own.
    pub fn ocr_deadline(&self) -> Instant {
        self.started + self.limits.ocr.time_budget.min(self.limits.time_budget)
    }

    /// Why the budget is spent, if it is.
    pub fn exhausted(&self) -> Option<String> {
        if self.started.elapsed() > self.limits.time_budget {
            return Some(format!(
                "scan time budget of {} s used up",
                self.limits.time_budget.as_secs_f32()
            ));
        }
        if self.text_bytes > self.limits.max_text_bytes {
            return Some(format!(
                "more than {} MB of text in one message",
                self.limits.max_text_bytes >> 20
            ));
        }
        if self.unpacked_bytes > self.limits.max_unpacked_bytes {
            return Some(format!(
                "more than {} MB unpacked from attachments",
                self.limits.max_unpacked_bytes >> 20
            ));
        }
        if self.parts > self.limits.max_parts {
            return Some(format!(
                "more than {} parts in one message",
                self.limits.max_parts
            ));
        }
        None
    }
}

impl Scanner {
    /// A scanner for the site's schools, with `[scan]` and the loaded directory.
    pub fn new(
        site: Arc<Site>,
        scan: &ocr::ScanConfig,
        directory: Arc<Directory>,
    ) -> Result<Scanner, crate::settings::ConfigError> {
        let classifier = crate::classes::Classifier::new(&site, directory.clone())?;
        let detectors = Detectors::build(&site, &directory);
        let ocr = scan.settings();
        Ok(Scanner {
            site,
            directory,
            classifier,
            detectors,
            limits: Limits {
                ocr,
                ..Limits::default()
            },
        })
    }

    /// Byte ranges in `text` a reviewer should see highlighted: pupil full names,
    /// identifiers and special-category terms (sorted, not overlapping).
    pub fn highlights(&self, text: &str) -> Vec<(usize, usize)> {
        let d = &self.detectors;
        let mut spans: Vec<(usize, usize)> = d
            .names
            .find(
                &self.directory,
                text,
                &detectors::names::OwnNames::default(),
            )
            .into_iter()
            .map(|m| (m.start, m.end))
            .collect();
        let windows = detectors::id_windows(text);
        spans.extend(
            d.ids
                .find(text, None, &windows)
                .into_iter()
                .map(|m| (m.start, m.end)),
        );
        spans.extend(d.keywords.find(text).into_iter().map(|(s, e, _)| (s, e)));
        spans.sort_unstable();
        let mut out: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (s, e) in spans {
            match out.last_mut() {
                Some(last) if s < last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        out
    }

    /// Scans one message. `now` is used when the Date header is missing or absurd.
    pub fn scan(
        &self,
        message: &[u8],
        envelope: &Envelope,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Report {
        let mut budget = Budget::new(&self.limits);
        let walked = mime::walk(message, &mut budget);
        let mut report = Report::default();
        for n in &walked.not_scanned {
            report.add_not_scanned(n.clone());
        }
        let ctx =
            detectors::MessageContext::new(self, envelope, &walked.headers, &walked.segments, now);
        for seg in &walked.segments {
            self.detectors
                .scan_segment(&self.directory, &ctx, seg, &mut report);
        }
        self.detectors
            .finish(&self.directory, &self.site, &ctx, &walked, &mut report);
        self.mask_locations(&mut report);
        report
    }

    /// Each pupil's full name in `text` with its masked form ("Leah Walker" → "L**** W****").
    pub fn name_masks(&self, text: &str) -> Vec<(String, String)> {
        let own = detectors::names::OwnNames::default();
        let names = &self.detectors.names;
        // Paths and file names: "Walker Leah EHCP.pdf" is masked too (masking more is safe).
        let mut found = names.find(&self.directory, text, &own);
        found.extend(names.in_file_name(&self.directory, text, &own));
        found
            .into_iter()
            .map(|m| {
                let name = text[m.start..m.end].to_string();
                let masked = crate::text::mask_name(&name);
                (name, masked)
            })
            .collect()
    }

    /// `text` with every pupil's full name in it masked, as locations are shown.
    pub fn mask_names(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, masked) in self.name_masks(text) {
            out = out.replace(&name, &masked);
        }
        out
    }

    /// Pupil names inside attachment names are masked wherever the report shows a location
    /// (findings, not_scanned), as evidence is: the report goes into logs, replies and notices.
    fn mask_locations(&self, report: &mut Report) {
        let mut masks: Vec<(String, String)> = Vec::new();
        for path in report.attachment_paths() {
            for (name, masked) in self.name_masks(&path) {
                if !masks.iter().any(|(n, _)| *n == name) {
                    masks.push((name, masked));
                }
            }
        }
        // Longest first, so a name inside a longer one is not masked half-way.
        masks.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
        report.location_masks = masks;
        let shown: Vec<String> = report
            .not_scanned
            .iter()
            .map(|n| report.mask_location(n.location.clone()))
            .collect();
        for (n, loc) in report.not_scanned.iter_mut().zip(shown) {
            n.location = loc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The row at a position is the same whatever row the lookup is hinted to start at.
        #[test]
        fn row_lookups_with_a_hint_agree(
            rows in proptest::collection::vec(proptest::collection::vec("[a-z]{0,3}", 0..4), 0..8),
            hint in 0usize..10,
        ) {
            let mut t = TableText::default();
            for r in &rows {
                for c in r {
                    t.cell(c);
                }
                t.end_row();
            }
            let seg = t.into_segment(Location::Body);
            let table = seg.rows.expect("a table");
            for pos in 0..=seg.text.len() {
                proptest::prop_assert_eq!(table.row_at_hint(pos, hint), table.row_at(pos));
            }
        }
    }
}
