//! Text as the scanner reads it: a [`Segment`] of text with its [`Location`] (subject, body,
//! attachment, attachment name) and, for tables, the cell and row structure ([`Table`],
//! built with [`TableText`]). A leaf of `scan`: every reader produces segments, every
//! detector reads them.

use std::borrow::Cow;

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
