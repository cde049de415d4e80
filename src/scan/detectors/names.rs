//! pupil_name: a pupil's full name from the directory.
//!
//! Legal or preferred forename with legal or preferred surname, the pupil's middle names or
//! middle initials ("Tom H. Clark") optionally between; "Forename Surname", "Surname,
//! Forename", "SURNAME Forename", and family name first as families write it ("Zhang Wei",
//! "Tran Van Minh": every word capitalised, the pupil's middle names between). A common short
//! form of the legal forename (`patterns/short-forms.txt`: "Sam" for Samuel) counts with the
//! surname. Case, accents, apostrophe forms and hyphen spacing do not
//! matter; line breaks and (already removed) markup between the words do not hide a name; a
//! possessive still matches. A forename or surname alone, or initials, is not a full name. When
//! either word is in `patterns/common-words.txt`, only capitalised forms match. In tables, a
//! pupil counts when forename and surname stand in the same row, in any columns, or when a cell
//! holds the name surname first. (A pupil's own email address in the text also names them: see
//! `Detectors::scan_segment`.) A name of someone in the conversation is returned with its
//! [`Discount`] (see [`super::context`]), so the report can say why it did not count.
//!
//! Speed: the letter runs of the text are looked up in the set of forenames' first words
//! ([`WordSet`], one hash probe per word, so the cost does not grow with the roster); only at
//! those candidates are the following words folded and looked up.

use rustc_hash::{FxHashMap, FxHashSet};

pub use super::context::{Discount, OwnNames};
use super::words::WordSet;

use crate::directory::{Directory, PupilId};
use crate::scan::segment::Table;
use crate::text::{Words, fold_word, is_capitalised, is_word_char};

/// One full name found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameMatch {
    pub start: usize,
    pub end: usize,
    pub forename: u32,
    pub surname: u32,
    /// The pupils it may be (more than one when pupils share a name); empty when discounted.
    pub pupils: Vec<PupilId>,
    /// Why it does not count (someone in the conversation), if it does not.
    pub discount: Option<Discount>,
    /// Where the forename is written (it may be a short form of the pupil's).
    pub fspan: (usize, usize),
}

pub struct NameDetector {
    /// Folded first words of forenames that are ASCII letters (looked up along letter runs).
    first_words: WordSet,
    first_list: Vec<(String, u8)>,
    /// Folded first words of forenames that are not ASCII once folded (found word by word).
    non_ascii_first: FxHashSet<String>,
    common: FxHashSet<String>,
    /// Short forms (folded) and the legal forenames (key ids) they stand for.
    short: FxHashMap<String, Vec<u32>>,
}

/// Flags of a forename's first word in the word pass: it is one, and it is a common word.
pub const FIRST_WORD: u8 = 1;
pub const COMMON_WORD: u8 = 2;

const COMMON_WORDS: &str = include_str!("../../../patterns/common-words.txt");
const SHORT_FORMS: &str = include_str!("../../../patterns/short-forms.txt");

/// Short forms (folded) of the directory's forenames: `short → legal forename key ids`.
fn short_forms(dir: &Directory) -> FxHashMap<String, Vec<u32>> {
    let mut out: FxHashMap<String, Vec<u32>> = FxHashMap::default();
    for line in SHORT_FORMS.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((legal, shorts)) = line.split_once(':') else {
            continue;
        };
        let Some(id) = dir
            .key_id(&fold_word(legal.trim()))
            .filter(|k| dir.is_forename(*k))
        else {
            continue;
        };
        for short in shorts.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let ids = out.entry(fold_word(short)).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    out
}

impl NameDetector {
    pub fn build(dir: &Directory) -> NameDetector {
        let common: FxHashSet<String> = COMMON_WORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(fold_word)
            .collect();
        let mut first_words = WordSet::default();
        let mut first_list = Vec::new();
        let mut non_ascii_first = FxHashSet::default();
        for key in dir.forename_keys() {
            let first = key.split(' ').next().unwrap_or(key);
            if first.is_empty() {
                continue;
            }
            let flags = if common.contains(first) {
                FIRST_WORD | COMMON_WORD
            } else {
                FIRST_WORD
            };
            if first_words.insert(first, flags) {
                first_list.push((first.to_string(), flags));
            } else {
                non_ascii_first.insert(first.to_string());
            }
        }
        let short = short_forms(dir);
        for w in short.keys() {
            let flags = if common.contains(w) {
                FIRST_WORD | COMMON_WORD
            } else {
                FIRST_WORD
            };
            if first_words.insert(w, flags) {
                first_list.push((w.clone(), flags));
            }
        }
        first_list.sort();
        first_list.dedup();
        NameDetector {
            first_words,
            first_list,
            non_ascii_first,
            common,
            short,
        }
    }

    /// The forenames' first words made of ASCII letters (folded), with their flags
    /// ([`FIRST_WORD`], [`COMMON_WORD`]): for a shared word pass.
    pub fn first_words(&self) -> &[(String, u8)] {
        &self.first_list
    }

    /// Full names in free text.
    pub fn find(&self, dir: &Directory, text: &str, own: &OwnNames) -> Vec<NameMatch> {
        let mut runs = Vec::new();
        let first_non_ascii = self.first_words.scan(
            text.as_bytes(),
            |s, e, flags| runs.push((s, e, flags)),
            |_, _| {},
        );
        self.find_from_runs(dir, text, own, &runs, first_non_ascii)
    }

    /// Full names in free text, given the letter runs of it that are forenames' first words
    /// with their flags (from [`Self::find`]'s own word pass, or a shared one), and where its
    /// first non-ASCII byte is.
    pub fn find_from_runs(
        &self,
        dir: &Directory,
        text: &str,
        own: &OwnNames,
        runs: &[(usize, usize, u8)],
        first_non_ascii: Option<usize>,
    ) -> Vec<NameMatch> {
        let mut out: Vec<NameMatch> = Vec::new();
        let bytes = text.as_bytes();
        let mut candidates: Vec<usize> = Vec::with_capacity(runs.len());
        for &(s, e, flags) in runs {
            let next = bytes.get(e).copied();
            // A lower-case common word ("will", "may") never starts a name (as in verify),
            // when the run is the whole word.
            if flags & COMMON_WORD != 0
                && bytes[s].is_ascii_lowercase()
                && !next.is_some_and(|b| b >= 0x80 || b == b'\'')
            {
                continue;
            }
            // "Olivia2": not a word of its own. ("Zoe\u{308}" (decomposed), "D'Arcy": the
            // non-ASCII and apostrophe passes look at whole words too; verify reads the whole
            // word either way.)
            if next.is_some_and(|b| b.is_ascii_digit()) {
                continue;
            }
            if s > 0 && prev_is_word(text, s) {
                continue;
            }
            candidates.push(s);
        }
        if let Some(from) = first_non_ascii {
            self.non_ascii_candidates(text, from, &mut candidates);
        }
        self.apostrophe_candidates(text, &mut candidates);
        candidates.sort_unstable();
        candidates.dedup();
        let mut covered_to = 0;
        let mut buf = String::with_capacity(64);
        for s in candidates {
            if s < covered_to {
                continue;
            }
            if let Some(m) = self.verify(dir, text, s, own, &mut buf) {
                covered_to = m.end;
                // A backward match ("SMITH Olivia") may start before an earlier match's end.
                if let Some(last) = out.last()
                    && m.start < last.end
                {
                    continue;
                }
                out.push(m);
            }
        }
        out
    }

    /// Word starts of words that hold non-ASCII letters and fold to a forename's first word.
    fn non_ascii_candidates(&self, text: &str, from: usize, out: &mut Vec<usize>) {
        let bytes = text.as_bytes();
        let mut i = from;
        while i < bytes.len() {
            let Some(pos) = next_non_ascii(bytes, i) else {
                break;
            };
            // Word start: step back over word characters.
            let mut start = pos;
            while start > 0 {
                let prev = text[..start].chars().next_back().expect("non-empty");
                if is_word_char(prev) || crate::text::is_apostrophe(prev) {
                    start -= prev.len_utf8();
                } else {
                    break;
                }
            }
            let mut words = Words::at(text, start);
            match words.next() {
                Some((ws, we)) => {
                    if ws <= pos && pos < we.max(ws + 1) {
                        let folded = fold_word(&text[ws..we]);
                        if self.is_first_word(&folded) {
                            out.push(ws);
                        }
                    }
                    i = we.max(pos + 1);
                }
                None => break,
            }
            while i < bytes.len() && !text.is_char_boundary(i) {
                i += 1;
            }
        }
    }

    /// Word starts of words joined by a straight apostrophe ("D'Arcy") whose folded whole
    /// ("darcy") is a forename's first word.
    fn apostrophe_candidates(&self, text: &str, out: &mut Vec<usize>) {
        let bytes = text.as_bytes();
        for at in memchr::memchr_iter(b'\'', bytes) {
            if at == 0 || !bytes[at - 1].is_ascii_alphabetic() {
                continue;
            }
            if !bytes.get(at + 1).is_some_and(u8::is_ascii_alphabetic) {
                continue;
            }
            let mut start = at;
            while start > 0 && (bytes[start - 1].is_ascii_alphabetic() || bytes[start - 1] == b'\'')
            {
                start -= 1;
            }
            if let Some((ws, we)) = Words::at(text, start).next()
                && ws == start
                && !prev_is_word(text, ws)
                && self.is_first_word(&fold_word(&text[ws..we]))
            {
                out.push(ws);
            }
        }
    }

    fn is_first_word(&self, folded: &str) -> bool {
        self.first_words.get(folded.as_bytes()) != 0 || self.non_ascii_first.contains(folded)
    }

    fn is_common(&self, key: &str) -> bool {
        key.split(' ').any(|w| self.common.contains(w))
    }

    /// The forenames (key ids) a written forename key may be: itself when a pupil has it, and
    /// the legal forenames it is a short form of (one word only).
    fn forename_ids(&self, dir: &Directory, fkey: &str, words: usize) -> Vec<u32> {
        let mut out: Vec<u32> = dir
            .key_id(fkey)
            .filter(|f| dir.is_forename(*f))
            .into_iter()
            .collect();
        if words == 1
            && let Some(legal) = self.short.get(fkey)
        {
            for f in legal {
                if !out.contains(f) {
                    out.push(*f);
                }
            }
        }
        out
    }

    /// The pupils named by forename `f` (written as `fkey`: the same, or a short form) and
    /// the surname written as `skey`, once the conversation's own people are taken out
    /// (under either forename), or why none is left.
    fn named(
        &self,
        dir: &Directory,
        own: &OwnNames,
        (fkey, f): (&str, u32),
        skey: &str,
        pupils: Vec<PupilId>,
    ) -> Result<Vec<PupilId>, Discount> {
        let pupils = own.check(fkey, skey, pupils)?;
        if dir.resolve_key(f) != fkey {
            return own.check(dir.resolve_key(f), skey, pupils);
        }
        Ok(pupils)
    }

    /// Tries a full name around a forename candidate at byte `s`.
    /// `buf` is a scratch buffer, reused from candidate to candidate.
    fn verify(
        &self,
        dir: &Directory,
        text: &str,
        s: usize,
        own: &OwnNames,
        buf: &mut String,
    ) -> Option<NameMatch> {
        // Up to 7 words from s, as long as the gaps between them are name-like; folded into
        // one buffer joined by single spaces, so any run of words is a substring key.
        let mut toks = [(0usize, 0usize); FOLDED_MAX];
        let mut n = 0;
        let mut folded = Folded::new(buf);
        for (a, b) in Words::at(text, s) {
            if n == 0 {
                if a != s {
                    return None;
                }
            } else if !gap_ok(&text[toks[n - 1].1..a])
                // "Leah.Walker" (a file or account name), but not "Leah. Walker"
                && &text[toks[n - 1].1..a] != "."
                && !(is_initial(&text[toks[n - 1].0..toks[n - 1].1])
                    && gap_ok(text[toks[n - 1].1..a].trim_start_matches('.')))
            {
                break;
            }
            let word = folded.push(&text[a..b]);
            // A lower-case common word ("will", "may") can never start a match.
            if n == 0 && !is_capitalised(&text[a..b]) && self.common.contains(word) {
                return None;
            }
            toks[n] = (a, b);
            n += 1;
            // A gap that starts with a tab (the end of a table cell) is never name-like: no
            // need to look for the next word ("Grace<TAB>12/03/2013<TAB>A123…").
            if n == FOLDED_MAX || text.as_bytes().get(b) == Some(&b'\t') {
                break;
            }
        }
        if n == 0 {
            return None;
        }
        let toks = &toks[..n];
        let key = |i: usize, j: usize| folded.key(i, j);
        let caps = |range: std::ops::Range<usize>| {
            toks[range]
                .iter()
                .all(|(a, b)| is_capitalised(&text[*a..*b]))
        };
        // A match of someone in the conversation: returned only when nothing else matches.
        let mut discounted: Option<NameMatch> = None;
        // Forward: Forename [middle names] Surname.
        let mut best: Option<NameMatch> = None;
        for l in 1..=n.min(2) {
            let fkey = key(0, l);
            for f in self.forename_ids(dir, fkey, l) {
                let short = dir.resolve_key(f) != fkey;
                for skip in 0..=2usize {
                    for m in (1..=3usize).rev() {
                        let end = l + skip + m;
                        if end > n {
                            continue;
                        }
                        let skey = key(l + skip, end);
                        let Some(sid) = dir.key_id(skey) else {
                            continue;
                        };
                        let named = dir.pupils_named(f, sid);
                        if named.is_empty() {
                            continue;
                        }
                        if short && shadowed(dir, fkey, sid) {
                            continue;
                        }
                        let mut pupils: Vec<PupilId> = named.to_vec();
                        // Middle initials ("Tom H. Clark") stand for any middle name.
                        let initials =
                            (l..l + skip).all(|i| is_initial(&text[toks[i].0..toks[i].1]));
                        if skip > 0 && !initials {
                            let middle = key(l, l + skip);
                            pupils.retain(|p| {
                                let mk = dir.resolve_key(dir.pupil(*p).middle_names);
                                contains_words(mk, middle)
                            });
                            if pupils.is_empty() {
                                continue;
                            }
                        }
                        if (self.is_common(fkey) || self.is_common(skey)) && !caps(0..end) {
                            continue;
                        }
                        let mut cand = NameMatch {
                            start: toks[0].0,
                            end: toks[end - 1].1,
                            forename: f,
                            surname: sid,
                            pupils: Vec::new(),
                            discount: None,
                            fspan: (toks[0].0, toks[l - 1].1),
                        };
                        match self.named(dir, own, (fkey, f), skey, pupils) {
                            Ok(p) => cand.pupils = p,
                            Err(d) => {
                                cand.discount = Some(d);
                                discounted.get_or_insert(cand);
                                continue;
                            }
                        }
                        if best.as_ref().is_none_or(|b| cand.end > b.end) {
                            best = Some(cand);
                        }
                    }
                }
            }
        }
        if best.is_some() {
            return best;
        }
        // Siblings: "Leah and Tom Walker", "Leah & Tom Walker".
        if let Some(m) = self.sibling(dir, text, toks[0], own) {
            return Some(m);
        }
        self.backward(dir, text, s, toks, &key, own).or(discounted)
    }

    /// Surname first, before the forename at `s` (its words `toks`, folded by `key`):
    /// "Surname, Forename", "SURNAME Forename", and family name first with every word
    /// capitalised ("Zhang Wei", "Kovács Anna"), the pupil's middle names between ("Tran Van
    /// Minh").
    fn backward<'k>(
        &self,
        dir: &Directory,
        text: &str,
        s: usize,
        toks: &[(usize, usize)],
        key: &dyn Fn(usize, usize) -> &'k str,
        own: &OwnNames,
    ) -> Option<NameMatch> {
        // First, from the bytes just before `s` alone, what rules it out for sure (as the full
        // reading below would): a gap that is not commas and spaces after a word, more than
        // one comma, or, without a comma, a word in lower case before a gap that is not
        // spaces. So a forename in a table row ("Wood<TAB>Grace") costs no backward word scan.
        let before = &text[..s];
        let gap_start = before
            .trim_end_matches(|c: char| c == ',' || c.is_whitespace())
            .len();
        let gap = &before[gap_start..];
        let last = before[..gap_start].chars().next_back();
        let spaces = |g: &str| !g.is_empty() && g.chars().all(|c| c == ' ' || c == '\u{a0}');
        if gap.is_empty()
            || gap.matches(',').count() > 1
            || !last.is_some_and(crate::text::is_word_char)
            || (!gap.contains(',')
                && last.is_some_and(char::is_lowercase)
                && !(spaces(gap) && is_capitalised(&text[toks[0].0..toks[0].1])))
        {
            return None;
        }
        let back_from = floor_boundary(text, s.saturating_sub(120));
        let mut prev: Vec<(usize, usize)> = Words::at(text, back_from)
            .take_while(|(_, b)| *b <= s)
            .collect();
        if prev.len() > 4 {
            prev.drain(..prev.len() - 4);
        }
        if prev.is_empty() || prev.last().is_some_and(|(a, _)| *a == s) {
            return None;
        }
        let gap = &text[prev.last().expect("non-empty").1..s];
        let comma = gap.matches(',').count();
        if comma > 1 || !gap.chars().all(|c| c == ',' || c.is_whitespace()) || gap.is_empty() {
            return None;
        }
        let word = |(a, b): (usize, usize)| &text[a..b];
        let fold = |ws: &[(usize, usize)]| {
            let mut k = String::new();
            for (i, w) in ws.iter().enumerate() {
                if i > 0 {
                    k.push(' ');
                }
                crate::text::fold_word_into(word(*w), &mut k);
            }
            k
        };
        let mut discounted = None;
        for l in 1..=toks.len().min(2) {
            let fkey = key(0, l);
            let fcaps = toks[..l].iter().all(|w| is_capitalised(word(*w)));
            for f in self.forename_ids(dir, fkey, l) {
                let short = dir.resolve_key(f) != fkey;
                // Middle names between the surname and the forename: only without a comma.
                for skip in 0..=2usize {
                    if skip > 0 && comma > 0 {
                        break;
                    }
                    for m in (1..=prev.len().saturating_sub(skip)).rev() {
                        let at = prev.len() - skip - m;
                        let sur = &prev[at..at + m];
                        let mid = &prev[at + m..];
                        let all = &prev[at..];
                        if all.windows(2).any(|w| !gap_ok(&text[w[0].1..w[1].0])) {
                            continue;
                        }
                        let skey = fold(sur);
                        let Some(sid) = dir.key_id(&skey) else {
                            continue;
                        };
                        let mut pupils: Vec<PupilId> = dir.pupils_named(f, sid).to_vec();
                        if pupils.is_empty() {
                            continue;
                        }
                        if short && shadowed(dir, fkey, sid) {
                            continue;
                        }
                        if !mid.is_empty() {
                            let middle = fold(mid);
                            pupils.retain(|p| {
                                let mk = dir.resolve_key(dir.pupil(*p).middle_names);
                                contains_words(mk, &middle)
                            });
                            if pupils.is_empty() {
                                continue;
                            }
                        }
                        let all_caps = sur
                            .iter()
                            .all(|w| !word(*w).chars().any(char::is_lowercase));
                        let title_case = all.iter().all(|w| is_capitalised(word(*w))) && fcaps;
                        // Without a comma: SURNAME in capitals, or every word capitalised
                        // with only spaces between (family name first, as written at home).
                        if comma == 0
                            && !all_caps
                            && !(title_case
                                && all
                                    .iter()
                                    .map(|w| w.1)
                                    .zip(all.iter().skip(1).map(|w| w.0).chain([s]))
                                    .all(|(a, b)| spaces(&text[a..b])))
                        {
                            continue;
                        }
                        if (self.is_common(fkey) || self.is_common(&skey)) && !(fcaps && title_case)
                        {
                            continue;
                        }
                        let mut cand = NameMatch {
                            start: sur[0].0,
                            end: toks[l - 1].1,
                            forename: f,
                            surname: sid,
                            pupils: Vec::new(),
                            discount: None,
                            fspan: (toks[0].0, toks[l - 1].1),
                        };
                        match self.named(dir, own, (fkey, f), &skey, pupils) {
                            Ok(p) => {
                                cand.pupils = p;
                                return Some(cand);
                            }
                            Err(d) => {
                                cand.discount = Some(d);
                                discounted.get_or_insert(cand);
                            }
                        }
                    }
                }
            }
        }
        discounted
    }

    /// Pupils whose forename and surname stand in the same row (any columns). Returns the
    /// row index with each match (start/end are 0).
    pub fn find_in_rows(
        &self,
        dir: &Directory,
        text: &str,
        table: &Table,
        own: &OwnNames,
    ) -> Vec<(usize, NameMatch)> {
        let mut out = Vec::new();
        // Reused from row to row.
        let (mut keys, mut whole, mut key, mut seen) =
            (Vec::new(), Vec::new(), String::new(), FxHashSet::default());
        for ri in 0..table.len() {
            let row = table.row(ri);
            keys.clear();
            whole.clear();
            for &(cs, ce) in row {
                let (k, w) = self.cell_keys(dir, &text[cs..ce], &mut key);
                keys.push(k);
                whole.extend(w);
            }
            seen.clear();
            // A cell that is a whole name written surname first ("Clark Tom", as MIS "Name"
            // columns often are); the free-text forms are found in the row's text.
            for &(f, s) in &whole {
                if seen.insert((f, s))
                    && let Some(pupils) =
                        own.others(dir, f, s, dir.pupils_named(f, s).to_vec()).ok()
                {
                    out.push((
                        ri,
                        NameMatch {
                            start: 0,
                            end: 0,
                            forename: f,
                            surname: s,
                            pupils,
                            discount: None,
                            fspan: (0, 0),
                        },
                    ));
                }
            }
            for (i, fk) in keys.iter().enumerate() {
                let Some(f) = fk else { continue };
                if !dir.is_forename(*f) {
                    continue;
                }
                for (j, sk) in keys.iter().enumerate() {
                    let Some(s) = sk else { continue };
                    if i == j {
                        continue;
                    }
                    let named = dir.pupils_named(*f, *s);
                    if named.is_empty() || !seen.insert((*f, *s)) {
                        continue;
                    }
                    if let Some(pupils) = own.others(dir, *f, *s, named.to_vec()).ok() {
                        out.push((
                            ri,
                            NameMatch {
                                start: 0,
                                end: 0,
                                forename: *f,
                                surname: *s,
                                pupils,
                                discount: None,
                                fspan: (0, 0),
                            },
                        ));
                    }
                }
            }
        }
        out
    }
}

impl NameDetector {
    /// The first of two forenames sharing one surname: "Leah and Tom Walker" names Leah Walker
    /// too (when she is a pupil). `f` is the first forename's word.
    fn sibling(
        &self,
        dir: &Directory,
        text: &str,
        f: (usize, usize),
        own: &OwnNames,
    ) -> Option<NameMatch> {
        // Only "and" after a space, or "&", can follow (checked in full below).
        let rest = &text[f.1..];
        let after = rest.trim_start();
        let and = after.len() < rest.len()
            && after
                .get(..3)
                .is_some_and(|w| w.eq_ignore_ascii_case("and"));
        if !(and || after.starts_with('&')) {
            return None;
        }
        let ws: Vec<(usize, usize)> = Words::at(text, f.1).take(5).collect();
        let first = *ws.first()?;
        let gap = &text[f.1..first.0];
        // Where the second forename is: after "and", or right after "&". (Not after a comma:
        // "Olivia, Rose Smith" is as often a list of different people.)
        let second = if text[first.0..first.1].eq_ignore_ascii_case("and")
            && !gap.is_empty()
            && gap.chars().all(char::is_whitespace)
        {
            1
        } else if gap.trim() == "&" {
            0
        } else {
            return None;
        };
        let f2 = *ws.get(second)?;
        if second == 1 && !gap_ok(&text[first.1..f2.0]) {
            return None;
        }
        if !is_capitalised(&text[f2.0..f2.1])
            || !dir
                .key_id(&fold_word(&text[f2.0..f2.1]))
                .is_some_and(|k| dir.is_forename(k))
        {
            return None;
        }
        let fkey = fold_word(&text[f.0..f.1]);
        let fid = dir.key_id(&fkey)?;
        for sl in (1..=2usize).rev() {
            let Some(sur) = ws.get(second + 1..second + 1 + sl) else {
                continue;
            };
            if !gap_ok(&text[f2.1..sur[0].0])
                || sur.windows(2).any(|w| !gap_ok(&text[w[0].1..w[1].0]))
            {
                continue;
            }
            let skey = sur
                .iter()
                .map(|(a, b)| fold_word(&text[*a..*b]))
                .collect::<Vec<_>>()
                .join(" ");
            let Some(sid) = dir.key_id(&skey) else {
                continue;
            };
            if (self.is_common(&fkey) || self.is_common(&skey))
                && !std::iter::once(&f)
                    .chain(sur)
                    .all(|(a, b)| is_capitalised(&text[*a..*b]))
            {
                continue;
            }
            if let Some(pupils) = own
                .others(dir, fid, sid, dir.pupils_named(fid, sid).to_vec())
                .ok()
            {
                // The match covers the first forename only, so the search goes on to find
                // the second pupil ("Leah Walker") in the same words.
                return Some(NameMatch {
                    start: f.0,
                    end: f.1,
                    forename: fid,
                    surname: sid,
                    pupils,
                    discount: None,
                    fspan: f,
                });
            }
        }
        None
    }

    /// The names in a file name: as in text, surname first side by side
    /// ([`Self::surname_first_in_file_name`]), and either order run together
    /// ("LeahWalker.docx", "WalkerLeah_IEP.pdf"), read with a space at each lower-to-upper
    /// case step. Spans are in `name`.
    pub fn in_file_name(&self, dir: &Directory, name: &str, own: &OwnNames) -> Vec<NameMatch> {
        let mut out = self.surname_first_in_file_name(dir, name, own);
        if let Some((split, spaces)) = crate::text::camel_case_split(name) {
            let back = |p: usize| p - spaces.partition_point(|&s| s < p);
            let found = self.find(dir, &split, own).into_iter();
            for mut m in found.chain(self.surname_first_in_file_name(dir, &split, own)) {
                (m.start, m.end) = (back(m.start), back(m.end));
                out.push(m);
            }
        }
        out
    }

    /// Surname then forename, side by side anywhere in a file name ("Walker Leah EHCP.pdf",
    /// "Walker_Leah_report.docx"): the usual way files about a child are named. Only for file
    /// names, where this order is a naming convention rather than prose.
    pub fn surname_first_in_file_name(
        &self,
        dir: &Directory,
        name: &str,
        own: &OwnNames,
    ) -> Vec<NameMatch> {
        let words: Vec<(usize, usize)> = Words::new(name).take(64).collect();
        let mut out = Vec::new();
        for sl in 1..=2usize {
            for i in 0..words.len() {
                let Some(fi) = words.get(i + sl) else { break };
                let sur = &words[i..i + sl];
                let skey = sur
                    .iter()
                    .map(|(a, b)| fold_word(&name[*a..*b]))
                    .collect::<Vec<_>>()
                    .join(" ");
                let fkey = fold_word(&name[fi.0..fi.1]);
                let (Some(s), Some(f)) = (dir.key_id(&skey), dir.key_id(&fkey)) else {
                    continue;
                };
                let caps = sur
                    .iter()
                    .chain(std::iter::once(fi))
                    .all(|(a, b)| is_capitalised(&name[*a..*b]));
                if (self.is_common(&fkey) || self.is_common(&skey)) && !caps {
                    continue;
                }
                if let Some(pupils) = own.others(dir, f, s, dir.pupils_named(f, s).to_vec()).ok() {
                    out.push(NameMatch {
                        start: sur[0].0,
                        end: fi.1,
                        forename: f,
                        surname: s,
                        pupils,
                        discount: None,
                        fspan: *fi,
                    });
                }
            }
        }
        out
    }

    /// One table cell read once: its directory key (as [`crate::text::name_key`] folds it;
    /// the empty key for a cell without a letter; `None` for an empty or over-long cell or
    /// one that is no key), and the pupil it names when it is a whole name written surname
    /// first ("Clark Tom", "Clark Tom H": 2 to 5 words). `buf` is a scratch buffer, reused
    /// from cell to cell.
    fn cell_keys(
        &self,
        dir: &Directory,
        cell: &str,
        buf: &mut String,
    ) -> (Option<u32>, Option<(u32, u32)>) {
        let cell = cell.trim();
        if cell.is_empty() || cell.len() > 60 {
            return (None, None);
        }
        if cell
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_alphabetic())
        {
            return (dir.key_id(""), None);
        }
        let mut words = [(0usize, 0usize); FOLDED_MAX];
        let mut n = 0;
        // The name fold drops the one-letter words a key starts with ("J Smith" → "smith")
        // and empty ones anywhere; the folded words keep them.
        let (mut lead, mut empty_later) = (0, false);
        let mut folded = Folded::new(buf);
        for (a, b) in Words::new(cell) {
            if n == FOLDED_MAX {
                // More words than a name has: the key alone, folded again.
                crate::text::name_key_into(cell, buf);
                return (dir.key_id(buf), None);
            }
            let len = folded.push(&cell[a..b]).len();
            if lead == n && len <= 1 {
                lead += 1;
            } else if len == 0 {
                empty_later = true;
            }
            words[n] = (a, b);
            n += 1;
        }
        let surname_first = if (2..=5).contains(&n) && cell.as_bytes().contains(&b' ') {
            self.surname_first(dir, cell, &words[..n], &folded)
        } else {
            None
        };
        let key = if empty_later {
            crate::text::name_key_into(cell, buf);
            dir.key_id(buf)
        } else if lead == n {
            dir.key_id("")
        } else {
            dir.key_id(folded.key(lead, n))
        };
        (key, surname_first)
    }

    /// "Surname Forename [middle names or initials]": the cell's `words`, folded.
    fn surname_first(
        &self,
        dir: &Directory,
        cell: &str,
        words: &[(usize, usize)],
        folded: &Folded,
    ) -> Option<(u32, u32)> {
        let n = words.len();
        let key = |i: usize, j: usize| folded.key(i, j);
        for sl in 1..=2.min(n - 1) {
            let skey = key(0, sl);
            let Some(s) = dir.key_id(skey) else { continue };
            for fl in 1..=2.min(n - sl) {
                let fkey = key(sl, sl + fl);
                let Some(f) = dir.key_id(fkey) else { continue };
                if dir.pupils_named(f, s).is_empty()
                    || n - sl - fl > 2
                    || ((self.is_common(fkey) || self.is_common(skey))
                        && !words[..sl + fl]
                            .iter()
                            .all(|(a, b)| is_capitalised(&cell[*a..*b])))
                {
                    continue;
                }
                return Some((f, s));
            }
        }
        None
    }
}

/// The most words [`Folded`] holds (a name read from the text: forenames, middle names,
/// surnames).
const FOLDED_MAX: usize = 7;

/// Words folded into one buffer joined by single spaces, so that any run of them,
/// `key(i, j)`, is a directory key without building it again.
struct Folded<'b> {
    buf: &'b mut String,
    spans: [(usize, usize); FOLDED_MAX],
    n: usize,
}

impl<'b> Folded<'b> {
    fn new(buf: &'b mut String) -> Self {
        buf.clear();
        Folded {
            buf,
            spans: [(0, 0); FOLDED_MAX],
            n: 0,
        }
    }

    /// Adds the next word (at most [`FOLDED_MAX`]); its folded form.
    fn push(&mut self, word: &str) -> &str {
        if self.n > 0 {
            self.buf.push(' ');
        }
        let start = self.buf.len();
        crate::text::fold_word_into(word, self.buf);
        self.spans[self.n] = (start, self.buf.len());
        self.n += 1;
        &self.buf[start..]
    }

    /// Words `i..j`, folded and joined.
    fn key(&self, i: usize, j: usize) -> &str {
        &self.buf[self.spans[i].0..self.spans[j - 1].1]
    }
}

/// Whether a pupil has the short form `fkey` as their own forename with surname `sid`: then
/// "Sam Okafor" is that pupil, never Samuel Okafor.
fn shadowed(dir: &Directory, fkey: &str, sid: u32) -> bool {
    dir.key_id(fkey)
        .is_some_and(|k| !dir.pupils_named(k, sid).is_empty())
}

fn prev_is_word(text: &str, s: usize) -> bool {
    text[..s]
        .chars()
        .next_back()
        .is_some_and(|c| is_word_char(c) || c.is_ascii_digit())
}

/// The first byte at or after `from` that is not ASCII (eight bytes a step).
fn next_non_ascii(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let high = w & 0x8080_8080_8080_8080;
        if high != 0 {
            return Some(i + (high.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|c| *c >= 0x80).map(|o| i + o)
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Between two words of one name: spaces and line breaks, hyphens (any spacing), quote
/// markers of replies ("> "), emphasis marks; nothing that ends a sentence or a cell.
/// A capital letter standing alone: a middle initial.
fn is_initial(word: &str) -> bool {
    let mut c = word.chars();
    c.next().is_some_and(char::is_uppercase) && c.next().is_none()
}

fn gap_ok(gap: &str) -> bool {
    gap.len() <= 24
        && gap.chars().all(|c| {
            (c.is_whitespace() && c != '\t')
                || matches!(
                    c,
                    '-' | '‐' | '‑' | '–' | '>' | '*' | '_' | '\u{200b}' | '\u{ad}'
                )
        })
}

/// Whether `words` (space-separated) stand as consecutive whole words in `hay`.
fn contains_words(hay: &str, words: &str) -> bool {
    let h: Vec<&str> = hay.split(' ').collect();
    let w: Vec<&str> = words.split(' ').collect();
    !w.is_empty() && h.windows(w.len()).any(|win| win == w.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::PupilRecord;

    fn dir() -> Directory {
        let mut d = Directory::default();
        for (f, s, pf, m) in [
            ("Olivia", "Smith", "", "Jane"),
            ("William", "Young", "Will", ""),
            ("Grace", "Wood", "", ""),
            ("Zoë", "O’Brien-Smith", "", ""),
            ("Rose", "Hill", "", ""),
            ("Anna-Maria", "Evans", "", ""),
            ("Łukasz", "Nowak", "", ""),
            ("D'Arcy", "Evans", "", ""),
            ("Wei", "Zhang", "", ""),
            ("Minh", "Tran", "", "Van"),
            ("Anna", "Kovács", "", ""),
            ("Samuel", "Okafor", "", ""),
            ("Henry", "Clark", "", ""),
            ("Harry", "Lee", "", ""),
            ("Henry", "Lee", "", ""),
        ] {
            d.add_pupil(
                0,
                PupilRecord {
                    legal_forename: f.into(),
                    legal_surname: s.into(),
                    preferred_forename: pf.into(),
                    middle_names: m.into(),
                    ..Default::default()
                },
            );
        }
        d.finish();
        d
    }

    fn found(text: &str) -> Vec<String> {
        let d = dir();
        let det = NameDetector::build(&d);
        det.find(&d, text, &OwnNames::default())
            .iter()
            .map(|m| d.full_name_unmasked(m.pupils[0]))
            .collect()
    }

    proptest::proptest! {
        // Cheap cases; the rarer shapes (an empty word after a kept one) need many.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// A table cell read once gives the key the name fold gives it.
        #[test]
        fn cell_keys_fold_cells_as_names(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "Olivia", "SMITH", "Anna-Maria", "Anna", "Maria", "O’Brien-Smith", "o'brien",
                    "Zoë", "Zoe\u{308}", "J", "J.", "Łukasz", "12/03/2013", "7A", "é", "x",
                    "and", "Smith's", "\u{308}", "A123456789012",
                ]),
                0..9,
            ),
            seps in proptest::collection::vec(
                proptest::sample::select(vec![" ", "  ", "-", "", ", ", "\u{a0}"]),
                9,
            ),
        ) {
            let cell: String = parts.iter().zip(&seps).flat_map(|(p, s)| [*p, *s]).collect();
            let d = dir();
            let det = NameDetector::build(&d);
            let c = cell.trim();
            let expected = if c.is_empty() || c.len() > 60 {
                None
            } else {
                d.key_id(&crate::text::name_key(c))
            };
            proptest::prop_assert_eq!(det.cell_keys(&d, &cell, &mut String::new()).0, expected);
        }
    }

    #[test]
    fn forms_of_a_full_name() {
        for t in [
            "Olivia Smith was absent",
            "olivia smith was absent",
            "OLIVIA SMITH",
            "Smith, Olivia (7A)",
            "SMITH Olivia",
            "Olivia Jane Smith",
            "Olivia\r\n  Smith",
            "> Olivia\n> Smith",
            "Olivia Smith's coursework",
            "Olivia Smith’s coursework",
            "Olivia\u{a0}Smith",
            "Olivia J. Smith",
            "Olivia J Smith",
            "OLIVIA J. SMITH",
            "Olivia K. L. Smith",
            "SMITH\tOlivia",
            "SMITH  Olivia",
            "Smith,\nOlivia",
            "Smith ,  Olivia",
            "the list: SMITH Olivia",
        ] {
            assert_eq!(found(t), ["Olivia Smith"], "{t:?}");
        }
        // Surname first needs a comma, capitals, or every word capitalised with only spaces
        // between, and nothing else between.
        for t in [
            "smith Olivia",
            "Smith olivia",
            "Smith\nOlivia",
            "Smith,, Olivia",
            "Smith: Olivia",
            "SMITH's Olivia",
        ] {
            assert!(found(t).is_empty(), "{t:?}");
        }
    }

    #[test]
    fn family_name_first_as_families_write_it() {
        for (t, who) in [
            ("Smith Olivia", "Olivia Smith"),
            ("Zhang Wei will be collected by her aunt", "Wei Zhang"),
            ("please ask Zhang Wei", "Wei Zhang"),
            ("Tran Van Minh", "Minh Tran"),
            ("TRAN Van Minh", "Minh Tran"),
            ("Kovács Anna", "Anna Kovács"),
            ("Kovacs Anna", "Anna Kovács"),
            ("Smith Olivia Jane", "Olivia Smith"),
        ] {
            assert_eq!(found(t), [who], "{t:?}");
        }
        // Lower case, a line break, or a middle name that is not the pupil's: no.
        for t in [
            "zhang wei",
            "Zhang\nWei",
            "Tran Thi Minh",
            "Zhang, and Wei",
            "Tran. Van Minh",
        ] {
            assert!(found(t).is_empty(), "{t:?} -> {:?}", found(t));
        }
    }

    #[test]
    fn short_forms_with_the_surname() {
        for (t, who) in [
            ("Sam Okafor was late", "Samuel Okafor"),
            ("SAM OKAFOR", "Samuel Okafor"),
            ("Okafor, Sam", "Samuel Okafor"),
            ("Okafor Sam", "Samuel Okafor"),
            ("Harry Clark", "Henry Clark"),
        ] {
            assert_eq!(found(t), [who], "{t:?}");
        }
        // A short form alone, or with another surname, is nobody.
        for t in ["Sam was late", "Sam Smith", "Sammy O."] {
            assert!(found(t).is_empty(), "{t:?} -> {:?}", found(t));
        }
        // Harry Lee is a pupil in their own right: "Harry Lee" is Harry, not Henry Lee.
        assert_eq!(found("Harry Lee"), ["Harry Lee"]);
        // The sender's own name, written in short: not a finding.
        let d = dir();
        let det = NameDetector::build(&d);
        let mut own = OwnNames::default();
        own.add_display_name("Sam Okafor", Discount::Sender);
        let m = det.find(&d, "Thanks, Sam Okafor", &own);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].discount, Some(Discount::Sender));
    }

    #[test]
    fn accents_apostrophes_hyphens() {
        for t in [
            "Zoë O’Brien-Smith",
            "Zoe O'Brien-Smith",
            "ZOE OBRIEN SMITH",
            "zoe o'brien - smith",
            "Zoe\u{308} O’Brien Smith",
            "O’Brien-Smith, Zoë",
        ] {
            assert_eq!(found(t), ["Zoë O’Brien-Smith"], "{t:?}");
        }
        assert_eq!(found("Anna Maria Evans"), ["Anna-Maria Evans"]);
        assert_eq!(
            found("Lukasz Nowak and Łukasz Nowak"),
            ["Łukasz Nowak", "Łukasz Nowak"]
        );
        // An apostrophe inside the forename, straight or curly, or left out.
        for t in [
            "D'Arcy Evans",
            "D’Arcy Evans",
            "DArcy Evans",
            "d'arcy evans's",
        ] {
            assert_eq!(found(t), ["D'Arcy Evans"], "{t:?}");
        }
        assert!(found("D'Arcy2 Evans").is_empty());
    }

    #[test]
    fn siblings_sharing_a_surname() {
        // Olivia Smith and Grace Wood are pupils; "Grace Smith" is not.
        assert_eq!(found("Olivia and Grace Smith were late"), ["Olivia Smith"]);
        assert_eq!(
            found("Grace and Olivia Smith were late"),
            ["Olivia Smith"],
            "Grace Smith is no pupil; Olivia Smith still found after the sibling check"
        );
        assert_eq!(found("Olivia & Rose Smith"), ["Olivia Smith"]);
        // However the joining word is spaced or cased.
        for t in [
            "Olivia&Rose Smith",
            "Olivia\nAND Rose Smith",
            "Olivia  and  Rose Smith",
        ] {
            assert_eq!(found(t), ["Olivia Smith"], "{t:?}");
        }
        assert!(
            found("Olivia, Rose Smith")
                .iter()
                .all(|n| n != "Olivia Smith")
        );
        assert!(found("Olivia and the Smith family").is_empty());
        assert!(found("Olivia and grace Smith").is_empty());
    }

    #[test]
    fn surname_first_only_in_file_names() {
        let d = dir();
        let det = NameDetector::build(&d);
        let own = OwnNames::default();
        let got = |t: &str| det.surname_first_in_file_name(&d, t, &own).len();
        assert_eq!(got("Smith_Olivia_report.docx"), 1);
        assert_eq!(got("SMITH Olivia EHCP.pdf"), 1);
        assert_eq!(got("Young Will.pdf"), 1);
        assert_eq!(got("young will.pdf"), 0);
        assert_eq!(got("Olivia report.pdf"), 0);
        assert_eq!(found("Olivia.Smith"), ["Olivia Smith"]);
    }

    #[test]
    fn not_a_full_name() {
        for t in [
            "Olivia was absent",
            "Smith was absent",
            "O. Smith",
            "Olivia S.",
            "Olivia. Smith left",
            "Olivia j. Smith",
            "Olivia Jones Smith",
            "Olivia Jo. Smith",
            "smith olivia",
            "Olivias Smith",
            "xOlivia Smith",
        ] {
            assert!(found(t).is_empty(), "{t:?} -> {:?}", found(t));
        }
    }

    #[test]
    fn common_words_need_capitals() {
        assert!(found("we will young people to do better").is_empty());
        assert!(found("by the grace wood of the forest").is_empty());
        assert_eq!(found("Will Young is in 8B"), ["William Young"]);
        assert_eq!(
            found("Grace Wood and Rose Hill"),
            ["Grace Wood", "Rose Hill"]
        );
        assert!(found("the rose hill walk").is_empty());
    }

    #[test]
    fn own_name_is_not_a_finding() {
        let d = dir();
        let det = NameDetector::build(&d);
        let f = d.key_id("olivia").unwrap();
        let s = d.key_id("smith").unwrap();
        let mut own = OwnNames::default();
        own.add_pair(d.resolve_key(f), d.resolve_key(s), Discount::Sender);
        let m = det.find(&d, "Regards, Olivia Smith", &own);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].discount, Some(Discount::Sender));
        assert!(m[0].pupils.is_empty());
    }

    /// The same-row rule over these rows, as a table segment holds them.
    fn in_rows(
        det: &NameDetector,
        d: &Directory,
        rows: Vec<Vec<String>>,
    ) -> Vec<(usize, NameMatch)> {
        let seg = crate::scan::segment::Segment::table(crate::scan::segment::Location::Body, rows);
        det.find_in_rows(
            d,
            &seg.text,
            seg.rows.as_ref().unwrap(),
            &OwnNames::default(),
        )
    }

    #[test]
    fn same_row_in_tables() {
        let d = dir();
        let det = NameDetector::build(&d);
        let rows = vec![
            vec!["Surname".to_string(), "Year".into(), "Forename".into()],
            vec!["Smith".to_string(), "7".into(), "Olivia".into()],
            vec!["Wood".to_string(), "8".into(), "Rose".into()],
        ];
        let m = in_rows(&det, &d, rows);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, 1);
        // A "Name" column written surname first.
        let rows = vec![
            vec!["Name".to_string(), "Reg".into()],
            vec!["Smith Olivia".to_string(), "7A".into()],
            vec!["SMITH Olivia Jane".to_string(), "7A".into()],
            vec!["Young Will".to_string(), "8B".into()],
            vec!["young will".to_string(), "8B".into()],
            vec!["Smith Grace".to_string(), "7A".into()],
            vec!["Smith and Olivia were".to_string(), "7A".into()],
        ];
        let m = in_rows(&det, &d, rows);
        let at: Vec<usize> = m.iter().map(|(r, _)| *r).collect();
        assert_eq!(at, vec![1, 2, 3], "{m:?}");
    }
}
