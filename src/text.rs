//! Text normalisation shared by the directory and the scanner: folding a name to its
//! comparison key, splitting text into words, finding email addresses written in text, and
//! masking names for display.
//!
//! Folding is what makes "Zoë O’Brien-Smith", "ZOE OBRIEN SMITH" and "zoe o'brien - smith"
//! the same name: NFKD decomposition (a PDF's "ﬁ" ligature and full-width letters become
//! plain letters) with combining marks dropped, lower case, apostrophes removed, and
//! hyphens, dots and spaces all acting as word separators. This module never decides
//! whether something is a pupil; it only says how words compare.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Apostrophe forms people type or word processors insert.
pub fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | '‘' | 'ʼ' | '`' | '´')
}

/// A character that belongs inside a name word.
#[inline]
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    c.is_alphabetic() || is_combining_mark(c)
}

/// Whether `b` is UTF-16 text: with a byte-order mark, or [`utf16_unmarked`].
pub fn is_utf16(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xFE]) || b.starts_with(&[0xFE, 0xFF]) || utf16_unmarked(b).is_some()
}

/// The UTF-16 of a text written without a byte-order mark (Excel's "Unicode Text" and
/// some exports): in its first 8 KiB, nine code units in ten have a zero high byte, no
/// unit is zero and few are control characters. `None` for anything else (UTF-16 with a BOM
/// is found by its BOM).
pub fn utf16_unmarked(b: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &b[..b.len().min(8192) & !1];
    let units = head.len() / 2;
    if units < 4 {
        return None;
    }
    let control = |c: u8| c < 0x20 && !matches!(c, b'\n' | b'\r' | b'\t' | 0x0C);
    let (mut le, mut be, mut controls) = (0, 0, 0);
    for u in head.chunks_exact(2) {
        match (u[0], u[1]) {
            (0, 0) => return None,
            (c, 0) => {
                le += 1;
                controls += usize::from(control(c));
            }
            (0, c) => {
                be += 1;
                controls += usize::from(control(c));
            }
            _ => {}
        }
    }
    if controls * 100 > units {
        return None;
    }
    if le * 10 >= units * 9 {
        Some(encoding_rs::UTF_16LE)
    } else if be * 10 >= units * 9 {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

/// `text` with a space put between a lower-case letter and the upper-case letter after it
/// ("LeahWalker_IEP" → "Leah Walker_IEP"), and where the spaces went (offsets in the new
/// text); `None` when it has no such step. For file names, where people drop the spaces
/// between words.
pub fn camel_case_split(text: &str) -> Option<(String, Vec<usize>)> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut spaces = Vec::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if prev_lower && c.is_uppercase() {
            spaces.push(out.len());
            out.push(' ');
        }
        prev_lower = c.is_lowercase();
        out.push(c);
    }
    (!spaces.is_empty()).then_some((out, spaces))
}

/// Characters nobody sees: zero-width space and joiners, the word joiner and invisible
/// operators, the soft hyphen, a byte-order mark inside text, and bidirectional marks and
/// embeddings. Text pasted from web pages, PDFs and some editors carries them inside words,
/// where they would split "Le\u{200B}ah" into two words the reader never sees.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// `text` with its invisible characters ([`is_invisible`]) taken out, and where they were
/// (to move offsets into the new text); `None` when it has none after byte `from` (where
/// the caller knows the text stops being ASCII), the common case, found with one byte
/// search for the characters' lead bytes.
pub fn without_invisible(text: &str, from: usize) -> Option<(String, Removed)> {
    let bytes = text.as_bytes();
    // Lead bytes: U+00AD is C2 AD, U+20xx is E2 80/81 xx, U+FEFF is EF BB BF.
    let first = memchr::memchr3_iter(0xC2, 0xE2, 0xEF, bytes.get(from..)?)
        .map(|i| from + i)
        .find(|&i| {
            text.get(i..)
                .and_then(|t| t.chars().next())
                .is_some_and(is_invisible)
        })?;
    let mut out = String::with_capacity(text.len());
    let mut removed = Removed::default();
    out.push_str(&text[..first]);
    let mut total = 0;
    for (i, c) in text[first..].char_indices() {
        if is_invisible(c) {
            total += c.len_utf8();
            removed.at.push((first + i, total));
        } else {
            out.push(c);
        }
    }
    Some((out, removed))
}

/// Where [`without_invisible`] took characters out: each removal's offset in the old text
/// and the bytes removed up to and including it.
#[derive(Debug, Default)]
pub struct Removed {
    at: Vec<(usize, usize)>,
}

impl Removed {
    /// An offset of the old text in the new one (an offset inside or at a removed character
    /// moves to where it was).
    pub fn map(&self, old: usize) -> usize {
        let before = self.at.partition_point(|&(pos, _)| pos < old);
        old - before.checked_sub(1).map_or(0, |i| self.at[i].1)
    }
}

/// Folds one word: accents dropped, lower case, apostrophes removed. "O’Brien" → "obrien".
pub fn fold_word(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    fold_word_into(word, &mut out);
    out
}

/// Appends the folded form of `word` to `out`.
pub fn fold_word_into(word: &str, out: &mut String) {
    // The common case, ASCII letters only: copied and lowered in place.
    if word.bytes().all(|b| b.is_ascii_alphabetic()) {
        let start = out.len();
        out.push_str(word);
        out[start..].make_ascii_lowercase();
        return;
    }
    if word.is_ascii() {
        for b in word.bytes() {
            if b.is_ascii_alphanumeric() {
                out.push(b.to_ascii_lowercase() as char);
            }
        }
        return;
    }
    // Compatibility decomposition: a PDF's ligatures ("Griﬃths", U+FB03) and full-width
    // letters fold to the letters they stand for.
    for c in word.nfkd() {
        if is_combining_mark(c) || is_apostrophe(c) {
            continue;
        }
        match c {
            'ß' => out.push_str("ss"),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' => out.push('d'),
            'ı' => out.push('i'),
            c if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            _ => {}
        }
    }
}

/// The comparison key of a name (one or more words): folded words joined by one space.
/// "O’Brien-Smith" → "obrien smith"; "  Mary  Jane " → "mary jane".
pub fn name_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    name_key_into(name, &mut out);
    out
}

/// [`name_key`] written into `out` (cleared first), reusing its allocation.
pub fn name_key_into(name: &str, out: &mut String) {
    out.clear();
    for w in name_words(name) {
        let start = out.len();
        if start > 0 {
            out.push(' ');
        }
        fold_word_into(w, out);
        if out.len() == start + 1 || out.len() == start {
            out.truncate(start);
        }
    }
}

/// The words of a name: runs of letters (apostrophes inside a word kept).
pub fn name_words(name: &str) -> impl Iterator<Item = &str> {
    Words::new(name).map(move |(s, e)| &name[s..e])
}

/// Iterator over word spans `(start, end)` in text. A word is a run of letters and combining
/// marks; an apostrophe joins two letters ("O’Brien"), except a possessive "’s" at the end of
/// a word ("Smith's" → "Smith").
pub struct Words<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Words<'a> {
    pub fn new(text: &'a str) -> Self {
        Words { text, pos: 0 }
    }
    /// Starts at a byte offset (must be a char boundary).
    pub fn at(text: &'a str, pos: usize) -> Self {
        Words { text, pos }
    }
    pub fn position(&self) -> usize {
        self.pos
    }
}

#[inline]
fn char_at(s: &str, i: usize) -> Option<char> {
    let b = *s.as_bytes().get(i)?;
    if b < 0x80 {
        Some(b as char)
    } else {
        s[i..].chars().next()
    }
}

impl Iterator for Words<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let s = self.text;
        let bytes = s.as_bytes();
        let mut i = self.pos;
        // Skip to the start of a word (ASCII that is not a letter, a byte at a time).
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii() && !b.is_ascii_alphabetic())
        {
            i += 1;
        }
        loop {
            let c = char_at(s, i)?;
            if is_word_char(c) {
                break;
            }
            i += c.len_utf8();
        }
        let start = i;
        loop {
            // ASCII letters, a byte at a time.
            while bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
                i += 1;
            }
            let Some(c) = char_at(s, i) else { break };
            if is_word_char(c) {
                i += c.len_utf8();
                continue;
            }
            if is_apostrophe(c) {
                let after = i + c.len_utf8();
                match char_at(s, after) {
                    Some(n) if is_word_char(n) => {
                        // Possessive 's at the end of the word ends the word here.
                        let possessive = (n == 's' || n == 'S')
                            && !char_at(s, after + 1).is_some_and(is_word_char);
                        if possessive {
                            break;
                        }
                        i = after;
                        continue;
                    }
                    _ => break,
                }
            }
            break;
        }
        // Move past what ended the word (a possessive is consumed with it).
        let mut next = i;
        if let Some(c) = char_at(s, i)
            && is_apostrophe(c)
        {
            next += c.len_utf8();
            if matches!(bytes.get(next), Some(b's' | b'S')) {
                next += 1;
            }
        }
        self.pos = next.max(start + 1);
        Some((start, i))
    }
}

/// Masks a name for display: the first letter of each word and four stars. "Olivia Smith"
/// → "O**** S****". The length of the name is not revealed.
pub fn mask_name(name: &str) -> String {
    let mut out = String::new();
    for w in name_words(name) {
        if !out.is_empty() {
            out.push(' ');
        }
        if let Some(c) = w.chars().next() {
            out.extend(c.to_uppercase());
        }
        out.push_str("****");
    }
    out
}

/// `text` with each span (byte ranges, sorted, not overlapping) masked: words as names
/// ("O**** S****"), anything with digits as identifiers.
pub fn mask_spans(text: &str, spans: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(s, e) in spans {
        if s < at || e > text.len() || !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            continue;
        }
        out.push_str(&text[at..s]);
        let span = &text[s..e];
        if span.chars().any(|c| c.is_ascii_digit()) {
            out.push_str(&mask_id(span));
        } else {
            out.push_str(&mask_name(span));
        }
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

/// Masks an identifier: keeps the first character and the length class only.
pub fn mask_id(value: &str) -> String {
    let mut c = value.chars();
    match c.next() {
        Some(f) => format!("{f}{}", "*".repeat(c.count().min(12))),
        None => String::new(),
    }
}

/// True when a word is written with a capital first letter (or all capitals).
/// Spans of the email addresses written in a text ("leah.walker5@pupils.example.sch.uk"),
/// found from each `@`: a local part of atext and dots before, a dotted domain after.
pub fn email_spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
    let mut out: Vec<(usize, usize)> = Vec::new();
    for at in memchr::memchr_iter(b'@', b) {
        if out.last().is_some_and(|l| at < l.1) {
            continue;
        }
        let mut s = at;
        while s > 0 && at - s < 64 && local(b[s - 1]) {
            s -= 1;
        }
        while s < at && b[s] == b'.' {
            s += 1;
        }
        let mut e = at + 1;
        while e < b.len() && e - at < 255 && domain(b[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        if s < at && text[at + 1..e].contains('.') {
            out.push((s, e));
        }
    }
    out
}

pub fn is_capitalised(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        Words::new(s).map(|(a, b)| &s[a..b]).collect()
    }

    #[test]
    fn email_addresses_in_text() {
        let t =
            "To: <leah.walker5@pupils.example.sch.uk>, tom@x.org. Not: a@b, @x.y, me@ or é@x.org";
        let got: Vec<&str> = email_spans(t).iter().map(|(a, b)| &t[*a..*b]).collect();
        assert_eq!(got, ["leah.walker5@pupils.example.sch.uk", "tom@x.org"]);
        let long = "x".repeat(100_000) + "@" + &"y.".repeat(100_000);
        assert_eq!(email_spans(&long).len(), 1);
    }

    #[test]
    fn camel_case_is_split() {
        let split = |t: &str| camel_case_split(t).map(|(s, _)| s);
        assert_eq!(
            split("LeahWalker_IEP.pdf").as_deref(),
            Some("Leah Walker_IEP.pdf")
        );
        assert_eq!(
            camel_case_split("WALKERLeah ZoëO’Brien"),
            Some(("WALKERLeah Zoë O’Brien".to_string(), vec![15]))
        );
        assert_eq!(camel_case_split("Leah Walker.pdf"), None);
        assert_eq!(camel_case_split("WALKER_LEAH.pdf"), None);
    }

    #[test]
    fn invisible_characters_are_taken_out() {
        let (t, _) = without_invisible("Le\u{200B}ah Wal\u{AD}ker\u{FEFF}", 0).unwrap();
        assert_eq!(t, "Leah Walker");
        assert!(without_invisible("Leah Walker", 0).is_none());
        assert!(without_invisible("\u{200B}Leah Walker", 3).is_none());
        assert!(without_invisible("Zoë O’Brien – “quoted” Łukasz\u{a0}Nowak €5", 0).is_none());
        let (t, _) = without_invisible("\u{202A}\u{2066}x\u{2069}", 0).unwrap();
        assert_eq!(t, "x");
    }

    proptest::proptest! {
        /// Every kept character's offset moves to where it stands in the new text.
        #[test]
        fn removed_offsets_map_to_the_new_text(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "Leah", " ", "\t", "\n", "é", "’", "–", "\u{200B}", "\u{AD}",
                    "\u{FEFF}", "\u{200E}", "\u{2060}", "\u{180E}", "€", "\u{a0}", "\u{c2}",
                ]),
                0..40,
            ),
        ) {
            let text: String = parts.concat();
            let Some((new, removed)) = without_invisible(&text, 0) else {
                proptest::prop_assert!(!text.chars().any(is_invisible));
                return Ok(());
            };
            let mut at = 0;
            for (i, c) in text.char_indices() {
                if is_invisible(c) {
                    continue;
                }
                proptest::prop_assert_eq!(removed.map(i), at);
                proptest::prop_assert_eq!(new[at..].chars().next(), Some(c));
                at += c.len_utf8();
            }
            proptest::prop_assert_eq!(removed.map(text.len()), new.len());
        }
    }

    #[test]
    fn utf16_without_a_bom() {
        let t = "Surname\tForename\r\nO’Brien\tZoë\r\n";
        let le: Vec<u8> = t.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = t.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(utf16_unmarked(&le), Some(encoding_rs::UTF_16LE));
        assert_eq!(utf16_unmarked(&be), Some(encoding_rs::UTF_16BE));
        assert_eq!(utf16_unmarked(t.as_bytes()), None);
        assert_eq!(utf16_unmarked(b"PK\x03\x04\x14\x00\x00\x00"), None);
        // Mostly non-Latin text (high bytes set) is not guessed.
        let greek: Vec<u8> = "Ελένη Παπαδοπούλου"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(utf16_unmarked(&greek), None);
    }

    #[test]
    fn folding() {
        assert_eq!(name_key("Zoë O’Brien-Smith"), "zoe obrien smith");
        assert_eq!(name_key("ZOE O'BRIEN - SMITH"), "zoe obrien smith");
        assert_eq!(name_key("zoe obrien smith"), "zoe obrien smith");
        assert_eq!(name_key("Zoe\u{308}"), "zoe");
        assert_eq!(name_key("  Mary  Jane "), "mary jane");
        assert_eq!(name_key("Łukasz Nowak"), "lukasz nowak");
        assert_eq!(name_key("Siân"), "sian");
        assert_eq!(name_key("Gri\u{FB03}ths"), "griffiths");
        assert_eq!(name_key("Cli\u{FB00}ord \u{FB01}nn"), "clifford finn");
        assert_eq!(name_key("Ｌｅａｈ　Ｗａｌｋｅｒ"), "leah walker");
    }

    #[test]
    fn word_spans() {
        assert_eq!(words("Olivia Smith's book"), ["Olivia", "Smith", "book"]);
        assert_eq!(words("O’Brien-Smith, Zoë."), ["O’Brien", "Smith", "Zoë"]);
        assert_eq!(words("<b>Olivia</b>"), ["b", "Olivia", "b"]);
        assert_eq!(words("James' bag"), ["James", "bag"]);
        assert_eq!(words("D'Souza's"), ["D'Souza"]);
        assert_eq!(words("12 34"), Vec::<&str>::new());
    }

    #[test]
    fn masking() {
        assert_eq!(mask_name("Olivia Smith"), "O**** S****");
        assert_eq!(mask_name("zoë o’brien-smith"), "Z**** O**** S****");
        assert_eq!(mask_id("B201439623222"), "B************");
    }
}
