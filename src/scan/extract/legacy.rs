//! Text of legacy binary Office documents, read from their streams (no well-kept crate reads
//! them): Word 97–2003 (.doc, [MS-DOC]: the piece table of the `Clx` in the table stream) and
//! PowerPoint 97–2003 (.ppt, [MS-PPT]: every `TextCharsAtom`/`TextBytesAtom` record of the
//! `PowerPoint Document` stream, slides and notes alike). Every offset and length comes from
//! the (possibly hostile) file, so each is checked; output is capped at [`MAX_CHARS`].

/// At most this many characters from one document (the text budget applies on top).
pub const MAX_CHARS: usize = 16 << 20;

/// Text of a .doc: paragraphs as lines; table rows as lines with tab-separated cells,
/// also returned as rows for the same-row name rule. `word` is the WordDocument stream,
/// `table` the stream the FIB names (0Table or 1Table).
pub fn doc_text(word: &[u8], table: &[u8]) -> Result<(String, Vec<Vec<String>>), String> {
    let u32_at = |b: &[u8], i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
    };
    // FibRgFcLcb97: fcClx at 0x1A2, lcbClx at 0x1A6 of the WordDocument stream.
    let fc = u32_at(word, 0x1A2).ok_or("Word FIB too short")? as usize;
    let lcb = u32_at(word, 0x1A6).ok_or("Word FIB too short")? as usize;
    let clx = table
        .get(fc..fc.checked_add(lcb).ok_or("bad Clx")?)
        .ok_or("Word piece table outside the table stream")?;
    // Clx: Prc entries (0x01, u16 size, grpprl) then the Pcdt (0x02, u32 size, PlcPcd).
    let mut i = 0;
    while clx.get(i) == Some(&0x01) {
        let size = u16::from_le_bytes(
            clx.get(i + 1..i + 3)
                .ok_or("truncated Prc")?
                .try_into()
                .unwrap(),
        );
        i += 3 + size as usize;
    }
    if clx.get(i) != Some(&0x02) {
        return Err("Word piece table not found".into());
    }
    let plc_len = u32_at(clx, i + 1).ok_or("truncated Pcdt")? as usize;
    let plc = clx
        .get(i + 5..(i + 5).saturating_add(plc_len))
        .ok_or("truncated PlcPcd")?;
    if plc.len() < 4 {
        return Err("empty Word piece table".into());
    }
    // n + 1 character positions, then n 8-byte piece descriptors.
    let n = (plc.len() - 4) / 12;
    let mut chars: Vec<char> = Vec::new();
    for k in 0..n {
        let (Some(start), Some(end)) = (u32_at(plc, k * 4), u32_at(plc, k * 4 + 4)) else {
            break;
        };
        let count = end.saturating_sub(start) as usize;
        let fc = u32_at(plc, (n + 1) * 4 + k * 8 + 2).ok_or("truncated piece")?;
        if chars.len() + count > MAX_CHARS {
            return Err(format!(
                "Word document over {MAX_CHARS} characters: not read"
            ));
        }
        if fc & 0x4000_0000 != 0 {
            // Compressed: one cp1252 byte per character at fc / 2.
            let at = ((fc & 0x3FFF_FFFF) / 2) as usize;
            let bytes = word
                .get(at..at.saturating_add(count))
                .ok_or("Word text piece outside the document")?;
            let (decoded, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            chars.extend(decoded.chars());
        } else {
            let at = fc as usize;
            let bytes = word
                .get(at..at.saturating_add(count.saturating_mul(2)))
                .ok_or("Word text piece outside the document")?;
            let units = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]));
            chars.extend(char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')));
        }
    }
    Ok(doc_structure(&chars))
}

/// Word's special characters: 0x0D paragraph, 0x0B line break, 0x0C page/section break,
/// 0x07 end of a table cell (a second one right after ends the table row), 0x13 field begin
/// (its code up to 0x14 is not text), 0x15 field end, 0x01/0x08 embedded objects, 0x1E
/// non-breaking hyphen, 0x1F optional hyphen. An empty cell reads like a row end (two marks in
/// a row); the table's width (its widest row so far, usually the header) tells them apart: a
/// row still short of it gets an empty cell, so "Walker | | Leah" stays one row for the
/// same-row rule. Before any row is known, it is a row end (a row may split). A paragraph
/// outside a table forgets the width, so a narrower table after it is not merged row to row.
fn doc_structure(chars: &[char]) -> (String, Vec<Vec<String>>) {
    let mut text = String::with_capacity(chars.len());
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    // Text since the last paragraph or cell end.
    let mut cur = String::new();
    let mut field_code = 0usize;
    let mut prev_cell_end = false;
    let mut width = 0usize;
    for &c in chars {
        if field_code > 0 {
            match c {
                '\u{13}' => field_code += 1,
                '\u{14}' | '\u{15}' => field_code -= 1,
                _ => {}
            }
            continue;
        }
        let cell_end = c == '\u{07}';
        match c {
            '\u{13}' => field_code = 1,
            '\u{07}' if prev_cell_end && cur.trim().is_empty() && row.len() < width => {
                // An empty cell inside a row.
                cur.clear();
                text.push('\t');
                row.push(String::new());
                // This mark ended a cell: the next one may end the row.
                prev_cell_end = true;
                continue;
            }
            '\u{07}' if prev_cell_end && cur.trim().is_empty() => {
                text.push('\n');
                width = width.max(row.len());
                rows.push(std::mem::take(&mut row));
                cur.clear();
            }
            '\u{07}' => {
                let cell = std::mem::take(&mut cur).trim().to_string();
                text.push_str(&cell);
                text.push('\t');
                row.push(cell);
            }
            '\r' | '\u{0B}' | '\u{0C}' if !row.is_empty() => cur.push(' '),
            '\r' | '\u{0B}' | '\u{0C}' => {
                text.push_str(&cur);
                text.push('\n');
                cur.clear();
                width = 0;
            }
            '\u{1E}' => cur.push('-'),
            '\u{A0}' | '\t' => cur.push(' '),
            c if c.is_control() => {}
            c => cur.push(c),
        }
        prev_cell_end = cell_end && !prev_cell_end;
    }
    text.push_str(&cur);
    if !row.is_empty() {
        rows.push(row);
    }
    rows.retain(|r| r.iter().any(|c| !c.is_empty()));
    (text, rows)
}

/// Text of a .ppt's `PowerPoint Document` stream: every text atom, one paragraph a line.
pub fn ppt_text(stream: &[u8]) -> String {
    let mut text = String::new();
    let mut i = 0usize;
    while i + 8 <= stream.len() && text.len() < MAX_CHARS {
        let ver_inst = u16::from_le_bytes([stream[i], stream[i + 1]]);
        let kind = u16::from_le_bytes([stream[i + 2], stream[i + 3]]);
        let len = u32::from_le_bytes(stream[i + 4..i + 8].try_into().unwrap()) as usize;
        if ver_inst & 0x000F == 0x000F {
            // A container: its records follow its header.
            i += 8;
            continue;
        }
        let body = &stream[i + 8..(i + 8).saturating_add(len).min(stream.len())];
        match kind {
            // TextCharsAtom: UTF-16LE.
            0x0FA0 => {
                let units = body
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]));
                text.extend(char::decode_utf16(units).map(|c| ppt_char(c.unwrap_or(' '))));
                text.push('\n');
            }
            // TextBytesAtom: the low bytes of UTF-16 code units (Latin-1).
            0x0FA8 => {
                text.extend(body.iter().map(|b| ppt_char(*b as char)));
                text.push('\n');
            }
            _ => {}
        }
        i = (i + 8).saturating_add(len);
    }
    text
}

fn ppt_char(c: char) -> char {
    match c {
        '\r' | '\u{0B}' => '\n',
        c if c.is_control() && c != '\t' && c != '\n' => ' ',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A minimal WordDocument + table stream pair holding `units` as one UTF-16 piece.
    fn doc(text: &str, compressed: bool) -> (Vec<u8>, Vec<u8>) {
        let mut word = vec![0u8; 0x400];
        let at = word.len();
        let count = text.chars().count() as u32;
        let fc = if compressed {
            word.extend(text.chars().map(|c| c as u8));
            0x4000_0000 | (at as u32 * 2)
        } else {
            word.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            at as u32
        };
        let mut plc = Vec::new();
        plc.extend(0u32.to_le_bytes());
        plc.extend(count.to_le_bytes());
        plc.extend([0, 0]);
        plc.extend(fc.to_le_bytes());
        plc.extend([0, 0]);
        let mut table = vec![0x01, 2, 0, 9, 9]; // one Prc to skip
        table.push(0x02);
        table.extend((plc.len() as u32).to_le_bytes());
        table.extend(plc);
        word[0x1A2..0x1A6].copy_from_slice(&0u32.to_le_bytes());
        word[0x1A6..0x1AA].copy_from_slice(&(table.len() as u32).to_le_bytes());
        (word, table)
    }

    #[test]
    fn doc_paragraphs_fields_and_table_rows() {
        let src = "Dear parent\r\u{13} HYPERLINK \"x\" \u{14}link\u{15} Zo\u{eb} Smith\rSmith\u{07}8C\u{07}Zo\u{eb}\u{07}\u{07}Jones\u{07}8D\u{07}Ann\u{07}\u{07}end\r";
        for compressed in [false, true] {
            let (w, t) = doc(src, compressed);
            let (text, rows) = doc_text(&w, &t).unwrap();
            assert!(text.contains("Dear parent\nlink Zoë Smith\n"), "{text:?}");
            assert!(!text.contains("HYPERLINK"));
            assert_eq!(
                rows,
                vec![
                    vec!["Smith".to_string(), "8C".into(), "Zoë".into()],
                    vec!["Jones".to_string(), "8D".into(), "Ann".into()]
                ]
            );
            assert!(text.contains("Smith\t8C\tZoë\t\nJones"), "{text:?}");
        }
    }

    #[test]
    fn an_empty_cell_does_not_split_a_doc_table_row() {
        let chars: Vec<char> = "Surname\u{07}Notes\u{07}Forename\u{07}\u{07}\
             Walker\u{07}\u{07}Leah\u{07}\u{07}\
             Clark\u{07}late\u{07}Tom\u{07}\u{07}\
             \u{07}\u{07}Ann\u{07}\u{07}"
            .chars()
            .collect();
        let (text, rows) = doc_structure(&chars);
        let row = |r: &[&str]| r.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(
            rows,
            vec![
                row(&["Surname", "Notes", "Forename"]),
                row(&["Walker", "", "Leah"]),
                row(&["Clark", "late", "Tom"]),
                row(&["", "", "Ann"]),
            ]
        );
        assert!(text.contains("Walker\t\tLeah\t\n"), "{text:?}");
        // Before a row is known, two marks end the row (split, never merged).
        let chars: Vec<char> = "Walker\u{07}\u{07}Leah\u{07}\u{07}".chars().collect();
        assert_eq!(
            doc_structure(&chars).1,
            vec![row(&["Walker"]), row(&["Leah"])]
        );
        // A narrower table after a paragraph keeps its own rows.
        let chars: Vec<char> =
            "a\u{07}b\u{07}c\u{07}\u{07}Next\rx\u{07}y\u{07}\u{07}z\u{07}w\u{07}\u{07}"
                .chars()
                .collect();
        assert_eq!(
            doc_structure(&chars).1,
            vec![row(&["a", "b", "c"]), row(&["x", "y"]), row(&["z", "w"])]
        );
    }

    #[test]
    fn doc_pieces_outside_the_streams_are_errors() {
        let (mut w, t) = doc("Zoe Smith", false);
        w.truncate(0x401);
        assert!(doc_text(&w, &t).is_err());
        let (w, _) = doc("Zoe Smith", false);
        assert!(doc_text(&w, &[0x02, 0xff, 0xff, 0xff, 0x7f]).is_err());
        assert!(doc_text(&[0u8; 16], &[]).is_err());
    }

    fn atom(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![0, 0];
        r.extend(kind.to_le_bytes());
        r.extend((body.len() as u32).to_le_bytes());
        r.extend(body);
        r
    }

    #[test]
    fn ppt_text_atoms_inside_containers() {
        let inner = [
            atom(
                0x0FA0,
                &"Star: Harry Fisher\rY8"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<_>>(),
            ),
            atom(0x0FA8, b"Notes: EHCP"),
            atom(
                0x0FBA,
                &"Arial"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<_>>(),
            ),
        ]
        .concat();
        let mut s = vec![0x0F, 0x00, 0xEE, 0x03];
        s.extend((inner.len() as u32).to_le_bytes());
        s.extend(inner);
        let t = ppt_text(&s);
        assert_eq!(t, "Star: Harry Fisher\nY8\nNotes: EHCP\n");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn mutated_streams_never_panic(flips in proptest::collection::vec((0usize..2048, any::<u8>()), 0..24), cut in 0usize..2048) {
            let (mut w, mut t) = doc("Dear Zoe Smith\rSmith\u{07}Zoe\u{07}\u{07}", false);
            for (i, b) in &flips {
                let n = w.len();
                w[i % n] = *b;
                let n = t.len();
                t[i % n] = *b;
            }
            w.truncate(cut.max(1).min(w.len()));
            // Bounded output: never more text than the stream could hold (a walker that
            // re-read records would exceed it), never more than the cap.
            if let Ok((text, _)) = doc_text(&w, &t) {
                prop_assert!(text.chars().count() <= MAX_CHARS);
            }
            for s in [&w, &t] {
                prop_assert!(ppt_text(s).len() <= 3 * s.len());
            }
        }
    }
}
