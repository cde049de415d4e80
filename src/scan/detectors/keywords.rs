//! special_category: SEN/SEND, EHCP, FSM, pupil premium, child protection, looked-after,
//! medical, exclusion, safeguarding terms… from `patterns/special-category.txt`, as whole
//! words. It counts as pupil data only with a pupil named or identified (the scanner drops it
//! otherwise).
//!
//! Terms are found from their first words: the word pass ([`WordSet`]) says where a word
//! that begins some term stands, and only there are the term automata run, anchored.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Anchored, Input, MatchKind, StartKind};

use super::words::WordSet;

const TERMS: &str = include_str!("../../../patterns/special-category.txt");

pub struct Keywords {
    insensitive: AhoCorasick,
    exact: AhoCorasick,
    insensitive_terms: Vec<String>,
    exact_terms: Vec<String>,
    /// The first word of every term (its leading ASCII letters), lower case, with whether it
    /// starts a term of any case ([`ANY_CASE`]) or one written exactly ([`EXACT`]).
    first_words: Vec<(String, u8)>,
    first_set: WordSet,
}

/// Flags of a term's first word: it starts a case-insensitive term, an exact-case one.
pub const ANY_CASE: u8 = 1;
pub const EXACT: u8 = 2;

/// The leading ASCII letters of a term: where a match of it can start.
fn first_word(term: &str) -> &str {
    let end = term
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(term.len());
    &term[..end]
}

impl Default for Keywords {
    fn default() -> Self {
        let (mut ins, mut exact) = (Vec::new(), Vec::new());
        for line in TERMS.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.strip_prefix('=') {
                Some(t) => exact.push(t.to_string()),
                None => ins.push(line.to_string()),
            }
        }
        let build = |terms: &[String], ci: bool| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(ci)
                .match_kind(MatchKind::LeftmostLongest)
                .start_kind(StartKind::Anchored)
                .build(terms)
                .expect("keyword automaton")
        };
        let mut first_words: Vec<(String, u8)> = Vec::new();
        for (terms, flag) in [(&ins, ANY_CASE), (&exact, EXACT)] {
            for t in terms.iter() {
                let w = first_word(t);
                assert!(
                    !w.is_empty(),
                    "special-category term {t:?} must start with a letter"
                );
                first_words.push((w.to_ascii_lowercase(), flag));
            }
        }
        first_words.sort();
        first_words.dedup();
        let mut first_set = WordSet::default();
        for (w, flag) in &first_words {
            first_set.insert(w, *flag);
        }
        Keywords {
            insensitive: build(&ins, true),
            exact: build(&exact, false),
            insensitive_terms: ins,
            exact_terms: exact,
            first_words,
            first_set,
        }
    }
}

fn boundary(text: &str, s: usize, e: usize) -> bool {
    let before = text[..s].chars().next_back();
    let after = text[e..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

impl Keywords {
    /// The words a term can start with (lower case) and their flags: for a shared word pass.
    pub fn first_words(&self) -> &[(String, u8)] {
        &self.first_words
    }

    /// Terms found: (start, end, the term as listed).
    pub fn find<'a>(&'a self, text: &str) -> Vec<(usize, usize, &'a str)> {
        let mut starts = Vec::new();
        self.first_set
            .hits(text.as_bytes(), |s, _, flags| starts.push((s, flags)));
        self.find_at(text, &starts)
    }

    /// Terms starting at the given word starts (where a term's first word stands, with its
    /// flags: which terms it starts).
    pub fn find_at<'a>(
        &'a self,
        text: &str,
        starts: &[(usize, u8)],
    ) -> Vec<(usize, usize, &'a str)> {
        let mut out = Vec::new();
        for &(s, flags) in starts {
            for (ac, terms, flag) in [
                (&self.insensitive, &self.insensitive_terms, ANY_CASE),
                (&self.exact, &self.exact_terms, EXACT),
            ] {
                if flags & flag == 0 {
                    continue;
                }
                let input = Input::new(text).range(s..).anchored(Anchored::Yes);
                if let Some(m) = ac.find(input)
                    && boundary(text, m.start(), m.end())
                {
                    out.push((m.start(), m.end(), terms[m.pattern().as_usize()].as_str()));
                }
            }
        }
        // Longest first at each position, then drop terms inside a longer one ("SEN" in
        // "SEN support").
        out.sort_by_key(|(s, e, _)| (*s, std::cmp::Reverse(*e)));
        let mut kept: Vec<(usize, usize, &str)> = Vec::with_capacity(out.len());
        for t in out {
            if kept.last().is_none_or(|k| t.0 >= k.1) {
                kept.push(t);
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed term at every word start, checked one by one: what `find` must equal.
    fn find_reference<'a>(k: &'a Keywords, text: &str) -> Vec<(usize, usize, &'a str)> {
        let mut out = Vec::new();
        for (terms, ci) in [(&k.insensitive_terms, true), (&k.exact_terms, false)] {
            for i in (0..text.len()).filter(|i| text.is_char_boundary(*i)) {
                let best = terms
                    .iter()
                    .filter(|t| {
                        text.get(i..i + t.len()).is_some_and(|w| {
                            if ci {
                                w.eq_ignore_ascii_case(t)
                            } else {
                                w == t.as_str()
                            }
                        })
                    })
                    .max_by_key(|t| t.len());
                if let Some(t) = best
                    && boundary(text, i, i + t.len())
                {
                    out.push((i, i + t.len(), t.as_str()));
                }
            }
        }
        out.sort_by_key(|(s, e, _)| (*s, std::cmp::Reverse(*e)));
        let mut kept: Vec<(usize, usize, &str)> = Vec::new();
        for t in out {
            if kept.last().is_none_or(|k| t.0 >= k.1) {
                kept.push(t);
            }
        }
        kept
    }

    proptest::proptest! {
        #[test]
        fn found_from_first_words_as_term_by_term(parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "SEN", "sen", "SEN support", "child", "child in need", "in", "need", "CP plan",
                "PP+", "looked-after child", "looked", "safeguarding", "x", "2", " ", "-", "é", "\n",
            ]),
            0..40,
        )) {
            let k = Keywords::default();
            let text = parts.concat();
            proptest::prop_assert_eq!(k.find(&text), find_reference(&k, &text));
        }
    }

    #[test]
    fn terms() {
        let k = Keywords::default();
        let t: Vec<&str> = k
            .find("She has an EHCP and gets free school meals; SEN support.")
            .iter()
            .map(|x| x.2)
            .collect();
        assert_eq!(t, ["EHCP", "free school meals", "SEN support"]);
        assert!(k.find("I will send it; the sentence sent").is_empty());
        assert!(k.find("lack of care").is_empty());
        assert_eq!(k.find("is LAC").len(), 1);
        assert_eq!(
            k.find("PP+ funding; CP plan; looked-after child")
                .iter()
                .map(|x| x.2)
                .collect::<Vec<_>>(),
            ["PP+", "CP plan", "looked-after child"]
        );
        // Found in any case where listed so, and wherever the text starts or ends.
        assert_eq!(k.find("SAFEGUARDING").len(), 1);
        assert_eq!(k.find("(safeguarding)").len(), 1);
        assert!(k.find("xsafeguarding").is_empty());
        assert!(k.find("2safeguarding").is_empty());
    }
}
