//! The narrow SpreadsheetML reader: an xlsx's cells in the one plain form nearly every
//! workbook uses — `<row r=..><c r=.. s=.. t=..><v>..</v></c>…</row>` — read straight from
//! the bytes.
//!
//! Why it exists: calamine (the general reader) walks a sheet through quick-xml events, and
//! on the 1 MB class-list bench that alone took ~45 ms of the 50 ms a whole message may
//! take; quick-xml's event loop over the same 8.5 MB sheet is ~30 ms by itself. This reader
//! walks the same sheet in ~10–15 ms (building the table included).
//!
//! Why it is safe: it reads only what it fully understands and gives up (`None`) on
//! anything else — a comment, CDATA, a namespace prefix, an unknown element, an entity in a
//! value, an error or ISO-date cell, a part calamine would look up differently — and
//! then calamine reads the workbook as before. Where it does not give up, its cells are
//! calamine's (plus those of any further `sheetData` after the first, which calamine does not
//! read): the same shared strings (rich text, phonetic runs skipped, `_xHHHH_`
//! escapes), the same date styles (calamine's rules, copied below), the same row and column
//! counting; the test `same_cells_as_calamine` compares the two over generated and mutated
//! workbooks. The small parts (workbook, relationships, shared strings, styles) are read with
//! quick-xml, configured as calamine configures it.

use std::collections::HashMap;

use calamine::{Data, ExcelDateTime, ExcelDateTimeType};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;

/// How a cell's number is shown (calamine's `CellFormat`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellFormat {
    Other,
    DateTime,
    TimeDelta,
}

/// What the cells of a workbook are read with.
pub struct Book {
    pub sheet_names: Vec<String>,
    pub strings: Vec<String>,
    pub formats: Vec<CellFormat>,
    pub is_1904: bool,
}

/// A sheet's non-empty cells in stored order: their texts one after another in `text`, and
/// (row, column, start, end) of each; `more` when the sheet has more than were read (more
/// cells than allowed, or more text: one long shared string in many cells is a bomb too).
#[derive(Debug, Default, PartialEq)]
pub struct Cells {
    pub text: String,
    pub cells: Vec<(u32, u32, usize, usize)>,
    pub more: bool,
}

impl Cells {
    pub fn push(&mut self, row: u32, col: u32, text: &str) {
        let start = self.text.len();
        self.text.push_str(text);
        self.cells.push((row, col, start, self.text.len()));
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }
}

/// A quick-xml reader over a workbook part, configured as calamine configures it (lenient
/// end names, empty elements as start and end).
pub fn reader(xml: &[u8]) -> quick_xml::Reader<&[u8]> {
    let mut r = quick_xml::Reader::from_reader(xml);
    let c = r.config_mut();
    c.check_end_names = false;
    c.trim_text(false);
    c.check_comments = false;
    c.expand_empty_elements = true;
    r
}

/// An attribute's raw value by exact name (the first one), `Err` on a malformed list.
fn raw_attr(e: &BytesStart, name: &str) -> Result<Option<String>, ()> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|_| ())?;
        if a.key.as_ref() == name {
            return Ok(Some(a.value.into_owned()));
        }
    }
    Ok(None)
}

/// An attribute's value by exact name, entities resolved; `None` if absent or malformed.
pub fn attr(e: &BytesStart, name: &str) -> Option<String> {
    decoded_attr(&raw_attr(e, name).ok()??)
}

/// An attribute's value with XML entities resolved.
fn decoded_attr(v: &str) -> Option<String> {
    quick_xml::escape::unescape(v).ok().map(|c| c.into_owned())
}

/// `_rels/.rels`: the workbook part must be `xl/workbook.xml`.
pub fn package_points_at_xl_workbook(xml: &[u8]) -> Option<bool> {
    let mut r = reader(xml);
    let mut target = None;
    loop {
        match r.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "Relationship" => {
                let ty = raw_attr(&e, "Type").ok()?;
                if ty.is_some_and(|t| t.ends_with("/relationships/officeDocument")) {
                    target = raw_attr(&e, "Target").ok()?.and_then(|t| decoded_attr(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Some(matches!(
        target.as_deref(),
        Some("xl/workbook.xml" | "/xl/workbook.xml")
    ))
}

/// `xl/_rels/workbook.xml.rels`: relationship id → (target, type).
pub fn relationships(xml: &[u8]) -> Option<HashMap<String, (String, String)>> {
    let mut r = reader(xml);
    let mut out = HashMap::new();
    loop {
        match r.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "Relationship" => {
                let id = raw_attr(&e, "Id").ok()?;
                let target = raw_attr(&e, "Target").ok()?;
                let ty = raw_attr(&e, "Type").ok()?;
                if let (Some(id), Some(t), Some(ty)) = (id, target, ty) {
                    out.insert(id, (decoded_attr(&t)?, ty));
                }
            }
            Event::Eof => return Some(out),
            _ => {}
        }
    }
}

/// `xl/workbook.xml`: the sheets (name, member path) and the 1904 date system. `None` when a
/// sheet is not a worksheet or its part cannot be found as calamine would find it.
pub fn workbook(
    xml: &[u8],
    rels: &HashMap<String, (String, String)>,
) -> Option<(Vec<String>, Vec<String>, bool)> {
    let mut r = reader(xml);
    let (mut names, mut paths, mut is_1904) = (Vec::new(), Vec::new(), false);
    loop {
        match r.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "sheet" => {
                let (mut name, mut id) = (String::new(), None);
                for a in e.attributes().with_checks(false) {
                    let a = a.ok()?;
                    let key = a.key.as_ref();
                    if key == "name" {
                        name = decoded_attr(&a.value)?;
                    } else if key == "state" {
                        if !matches!(a.value.as_ref(), "visible" | "hidden" | "veryHidden") {
                            return None;
                        }
                    } else if key == "id" || key.ends_with(":id") {
                        id = Some(a.value.into_owned());
                    }
                }
                let (target, ty) = rels.get(&id?)?;
                if !ty.ends_with("/worksheet") {
                    return None;
                }
                let path = match target.strip_prefix('/') {
                    Some(abs) => abs.to_string(),
                    None => format!("xl/{target}"),
                };
                names.push(name);
                paths.push(path);
            }
            Event::Start(e) if e.local_name().as_ref() == "workbookPr" => {
                if let Some(v) = raw_attr(&e, "date1904").ok()? {
                    is_1904 = v == "1" || v == "true";
                }
            }
            Event::End(e) if e.local_name().as_ref() == "workbook" => break,
            Event::Eof => return None,
            _ => {}
        }
    }
    Some((names, paths, is_1904))
}

/// A string item (`<si>` of the shared strings, `<is>` of a cell) from after its start tag
/// to its end: plain or rich text, phonetic runs (`<rPh>`) left out, `_xHHHH_` escapes
/// resolved, surrounding whitespace trimmed unless `xml:space="preserve"`.
fn string_item(r: &mut quick_xml::Reader<&[u8]>, closing: QName) -> Option<String> {
    let mut rich: Option<String> = None;
    let mut phonetic = false;
    loop {
        match r.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "r" && rich.is_none() => {
                rich = Some(String::new());
            }
            Event::Start(e) if e.local_name().as_ref() == "rPh" => phonetic = true,
            Event::End(e) if e.name() == closing => return Some(rich.unwrap_or_default()),
            Event::End(e) if e.local_name().as_ref() == "rPh" => phonetic = false,
            Event::Start(e) if e.local_name().as_ref() == "t" && !phonetic => {
                let preserve = raw_attr(&e, "xml:space").ok()?.as_deref() == Some("preserve");
                let mut value = String::new();
                loop {
                    match r.read_event().ok()? {
                        Event::Text(t) => value.push_str(&t.xml10_content()),
                        Event::CData(t) => value.push_str(&t.xml10_content()),
                        Event::GeneralRef(g) => {
                            if let Some(s) = quick_xml::escape::resolve_xml_entity(g.as_ref()) {
                                value.push_str(s);
                            } else {
                                value.push(g.resolve_char_ref().ok()??);
                            }
                        }
                        Event::End(end) if end.name() == e.name() => break,
                        Event::Eof => return None,
                        _ => {}
                    }
                }
                let value = if preserve {
                    unescape_x(&value)
                } else {
                    unescape_x(value.trim_matches([' ', '\t', '\r', '\n']))
                };
                match &mut rich {
                    Some(s) => s.push_str(&value),
                    None => rich = Some(value),
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// `xl/sharedStrings.xml`.
pub fn shared_strings(xml: &[u8]) -> Option<Vec<String>> {
    let mut r = reader(xml);
    loop {
        match r.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "sst" => break,
            Event::Eof => return None,
            _ => {}
        }
    }
    let mut out = Vec::new();
    loop {
        match r.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "si" => {
                let name = e.name().as_ref().to_string();
                out.push(string_item(&mut r, QName(&name))?);
            }
            Event::End(e) if e.local_name().as_ref() == "sst" => return Some(out),
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// `xl/styles.xml`: how each cell style (`cellXfs`, by index) shows a number.
pub fn formats(xml: &[u8]) -> Option<Vec<CellFormat>> {
    let mut r = reader(xml);
    let mut custom: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    let mut in_xfs = false;
    loop {
        match r.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "numFmt" => {
                let id = raw_attr(&e, "numFmtId").ok()?;
                let code = raw_attr(&e, "formatCode").ok()?;
                if let (Some(id), Some(code)) = (id, code) {
                    custom.insert(id, decoded_attr(&code)?);
                }
            }
            Event::Start(e) if e.local_name().as_ref() == "cellXfs" => in_xfs = true,
            Event::End(e) if e.local_name().as_ref() == "cellXfs" => in_xfs = false,
            Event::Start(e) if in_xfs && e.local_name().as_ref() == "xf" => {
                out.push(match raw_attr(&e, "numFmtId").ok()? {
                    None => CellFormat::Other,
                    Some(id) => match custom.get(&id) {
                        Some(code) => custom_format(code),
                        None => builtin_format(&id),
                    },
                });
            }
            Event::End(e) if e.local_name().as_ref() == "styleSheet" => return Some(out),
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// Whether a custom number format shows a date or a duration (calamine's
/// `detect_custom_number_format`, itself ported from openpyxl: the first section only;
/// quoted, escaped and bracketed text skipped; d, m, y, h, s or an AM/PM marker = a date).
fn custom_format(format: &str) -> CellFormat {
    let (mut escaped, mut quoted, mut brackets, mut prev) = (false, false, 0u8, ' ');
    let (mut hms, mut ap) = (false, false);
    for s in format.chars() {
        match (s, escaped, quoted, ap, brackets) {
            (_, true, ..) => escaped = false,
            ('_' | '\\' | '*', ..) => escaped = true,
            ('"', _, true, _, _) => quoted = false,
            (_, _, true, _, _) => (),
            ('"', _, _, _, _) => quoted = true,
            (';', ..) => return CellFormat::Other,
            ('[', ..) => brackets += 1,
            (']', .., 1) if hms => return CellFormat::TimeDelta,
            (']', ..) => brackets = brackets.saturating_sub(1),
            ('a' | 'A', _, _, false, 0) => ap = true,
            ('p' | 'm' | '/' | 'P' | 'M', _, _, true, 0) => return CellFormat::DateTime,
            ('d' | 'm' | 'h' | 'y' | 's' | 'D' | 'M' | 'H' | 'Y' | 'S', _, _, false, 0) => {
                return CellFormat::DateTime;
            }
            _ => {
                if !(hms && s.eq_ignore_ascii_case(&prev)) {
                    hms = prev == '[' && matches!(s, 'm' | 'h' | 's' | 'M' | 'H' | 'S');
                }
            }
        }
        prev = s;
    }
    CellFormat::Other
}

/// The built-in number formats that show dates and times (ECMA-376 18.8.30, and the East
/// Asian date formats), as calamine's `builtin_format_by_id`.
fn builtin_format(id: &str) -> CellFormat {
    match id {
        "14" | "15" | "16" | "17" | "18" | "19" | "20" | "21" | "22" | "45" | "47" | "27"
        | "28" | "29" | "30" | "31" | "32" | "33" | "34" | "35" | "36" | "50" | "51" | "52"
        | "53" | "54" | "55" | "56" | "57" | "58" => CellFormat::DateTime,
        "46" => CellFormat::TimeDelta,
        _ => CellFormat::Other,
    }
}

/// Resolves Excel's `_xHHHH_` escapes (a UTF-16 unit each; `_x005F_` is "_"); unpaired
/// surrogates become U+FFFD.
fn unescape_x(s: &str) -> String {
    fn unit(b: &[u8], i: usize) -> Option<u16> {
        let e = b.get(i..i + 7)?;
        if e[0] != b'_'
            || e[1] != b'x'
            || e[6] != b'_'
            || !e[2..6].iter().all(u8::is_ascii_hexdigit)
        {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&e[2..6]).ok()?, 16).ok()
    }
    let b = s.as_bytes();
    if memchr::memmem::find(b, b"_x").is_none() {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let (mut i, mut copied) = (0, 0);
    while let Some(off) = memchr::memchr(b'_', &b[i..]) {
        i += off;
        let Some(u) = unit(b, i) else {
            i += 1;
            continue;
        };
        out.push_str(&s[copied..i]);
        i += 7;
        match u {
            0xD800..=0xDBFF => match unit(b, i) {
                Some(low @ 0xDC00..=0xDFFF) => {
                    let cp = 0x10000 + ((u32::from(u) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    out.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
                    i += 7;
                }
                _ => out.push(char::REPLACEMENT_CHARACTER),
            },
            0xDC00..=0xDFFF => out.push(char::REPLACEMENT_CHARACTER),
            _ => out.push(char::from_u32(u32::from(u)).unwrap_or(char::REPLACEMENT_CHARACTER)),
        }
        copied = i;
    }
    out.push_str(&s[copied..]);
    out
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// One tag of the sheet: its name (with '/' first for an end tag), its attribute bytes, and
/// whether it closes itself. A row's or a cell's `r`, `s` and `t` are read with the tag
/// ([`Walk::cell_tag`]).
struct Tag<'a> {
    name: &'a [u8],
    attrs: &'a [u8],
    empty: bool,
    rst: [Option<&'a [u8]>; 3],
}

/// The sheet's bytes and a position in them.
struct Walk<'a> {
    b: &'a [u8],
    i: usize,
    /// Where the last tag read began.
    tag_start: usize,
}

impl<'a> Walk<'a> {
    /// Steps over `literal` if the bytes at the position are exactly it (a shortcut for the
    /// commonest end tags, read as [`Walk::tag`] would read them).
    fn skip_literal(&mut self, literal: &[u8]) -> bool {
        let hit = self.b[self.i..].starts_with(literal);
        if hit {
            self.i += literal.len();
        }
        hit
    }

    fn skip_space(&mut self) {
        while self.i < self.b.len() && is_space(self.b[self.i]) {
            self.i += 1;
        }
    }

    /// The tag at the position (after whitespace); `None` for anything else (text, a
    /// comment, CDATA, a processing instruction, a prefixed name, the end of the bytes).
    fn tag(&mut self) -> Option<Tag<'a>> {
        self.skip_space();
        let b = self.b;
        if b.get(self.i) != Some(&b'<') {
            return None;
        }
        self.tag_start = self.i;
        let s = self.i + 1;
        let mut e = s + usize::from(b.get(s) == Some(&b'/'));
        while e < b.len() && b[e].is_ascii_alphanumeric() {
            e += 1;
        }
        if e == s || !matches!(b.get(e), Some(b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>')) {
            return None;
        }
        if matches!(&b[s..e], b"c" | b"row") {
            return self.cell_tag(s, e);
        }
        let end_tag = b[s] == b'/';
        // The tag ends at the first '>' outside quotes.
        let mut k = e;
        let mut quote = 0u8;
        while k < b.len() {
            let c = b[k];
            if quote != 0 {
                if c == quote {
                    quote = 0;
                }
            } else if c == b'"' || c == b'\'' {
                quote = c;
            } else if c == b'>' {
                break;
            }
            k += 1;
        }
        if k == b.len() {
            return None;
        }
        let empty = b[k - 1] == b'/' && k > e;
        if end_tag && empty {
            return None;
        }
        let attrs = &b[e..if empty { k - 1 } else { k }];
        self.i = k + 1;
        Some(Tag {
            name: &b[s..e],
            attrs,
            empty,
            rst: [None; 3],
        })
    }

    /// The rest of a `<c` or `<row` start tag (name at `s..e`), its attributes read in the
    /// same pass as its end is found: the values of `r`, `s` and `t` (raw). Gives up on a
    /// malformed list, an attribute of the three repeated or holding an entity, and an
    /// attribute name holding '/', '>' or a quote.
    fn cell_tag(&mut self, s: usize, e: usize) -> Option<Tag<'a>> {
        let b = self.b;
        let mut rst: [Option<&[u8]>; 3] = [None; 3];
        let mut i = e;
        loop {
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            let (end, empty) = match b.get(i..i + 2)? {
                [b'>', _] => (i, false),
                b"/>" => (i + 1, true),
                _ => (0, false),
            };
            if end > 0 {
                self.i = end + 1;
                return Some(Tag {
                    name: &b[s..e],
                    attrs: &b[e..i],
                    empty,
                    rst,
                });
            }
            let ns = i;
            while i < b.len()
                && !is_space(b[i])
                && !matches!(b[i], b'=' | b'>' | b'/' | b'"' | b'\'')
            {
                i += 1;
            }
            if i == ns {
                return None;
            }
            let name = &b[ns..i];
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            if b.get(i) != Some(&b'=') {
                return None;
            }
            i += 1;
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            let q = *b.get(i).filter(|q| matches!(q, b'"' | b'\''))?;
            // Values are a few bytes ("B12", "s"): a plain loop, noting any entity on the way.
            let vs = i + 1;
            let mut ve = vs;
            let mut entity = false;
            while *b.get(ve)? != q {
                entity |= b[ve] == b'&';
                ve += 1;
            }
            i = ve + 1;
            let slot = match name {
                b"r" => 0,
                b"s" => 1,
                b"t" => 2,
                _ => continue,
            };
            if rst[slot].is_some() || entity {
                return None;
            }
            rst[slot] = Some(&b[vs..ve]);
        }
    }
}

fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 {
        return None;
    }
    v.iter().try_fold(0u64, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })
}

/// "B12" → (11, 1), zero-based.
fn cell_ref(v: &[u8]) -> Option<(u32, u32)> {
    let letters = v.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if letters == 0 || letters > 3 {
        return None;
    }
    let col = v[..letters]
        .iter()
        .fold(0u32, |n, c| n * 26 + u32::from(c - b'A') + 1);
    let row = u32::try_from(digits(&v[letters..])?).ok()?;
    Some((row.checked_sub(1)?, col - 1))
}

/// A plain decimal number as written in `<v>`: sign, digits, fraction, exponent.
fn plain_number(v: &[u8]) -> Option<f64> {
    let mut i = usize::from(v.first() == Some(&b'-'));
    let int = v[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if int == 0 {
        return None;
    }
    i += int;
    if v.get(i) == Some(&b'.') {
        let frac = v[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac == 0 {
            return None;
        }
        i += 1 + frac;
    }
    if matches!(v.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(v.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = v[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return None;
        }
        i += exp;
    }
    if i != v.len() {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// A cell's value: a shared string, or the value calamine would give it (then shown by
/// `show`).
enum Value<'b> {
    Shared(&'b str),
    Data(Data),
}

/// A cell's value as calamine would give it; `None` = give up.
fn value<'b>(book: &'b Book, v: &[u8], s: Option<&[u8]>, t: Option<&[u8]>) -> Option<Value<'b>> {
    if t == Some(b"s") {
        if v.is_empty() {
            return Some(Value::Data(Data::Empty));
        }
        let i = usize::try_from(digits(v)?).ok()?;
        return Some(Value::Shared(book.strings.get(i)?));
    }
    data(book, v, s, t).map(Value::Data)
}

fn data(book: &Book, v: &[u8], s: Option<&[u8]>, t: Option<&[u8]>) -> Option<Data> {
    match t {
        Some(b"inlineStr" | b"is") => Some(Data::Empty),
        Some(b"b") => match v {
            b"" => Some(Data::Empty),
            b"0" => Some(Data::Bool(false)),
            b"1" => Some(Data::Bool(true)),
            _ => None,
        },
        Some(b"str") => {
            // XML would turn a CR into a line feed: left to calamine.
            if v.contains(&b'\r') {
                return None;
            }
            let v = quick_xml::escape::unescape(std::str::from_utf8(v).ok()?).ok()?;
            Some(Data::String(unescape_x(&v)))
        }
        Some(b"n") | None => {
            if v.is_empty() {
                return Some(Data::Empty);
            }
            let n = plain_number(v)?;
            let format = match s {
                Some(s) => book.formats.get(usize::try_from(digits(s)?).ok()?).copied(),
                None => Some(CellFormat::Other),
            };
            Some(match format {
                Some(CellFormat::DateTime) => Data::DateTime(ExcelDateTime::new(
                    n,
                    ExcelDateTimeType::DateTime,
                    book.is_1904,
                )),
                Some(CellFormat::TimeDelta) => Data::DateTime(ExcelDateTime::new(
                    n,
                    ExcelDateTimeType::TimeDelta,
                    book.is_1904,
                )),
                _ => Data::Float(n),
            })
        }
        _ => None,
    }
}

/// The cells of one sheet part, each shown by `show`; `None` to leave the sheet to
/// calamine. Reads at most `max` non-empty cells and `max_text` bytes of their text.
pub fn sheet(
    xml: &[u8],
    book: &Book,
    max: usize,
    max_text: usize,
    show: impl Fn(&Data) -> String,
) -> Option<Cells> {
    let start = memchr::memmem::find(xml, b"<sheetData")?;
    // Nothing before it may hide markup: no comment, CDATA, DOCTYPE or processing
    // instruction but the XML declaration.
    let head = &xml[..start];
    let decl = head
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(head)
        .starts_with(b"<?xml");
    if memchr::memmem::find(head, b"<!").is_some()
        || memchr::memmem::find_iter(head, b"<?").count() > usize::from(decl)
    {
        return None;
    }
    let mut w = Walk {
        b: xml,
        i: start,
        tag_start: start,
    };
    let open = w.tag()?;
    if open.name != b"sheetData" {
        return None;
    }
    let mut cells = Cells::default();
    if open.empty {
        return Some(cells);
    }
    let (mut row, mut col) = (0u32, 0u32);
    loop {
        let tag = w.tag()?;
        match tag.name {
            b"row" => {
                if let Some(r) = tag.rst[0] {
                    row = u32::try_from(digits(r)?).ok()?.checked_sub(1)?;
                }
                if tag.empty {
                    row += 1;
                    col = 0;
                }
            }
            b"/row" => {
                if !tag.attrs.iter().all(|c| is_space(*c)) {
                    return None;
                }
                row += 1;
                col = 0;
            }
            // A further sheetData (behind a decoy first one, which is all calamine would
            // read) is read too.
            b"/sheetData" => loop {
                let Some(p) = memchr::memmem::find(&xml[w.i..], b"<sheetData") else {
                    return Some(cells);
                };
                w.i += p;
                let open = w.tag()?;
                if open.name != b"sheetData" {
                    return None;
                }
                if !open.empty {
                    break;
                }
            },
            b"c" => {
                let [r, s, t] = tag.rst;
                let pos = match r {
                    Some(r) => {
                        let (rr, cc) = cell_ref(r)?;
                        col = cc;
                        (rr, cc)
                    }
                    None => (row, col),
                };
                let mut data = Value::Data(Data::Empty);
                if !tag.empty {
                    loop {
                        if w.skip_literal(b"</c>") {
                            break;
                        }
                        let child = w.tag()?;
                        match child.name {
                            b"/c" => break,
                            b"v" | b"f" if child.empty => data = Value::Data(Data::Empty),
                            b"v" => {
                                let end = w.i + memchr::memchr(b'<', &xml[w.i..])?;
                                let text = &xml[w.i..end];
                                w.i = end;
                                if !w.skip_literal(b"</v>") && w.tag()?.name != b"/v" {
                                    return None;
                                }
                                data = value(book, text, s, t)?;
                            }
                            b"f" => {
                                // A formula's text holds no '<' (it is escaped).
                                w.i += memchr::memchr(b'<', &xml[w.i..])?;
                                if w.tag()?.name != b"/f" {
                                    return None;
                                }
                                data = Value::Data(Data::Empty);
                            }
                            b"is" if child.empty => data = Value::Data(Data::Empty),
                            b"is" => {
                                // The rich text, `<is>` to `</is>`, read as a shared string is.
                                let from = w.tag_start;
                                let end = w.i + memchr::memmem::find(&xml[w.i..], b"</is>")? + 5;
                                let mut r = reader(&xml[from..end]);
                                let Ok(Event::Start(_)) = r.read_event() else {
                                    return None;
                                };
                                data = Value::Data(Data::String(string_item(&mut r, QName("is"))?));
                                if r.buffer_position() != (end - from) as u64 {
                                    return None;
                                }
                                w.i = end;
                            }
                            _ => return None,
                        }
                    }
                }
                col += 1;
                let shown;
                let text = match data {
                    Value::Shared(s) => s,
                    Value::Data(Data::Empty) => continue,
                    Value::Data(d) => {
                        shown = show(&d);
                        shown.as_str()
                    }
                };
                if text.is_empty() {
                    continue;
                }
                if cells.len() == max || cells.text.len() + text.len() > max_text {
                    cells.more = true;
                    return Some(cells);
                }
                cells.push(pos.0, pos.1, text);
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference for [`Walk::cell_tag`]: the values of `r`, `s` and `t` in the attribute
    /// bytes [`Walk::tag`] gives (a tag read in two passes); `None` when the list is malformed,
    /// one of them repeats or holds an entity.
    fn cell_attrs(a: &[u8]) -> Option<[Option<&[u8]>; 3]> {
        let mut out: [Option<&[u8]>; 3] = [None; 3];
        let mut i = 0;
        loop {
            while i < a.len() && is_space(a[i]) {
                i += 1;
            }
            if i == a.len() {
                return Some(out);
            }
            let ns = i;
            while i < a.len() && !is_space(a[i]) && a[i] != b'=' {
                i += 1;
            }
            let name = &a[ns..i];
            while i < a.len() && is_space(a[i]) {
                i += 1;
            }
            if a.get(i) != Some(&b'=') {
                return None;
            }
            i += 1;
            while i < a.len() && is_space(a[i]) {
                i += 1;
            }
            let q = *a.get(i).filter(|q| matches!(q, b'"' | b'\''))?;
            let vs = i + 1;
            let ve = vs + memchr::memchr(q, &a[vs..])?;
            i = ve + 1;
            let slot = match name {
                b"r" => 0,
                b"s" => 1,
                b"t" => 2,
                _ => continue,
            };
            let v = &a[vs..ve];
            if out[slot].is_some() || v.contains(&b'&') {
                return None;
            }
            out[slot] = Some(v);
        }
    }

    proptest::proptest! {
        /// A cell's or row's tag read in one pass gives what the generic tag reading and the
        /// attribute list reading give, or gives up.
        #[test]
        fn cell_tags_read_in_one_pass_as_in_two(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    " r=\"B12\"", " s='3'", " t=\"s\"", " t=\"inlineStr\"", " x=\"a>b\"",
                    " y='\"/>'", " r=\"A&amp;\"", " s = \"1\"", "/", ">", " ", "\t", "=", "\"",
                    "'", "a", " spans=\"1:6\"", "/>", "&",
                ]),
                0..8,
            ),
            name in proptest::sample::select(vec!["c", "row"]),
        ) {
            let tail: String = parts.concat();
            let xml = format!("<{name}{tail}<v>1</v>");
            let mut one = Walk { b: xml.as_bytes(), i: 0, tag_start: 0 };
            let fused = one.tag();
            // The same bytes under another name take the generic path.
            let other = format!("<{}{tail}<v>1</v>", "x".repeat(name.len()));
            let mut two = Walk { b: other.as_bytes(), i: 0, tag_start: 0 };
            if let Some(t) = fused.filter(|t| t.name == name.as_bytes()) {
                let g = two.tag();
                proptest::prop_assert!(g.is_some(), "{xml:?}");
                let g = g.expect("checked");
                proptest::prop_assert_eq!(Some(t.rst), cell_attrs(g.attrs), "{:?}", xml);
                proptest::prop_assert_eq!(t.empty, g.empty, "{:?}", xml);
                proptest::prop_assert_eq!(one.i, two.i, "{:?}", xml);
            }
        }
    }

    #[test]
    fn excel_escapes() {
        assert_eq!(unescape_x("a_x000D_b"), "a\rb");
        assert_eq!(unescape_x("_x005F_x000D_"), "_x000D_");
        assert_eq!(unescape_x("_xD83D__xDCF7_"), "\u{1F4F7}");
        assert_eq!(unescape_x("_xD83D_x"), "\u{FFFD}x");
        assert_eq!(unescape_x("plain_x00"), "plain_x00");
    }

    #[test]
    fn date_formats() {
        for f in [
            "dd/mm/yyyy",
            "yyyy-mm-dd",
            "d-mmm-yy",
            "h:mm AM/PM",
            "[$-809]dd mmmm yyyy",
        ] {
            assert_eq!(custom_format(f), CellFormat::DateTime, "{f}");
        }
        for f in ["0.00", "#,##0", "@", "\"day\" 0", "General", "0;[Red]-0"] {
            assert_eq!(custom_format(f), CellFormat::Other, "{f}");
        }
        assert_eq!(custom_format("[h]:mm:ss"), CellFormat::TimeDelta);
        assert_eq!(builtin_format("14"), CellFormat::DateTime);
        assert_eq!(builtin_format("1"), CellFormat::Other);
    }

    #[test]
    fn cell_refs() {
        assert_eq!(cell_ref(b"A1"), Some((0, 0)));
        assert_eq!(cell_ref(b"AB12"), Some((11, 27)));
        assert_eq!(cell_ref(b"XFD1048576"), Some((1_048_575, 16_383)));
        assert_eq!(cell_ref(b"A0"), None);
        assert_eq!(cell_ref(b"a1"), None);
        assert_eq!(cell_ref(b"A1B"), None);
    }

    #[test]
    fn numbers_only_in_plain_form() {
        assert_eq!(plain_number(b"42"), Some(42.0));
        assert_eq!(plain_number(b"-1.5E-3"), Some(-0.0015));
        for bad in [
            &b"1."[..],
            b".5",
            b"+1",
            b"inf",
            b"NaN",
            b"1e",
            b" 1",
            b"0x10",
        ] {
            assert_eq!(plain_number(bad), None, "{bad:?}");
        }
    }

    fn book() -> Book {
        Book {
            sheet_names: vec![],
            strings: vec!["Walker".into(), "Leah".into()],
            formats: vec![CellFormat::Other, CellFormat::DateTime],
            is_1904: false,
        }
    }

    fn show(d: &Data) -> String {
        d.to_string()
    }

    #[test]
    fn plain_sheet() {
        let xml = br#"<?xml version="1.0"?><worksheet><sheetData><row r="2" x14ac:dyDescent='0.25'><c r="B2" t="s"><v>0</v></c><c t="s"><v>1</v></c><c s="1"><f>A1</f><v>7</v></c><c r="F2"/></row><row/><row r="9"><c t="inlineStr"><is><r><t xml:space="preserve">Leah </t></r><r><t>Walker</t></r><rPh><t>x</t></rPh></is></c></row></sheetData></worksheet>"#;
        let cells = sheet(xml, &book(), 100, 1000, show).unwrap();
        assert!(!cells.more);
        let cells: Vec<_> = cells
            .cells
            .iter()
            .map(|&(r, c, s, e)| (r, c, cells.text[s..e].to_string()))
            .collect();
        assert_eq!(
            cells,
            vec![
                (1, 1, "Walker".to_string()),
                (1, 2, "Leah".to_string()),
                (
                    1,
                    3,
                    show(&Data::DateTime(ExcelDateTime::new(
                        7.0,
                        ExcelDateTimeType::DateTime,
                        false
                    )))
                ),
                (8, 0, "Leah Walker".to_string()),
            ]
        );
        let cells = sheet(xml, &book(), 2, 1000, show).unwrap();
        assert!(cells.more && cells.len() == 2);
    }

    #[test]
    fn every_sheet_data_is_read() {
        let xml = br#"<sheetData></sheetData><sheetData/><sheetData><row><c><v>1</v></c></row></sheetData>"#;
        let cells = sheet(xml, &book(), 100, 1000, show).unwrap();
        assert_eq!(cells.text, "1");
    }

    #[test]
    fn gives_up_on_what_it_does_not_know() {
        for xml in [
            &br#"<sheetData><!-- x --><row><c><v>1</v></c></row></sheetData>"#[..],
            br#"<!-- <sheetData> --><sheetData></sheetData>"#,
            br#"<x:sheetData><x:row><x:c><x:v>1</x:v></x:c></x:row></x:sheetData>"#,
            br#"<sheetData><row><c t="b"><v>yes</v></c></row></sheetData>"#,
            br#"<sheetData><row><c t="e"><v>#N/A</v></c></row></sheetData>"#,
            br#"<sheetData><row><c t="s"><v>9</v></c></row></sheetData>"#,
            br#"<sheetData><row><c><v>1&#48;</v></c></row></sheetData>"#,
            br#"<sheetData><row><c t="str"><v>a&bogus;</v></c></row></sheetData>"#,
            br#"<sheetData><row><c><v><![CDATA[1]]></v></c></row></sheetData>"#,
            br#"<sheetData><row><c><extLst/></c></row></sheetData>"#,
            br#"<sheetData><row><c r="A1" r="B1"><v>1</v></c></row></sheetData>"#,
            br#"<sheetData><row><c><v>1</v></c></row>"#,
        ] {
            assert!(
                sheet(xml, &book(), 100, 1000, show).is_none(),
                "{}",
                String::from_utf8_lossy(xml)
            );
        }
    }
}
