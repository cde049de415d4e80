//! xlsx pivot caches: the copy of the source rows a pivot table keeps inside the workbook
//! (`xl/pivotCache/pivotCacheDefinitionN.xml` with each field's distinct values, and
//! `pivotCacheRecordsN.xml` with one record per source row). A pivot-table summary sent
//! outside still carries every pupil row it was built from — even when the source sheet was
//! deleted — so the cache is read as a table: a header row of field names, then one row per
//! record (dates as dd/mm/yyyy), and each field's distinct values as text.

use quick_xml::events::{BytesStart, Event};

use super::archive::{Archive, read_member};
use super::sheetml::{attr, reader};
use super::sink::Sink;
use crate::scan::segment::{Location, Segment, TableText};

/// Records read from one cache (as many as the cells a sheet may have, by row).
const MAX_RECORDS: usize = 1_000_000;

/// One value of a cache item element (`<s v=..>`, `<n>`, `<d>`, `<b>`, `<e>`); `None` for
/// `<m/>` (missing) and for elements that are not items.
fn item(e: &BytesStart) -> Option<String> {
    let kind = e.local_name();
    let kind = kind.as_ref();
    if !matches!(kind, "s" | "n" | "d" | "b" | "e") {
        return None;
    }
    let v = attr(e, "v")?;
    // An ISO date-time ("2012-03-04T00:00:00") as the date the other readers give.
    if kind == "d"
        && let Ok(d) = chrono::NaiveDate::parse_from_str(v.get(..10).unwrap_or(""), "%Y-%m-%d")
    {
        return Some(d.format("%d/%m/%Y").to_string());
    }
    Some(v)
}

/// Field names and each field's shared items, from a cache definition.
fn definition(xml: &[u8]) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut r = reader(xml);
    let mut fields: Vec<(String, Vec<String>)> = Vec::new();
    loop {
        match r.read_event().map_err(|e| format!("pivot cache: {e}"))? {
            Event::Start(e) if e.local_name().as_ref() == "cacheField" => {
                let name = attr(&e, "name").unwrap_or_default();
                fields.push((name, Vec::new()));
            }
            Event::Start(e) => {
                if let (Some(v), Some(f)) = (item(&e), fields.last_mut()) {
                    f.1.push(v);
                }
            }
            Event::Eof => return Ok(fields),
            _ => {}
        }
    }
}

/// The records as rows: `<x v=i>` is the field's i-th shared item. `false` when cut (more
/// records than read, or more text than `max_text`: one long item in many records would
/// make far more text than the file holds).
fn records(
    xml: &[u8],
    fields: &[(String, Vec<String>)],
    max_text: usize,
    table: &mut TableText,
) -> Result<bool, String> {
    let mut r = reader(xml);
    let (mut field, mut rows) = (0usize, 0usize);
    loop {
        match r
            .read_event()
            .map_err(|e| format!("pivot cache records: {e}"))?
        {
            Event::Start(e) if e.local_name().as_ref() == "r" => {
                field = 0;
                rows += 1;
                if rows > MAX_RECORDS || table.text_len() > max_text {
                    return Ok(false);
                }
            }
            Event::End(e) if e.local_name().as_ref() == "r" => table.end_row(),
            Event::Start(e) => {
                let value = if e.local_name().as_ref() == "x" {
                    let i = attr(&e, "v").and_then(|v| v.parse::<usize>().ok());
                    i.and_then(|i| fields.get(field)?.1.get(i).cloned())
                } else if matches!(e.local_name().as_ref(), "m" | "s" | "n" | "d" | "b" | "e") {
                    item(&e)
                } else {
                    continue;
                };
                table.cell(value.as_deref().unwrap_or(""));
                field += 1;
            }
            Event::Eof => return Ok(true),
            _ => {}
        }
    }
}

/// Every pivot cache of an xlsx, as tables.
pub fn caches(location: &Location, archive: &mut Archive, names: &[String], sink: &mut Sink) {
    for (i, n) in names.iter().enumerate() {
        let Some(num) = n
            .strip_prefix("xl/pivotCache/pivotCacheDefinition")
            .and_then(|r| r.strip_suffix(".xml"))
        else {
            continue;
        };
        let fields = match read_member(archive, i, sink).and_then(|x| definition(&x)) {
            Ok(f) => f,
            Err(why) => {
                sink.not_read(location.clone(), format!("{n}: {why}"));
                continue;
            }
        };
        // Each field's distinct values, a line each (the records may not be saved).
        let mut text = String::new();
        for (name, items) in &fields {
            text.push_str(name);
            text.push('\n');
            for v in items {
                text.push_str(v);
                text.push('\n');
            }
        }
        sink.push(Segment::text(location.clone(), text));
        let records_name = format!("xl/pivotCache/pivotCacheRecords{num}.xml");
        let Some(j) = names.iter().position(|m| *m == records_name) else {
            continue;
        };
        let mut table = TableText::default();
        for (name, _) in &fields {
            table.cell(name);
        }
        table.end_row();
        let max_text = sink
            .budget
            .limits()
            .max_text_bytes
            .saturating_sub(sink.budget.text_bytes);
        match read_member(archive, j, sink).and_then(|x| records(&x, &fields, max_text, &mut table))
        {
            Ok(complete) => {
                if !complete {
                    sink.not_read(
                        location.clone(),
                        format!(
                            "{records_name}: more than {MAX_RECORDS} records or more text than \
                             the scan reads: the rest not read"
                        ),
                    );
                }
                sink.push(table.into_segment(location.clone()));
            }
            Err(why) => sink.not_read(location.clone(), format!("{records_name}: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFINITION: &str = r#"<pivotCacheDefinition><cacheFields count="3">
        <cacheField name="Forename"><sharedItems count="2"><s v="Leah"/><s v="Tom"/></sharedItems></cacheField>
        <cacheField name="Surname"><sharedItems/></cacheField>
        <cacheField name="DOB" numFmtId="14"><sharedItems containsDate="1"/></cacheField>
        </cacheFields></pivotCacheDefinition>"#;

    #[test]
    fn records_become_rows_with_their_shared_items() {
        let fields = definition(DEFINITION.as_bytes()).unwrap();
        assert_eq!(
            fields[0],
            ("Forename".to_string(), vec!["Leah".into(), "Tom".into()])
        );
        let xml = r#"<pivotCacheRecords count="2">
            <r><x v="0"/><s v="Walker"/><d v="2012-03-04T00:00:00"/></r>
            <r><x v="1"/><s v="O&apos;Brien"/><m/></r></pivotCacheRecords>"#;
        let mut table = TableText::default();
        assert!(records(xml.as_bytes(), &fields, 1000, &mut table).unwrap());
        let seg = table.into_segment(Location::Body);
        assert_eq!(
            seg.rows.as_ref().unwrap().to_rows(&seg.text),
            vec![
                vec!["Leah".to_string(), "Walker".into(), "04/03/2012".into()],
                vec!["Tom".to_string(), "O'Brien".into(), "".into()],
            ]
        );
    }

    #[test]
    fn one_long_item_in_many_records_is_cut() {
        let long = "x".repeat(10_000);
        let fields = definition(
            format!(
                r#"<cacheField name="a"><sharedItems><s v="{long}"/></sharedItems></cacheField>"#
            )
            .as_bytes(),
        )
        .unwrap();
        let xml = "<r><x v=\"0\"/></r>".repeat(1_000);
        let mut table = TableText::default();
        assert!(!records_fn(&xml, &fields, &mut table));
        assert!(table.text_len() <= 100_000 + long.len() + 1);
    }

    fn records_fn(xml: &str, fields: &[(String, Vec<String>)], table: &mut TableText) -> bool {
        records(xml.as_bytes(), fields, 100_000, table).unwrap()
    }

    proptest::proptest! {
        /// Mutated caches are read or refused, never a panic.
        #[test]
        fn mutated_caches_do_not_panic(
            edits in proptest::collection::vec((0usize..2000, proptest::num::u8::ANY), 0..8),
        ) {
            let mut def = DEFINITION.as_bytes().to_vec();
            let mut rec = br#"<pivotCacheRecords><r><x v="1"/><s v="Walker"/><d v="2012-03-04"/></r><r><x v="9"/><m/></r></pivotCacheRecords>"#.to_vec();
            for (i, (pos, byte)) in edits.into_iter().enumerate() {
                let b = if i % 2 == 0 { &mut def } else { &mut rec };
                let n = b.len();
                b[pos % n] = byte;
            }
            if let Ok(fields) = definition(&def) {
                let mut table = TableText::default();
                let _ = records(&rec, &fields, 10_000, &mut table);
            }
        }
    }

    #[test]
    fn malformed_cache_is_an_error() {
        assert!(definition(b"<pivotCacheDefinition><cacheField name=\"a></x>").is_err());
    }
}
