//! upn, uln, nhs_number, ni_number: candidate spans by the conservative patterns of
//! `shared/reference/identifiers.md`, then the canonical check. A string that fails its check
//! is not a finding. Bare ten-digit numbers (ULN or NHS by one weighted sum) need context: a
//! keyword shortly before, or a keyword in the table's header row; numbers after a phone
//! prefix or keyword are passed over.

use regex::Regex;
use regex_automata::{Input, dfa, meta};

use crate::identifiers::{
    nhs_placeholder, nhs_valid_normalised, nino_valid_normalised, normalise, uln_valid_normalised,
    upn_valid_normalised,
};
use crate::scan::report::FindingKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMatch {
    pub kind: FindingKind,
    pub start: usize,
    pub end: usize,
    /// Canonical (normalised) value.
    pub value: String,
}

pub struct IdDetector {
    /// The five forms as the patterns of one regex: one pass over each window, and each
    /// match says which form it is ([`Form`]). A fully built DFA (the patterns are small and
    /// ASCII): a search of a short window costs no cache or pool lookup.
    any: dfa::regex::Regex,
    uln_kw: Regex,
    nhs_kw: Regex,
    phone_kw: Regex,
}

/// The patterns of [`IdDetector::any`], in its order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Upn,
    Ten,
    NhsSpaced,
    Spaced433,
    Nino,
}

const FORMS: [Form; 5] = [
    Form::Upn,
    Form::Ten,
    Form::NhsSpaced,
    Form::Spaced433,
    Form::Nino,
];

const UPN: &str =
    r"(?-u:\b)[A-HJ-NP-RT-Za-hj-np-rt-z][0-9]{11}[0-9A-HJ-NP-RT-Za-hj-np-rt-z](?-u:\b)";
const TEN: &str = r"(?-u:\b)[0-9]{10}(?-u:\b)";
const NHS_SPACED: &str = r"(?-u:\b)[0-9]{3}(?: [0-9]{3} |-[0-9]{3}-)[0-9]{4}(?-u:\b)";
const SPACED_433: &str = r"(?-u:\b)[0-9]{4}[ -][0-9]{3}[ -][0-9]{3}(?-u:\b)";
const NINO: &str = r"(?-u:\b)[A-CEGHJ-PR-TW-Za-ceghj-pr-tw-z][A-CEGHJ-NPR-TW-Za-ceghj-npr-tw-z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d](?-u:\b)";

impl Default for IdDetector {
    fn default() -> Self {
        IdDetector {
            any: dfa::regex::Regex::new_many(&[UPN, TEN, NHS_SPACED, SPACED_433, NINO]).unwrap(),
            uln_kw: Regex::new(r"(?i)(?-u:\b)(?:uln|unique learner(?: number)?|learner (?:no|number))(?-u:\b)").unwrap(),
            nhs_kw: Regex::new(r"(?i)(?-u:\b)nhs(?-u:\b)").unwrap(),
            phone_kw: Regex::new(r"(?i)(?:\+44|(?-u:\b)0044|(?-u:\b)tel(?-u:\b)|(?-u:\b)phone(?-u:\b)|(?-u:\b)mobile(?-u:\b)|(?-u:\b)mob(?-u:\b)|(?-u:\b)fax(?-u:\b)|(?-u:\b)call(?-u:\b)|(?-u:\b)ring(?-u:\b)|(?-u:\b)telephone(?-u:\b))").unwrap(),
        }
    }
}

fn before(text: &str, start: usize, n: usize) -> &str {
    let mut s = start.saturating_sub(n);
    while !text.is_char_boundary(s) {
        s -= 1;
    }
    &text[s..start]
}

impl IdDetector {
    /// Identifiers in a text. `header` is the header row of a table, if the text is one.
    /// `windows` are the spans around six-digit groups (see `id_windows`); every identifier
    /// lies inside one, so nothing outside them can match.
    pub fn find(
        &self,
        text: &str,
        header: Option<&str>,
        windows: &[(usize, usize)],
    ) -> Vec<IdMatch> {
        let header_uln = header.is_some_and(|h| self.uln_kw.is_match(h));
        let header_nhs = header.is_some_and(|h| self.nhs_kw.is_match(h));
        // Ten digits that may be a ULN or an NHS number: only with a keyword shortly before
        // (or in the table's header), never after a phone prefix.
        let keyed = |start: usize, b: &[u8]| {
            let ctx = before(text, start, 40);
            let phone = self.phone_kw.is_match(before(text, start, 16));
            if uln_valid_normalised(b) {
                (!phone && (header_uln || self.uln_kw.is_match(ctx))).then_some(FindingKind::Uln)
            } else {
                (nhs_valid_normalised(b)
                    && !nhs_placeholder(b)
                    && !phone
                    && (header_nhs || self.nhs_kw.is_match(ctx)))
                .then_some(FindingKind::NhsNumber)
            }
        };
        let mut out = Vec::new();
        for &(ws, we) in windows {
            for m in find_in_span(&self.any, text, ws, we) {
                let (start, end) = (m.start(), m.end());
                let Some(value) = normalise(&text[start..end]) else {
                    continue;
                };
                let n = value.as_bytes();
                let kind = match FORMS[m.pattern().as_usize()] {
                    Form::Upn => upn_valid_normalised(n).then_some(FindingKind::Upn),
                    Form::Ten => keyed(start, n),
                    // 3-3-4 is the NHS display form: no keyword needed for a valid NHS
                    // number; a spaced ULN ("ULN: 905 156 4081") needs its keyword like a
                    // bare one.
                    Form::NhsSpaced => {
                        if nhs_valid_normalised(n)
                            && !nhs_placeholder(n)
                            && !self.phone_kw.is_match(before(text, start, 16))
                        {
                            Some(FindingKind::NhsNumber)
                        } else {
                            keyed(start, n)
                        }
                    }
                    // 4-3-3 ("3386 979 946"): a ULN or NHS number only with its keyword.
                    Form::Spaced433 => keyed(start, n),
                    Form::Nino => nino_valid_normalised(n).then_some(FindingKind::NiNumber),
                };
                if let Some(kind) = kind {
                    out.push(IdMatch {
                        kind,
                        start,
                        end,
                        value,
                    });
                }
            }
        }
        out
    }
}

/// Whether a match stands alone as a word in Unicode terms: the patterns use ASCII word
/// boundaries (fast), so "9995363763é" or "id_9995363763" are ruled out here.
pub fn unicode_bounded(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
        && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Matches of `re` inside `from..to` of `hay`, with `\b` judged against the text on both
/// sides of the span (offsets are into `hay`); each says which of `re`'s patterns it is.
fn find_in_span<'h>(
    re: &'h dfa::regex::Regex,
    hay: &'h str,
    from: usize,
    to: usize,
) -> impl Iterator<Item = regex_automata::Match> + 'h {
    re.find_iter(Input::new(hay).range(from..to))
        .filter(move |m| unicode_bounded(hay, m.start(), m.end()))
}

/// Matches of `re` in `hay` from byte `from` on, with `\b` judged against the text before
/// `from` too (offsets are into `hay`); each says which of `re`'s patterns it is.
pub fn find_from<'h>(
    re: &'h meta::Regex,
    hay: &'h str,
    from: usize,
) -> impl Iterator<Item = regex_automata::Match> + 'h {
    re.find_iter(Input::new(hay).range(from..))
        .filter(move |m| unicode_bounded(hay, m.start(), m.end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(t: &str) -> Vec<(FindingKind, String)> {
        IdDetector::default()
            .find(t, None, &crate::scan::detectors::id_windows(t))
            .into_iter()
            .map(|m| (m.kind, text_of(t, &m)))
            .collect()
    }
    fn text_of(t: &str, m: &IdMatch) -> String {
        t[m.start..m.end].to_string()
    }

    /// The in-text sentences of shared/reference/identifiers.md, with their expected spans
    /// (the phone-number false positive there is suppressed here, as it recommends).
    #[test]
    fn reference_sentences() {
        use FindingKind::*;
        let cases: &[(&str, &[(FindingKind, &str)])] = &[
            ("UPN: K681777719385", &[(Upn, "K681777719385")]),
            ("Her UPN is k681777719385.", &[(Upn, "k681777719385")]),
            (
                "temporary UPN (B87321352265Z) pending CTF",
                &[(Upn, "B87321352265Z")],
            ),
            ("UPN L681777719385 (typo)", &[]),
            ("ref XK681777719385", &[]),
            ("K6817777193857 is not a UPN", &[]),
            ("ULN 8377917385", &[(Uln, "8377917385")]),
            ("ULN:8377917385;", &[(Uln, "8377917385")]),
            ("call 08377917385", &[]),
            ("NHS no. 999 536 3763", &[(NhsNumber, "999 536 3763")]),
            ("NHS number 999-536-3763", &[(NhsNumber, "999-536-3763")]),
            ("NHS 9995363763", &[(NhsNumber, "9995363763")]),
            ("NHS 999 536-3763 (mixed separators)", &[]),
            ("account 129995363763", &[]),
            ("tel 01632 960 001", &[]),
            ("NI number SE 65 25 40 C", &[(NiNumber, "SE 65 25 40 C")]),
            ("NINO se652540c", &[(NiNumber, "se652540c")]),
            ("NI: SE652540 (no suffix)", &[]),
            ("prefix BG652540C is not allocated", &[]),
            ("xSE652540C", &[]),
            ("order SE652540CE", &[]),
            ("mobile +44 7700900000", &[]),
            ("UPN K\u{212A}681777719385", &[]),
            ("９９９５３６３７６３", &[]),
            ("id_9995363763", &[]),
            ("9995363763é", &[]),
        ];
        for (t, want) in cases {
            let got = kinds(t);
            let want: Vec<(FindingKind, String)> =
                want.iter().map(|(k, s)| (*k, s.to_string())).collect();
            assert_eq!(got, want, "{t:?}");
        }
    }

    #[test]
    fn spaced_ulns_need_their_keyword() {
        assert_eq!(
            kinds("ULN: 905 156 4081"),
            [(FindingKind::Uln, "905 156 4081".to_string())]
        );
        assert_eq!(
            kinds("uln 3386 979 946"),
            [(FindingKind::Uln, "3386 979 946".to_string())]
        );
        assert!(kinds("Ref 3386 979 946").is_empty());
        assert!(kinds("ULN? call 0800 123 456").is_empty());
    }

    #[test]
    fn bare_ten_digits_need_context() {
        assert!(kinds("Order 8377917385 shipped").is_empty());
        assert!(kinds("ref 9995363763").is_empty());
        let d = IdDetector::default();
        let t = "Olivia\t8377917385";
        assert_eq!(
            d.find(t, Some("Name\tULN"), &crate::scan::detectors::id_windows(t))
                .len(),
            1
        );
        assert!(kinds("NHS 0000000000").is_empty());
    }
}
