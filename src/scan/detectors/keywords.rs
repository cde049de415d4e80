//! special_category: SEN/SEND, EHCP, FSM, pupil premium, child protection, looked-after,
//! medical, exclusion, safeguarding terms… from `patterns/special-category.txt`, as whole
//! words. It counts as pupil data only with a pupil named or identified (the scanner drops it
//! otherwise).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

const TERMS: &str = include_str!("../../../patterns/special-category.txt");

pub struct Keywords {
    insensitive: AhoCorasick,
    exact: AhoCorasick,
    insensitive_terms: Vec<String>,
    exact_terms: Vec<String>,
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
                .build(terms)
                .expect("keyword automaton")
        };
        Keywords {
            insensitive: build(&ins, true),
            exact: build(&exact, false),
            insensitive_terms: ins,
            exact_terms: exact,
        }
    }
}

fn boundary(text: &str, s: usize, e: usize) -> bool {
    let before = text[..s].chars().next_back();
    let after = text[e..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

impl Keywords {
    /// Terms found: (start, end, the term as listed).
    pub fn find<'a>(&'a self, text: &str) -> Vec<(usize, usize, &'a str)> {
        let mut out = Vec::new();
        for m in self.insensitive.find_iter(text) {
            if boundary(text, m.start(), m.end()) {
                out.push((
                    m.start(),
                    m.end(),
                    self.insensitive_terms[m.pattern().as_usize()].as_str(),
                ));
            }
        }
        for m in self.exact.find_iter(text) {
            if boundary(text, m.start(), m.end()) {
                out.push((
                    m.start(),
                    m.end(),
                    self.exact_terms[m.pattern().as_usize()].as_str(),
                ));
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
    }
}
