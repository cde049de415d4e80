//! date_of_birth: a date in a common form (12/03/2013, 12-03-13, 12 March 2013, 12-Mar-2013,
//! March 12, 2013, 2013-03-12, 2013-03-12T00:00:00) that could be a pupil's birth date (2 to
//! 25 years ago), standing near a pupil's name or after a "DOB" / "date of birth" label (or
//! in a table with such a header).

use chrono::{Datelike, NaiveDate};
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, meta};

/// How far before a date a "DOB" label may stand.
pub const LABEL_REACH: usize = 40;

pub struct DateDetector {
    /// Every form as the patterns of one regex ([`Form`] order): one pass over the text; each
    /// match says its form, whose groups are then read from the match alone.
    any: meta::Regex,
    /// DOB labels; in free text searched anchored where one of [`LABEL_FIRST_WORDS`] stands.
    label: meta::Regex,
}

/// The letters each DOB label starts with, as a whole run of ASCII letters ("d" of "d.o.b"):
/// where the shared word pass says one stands, a label is looked for.
pub const LABEL_FIRST_WORDS: [&str; 7] =
    ["dob", "d", "date", "born", "birth", "birthdate", "birthday"];

const LABEL: &str = r"(?i)(?:(?-u:\b)dob(?-u:\b)|(?-u:\b)d\.o\.b(?-u:\b)\.?|(?-u:\b)date of birth(?-u:\b)|(?-u:\b)born(?-u:\b)|(?-u:\b)birth ?date(?-u:\b)|(?-u:\b)birthday(?-u:\b))";

/// The patterns of [`DateDetector::any`], in its order.
#[derive(Clone, Copy)]
enum Form {
    /// day, month, year
    Numeric,
    /// year, month, day
    Iso,
    /// day, month name, year
    Words,
    /// month name, day, year
    MonthFirst,
}

const FORMS: [Form; 4] = [Form::Numeric, Form::Iso, Form::Words, Form::MonthFirst];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateMatch {
    pub start: usize,
    pub end: usize,
    pub date: NaiveDate,
}

/// Every spelling of a month the date forms accept (each month's longest first, as the
/// pattern prefers it), in any ASCII case. In a date a month always stands as a whole run of
/// ASCII letters (a separator or space before it, a dot, comma, separator or space after
/// it): where the shared word pass finds one, dates with month names are looked for.
pub const MONTH_WORDS: [&str; 25] = [
    "january",
    "jan",
    "february",
    "feb",
    "march",
    "mar",
    "april",
    "apr",
    "may",
    "june",
    "jun",
    "july",
    "jul",
    "august",
    "aug",
    "september",
    "sepember",
    "sept",
    "sep",
    "october",
    "oct",
    "november",
    "nov",
    "december",
    "dec",
];

/// The month of the date forms as a capture group: [`MONTH_WORDS`], ASCII case-insensitive
/// (so that a month is always a run the word pass sees).
fn month_group() -> String {
    format!("((?i-u:{}))", MONTH_WORDS.join("|"))
}

const NUMERIC: &str = r"(?-u:\b)([0-3]?[0-9])[/.\-]([01]?[0-9])[/.\-]([0-9]{4}|[0-9]{2})(?-u:\b)";
/// ISO, with the time part exports add ("2013-03-12T00:00:00", "…Z", "…+01:00").
const ISO: &str = r"(?-u:\b)([12][0-9]{3})-([01][0-9])-([0-3][0-9])(?:T[0-9:.]+(?:Z|[+\-][0-9]{2}:?[0-9]{2})?)?(?-u:\b)";

impl Default for DateDetector {
    fn default() -> Self {
        let month = month_group();
        // "12 March 2013", "12th of March 2013", Excel's "12-Mar-2013" / "12-Mar-13". At most
        // 8 white-space characters between the parts: a whole date stays within the reach of
        // its digits (`DIGIT_PAD`), so every way of windowing the text finds the same dates
        // (words 40 spaces apart are no date).
        let words = format!(
            r"(?-u:\b)([0-3]?[0-9])(?:st|nd|rd|th)?(?:\s{{1,8}}of)?(?:\s{{1,8}}|\s{{0,8}}[\-/.]\s{{0,8}}){month}\.?,?(?:\s{{1,8}}|\s{{0,8}}[\-/.]\s{{0,8}})([12][0-9]{{3}}|[0-9]{{2}})(?-u:\b)"
        );
        // "March 12, 2013", "March 12th 2013".
        let month_first = format!(
            r"(?-u:\b){month}\.?\s{{1,8}}([0-3]?[0-9])(?:st|nd|rd|th)?,?\s{{1,8}}([12][0-9]{{3}})(?-u:\b)"
        );
        DateDetector {
            any: meta::Regex::new_many(&[
                NUMERIC.to_string(),
                ISO.to_string(),
                format!("(?i){words}"),
                format!("(?i){month_first}"),
            ])
            .unwrap(),
            label: meta::Regex::new(LABEL).unwrap(),
        }
    }
}

/// The first three runs of digits in a date written in digits: its three groups, for the
/// numeric and ISO forms (whose groups are exactly those runs), without a captures search.
fn first_digit_groups(date: &str) -> (&str, &str, &str) {
    let mut g = date
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty());
    (
        g.next().unwrap_or(""),
        g.next().unwrap_or(""),
        g.next().unwrap_or(""),
    )
}

fn month_number(m: &str) -> Option<u32> {
    let m = m.to_ascii_lowercase();
    let names = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    names
        .iter()
        .position(|n| m.starts_with(n))
        .map(|p| p as u32 + 1)
}

impl DateDetector {
    /// Dates in the text that could be a pupil's birth date, given the current year.
    /// `windows` are the regions holding digits (every date form has some).
    pub fn dates(&self, text: &str, this_year: i32, windows: &[(usize, usize)]) -> Vec<DateMatch> {
        let mut out = Vec::new();
        let mut caps = self.any.create_captures();
        for &(ws, we) in windows {
            self.dates_in(&text[..we], ws, this_year, &mut caps, &mut out);
        }
        out.sort_by_key(|m| m.start);
        out.dedup_by(|a, b| a.start < b.end);
        out
    }

    fn dates_in(
        &self,
        text: &str,
        from: usize,
        this_year: i32,
        caps: &mut Captures,
        out: &mut Vec<DateMatch>,
    ) {
        let plausible = |d: NaiveDate| (this_year - 25..=this_year - 2).contains(&d.year());
        let year = |y: &str| -> i32 {
            let n: i32 = y.parse().unwrap_or(0);
            if y.len() == 2 {
                if 2000 + n <= this_year {
                    2000 + n
                } else {
                    1900 + n
                }
            } else {
                n
            }
        };
        // Find with the DFA, then take the groups of the matching form from the match
        // alone: a captures search over the whole text costs several times more.
        for m in super::identifiers::find_from(&self.any, text, from) {
            let form = FORMS[m.pattern().as_usize()];
            let (y, mo, d) = match form {
                // All digits: a match's first three digit groups are its three groups.
                Form::Numeric | Form::Iso => {
                    let (a, b, c) = first_digit_groups(&text[m.range()]);
                    match form {
                        Form::Numeric => (Some(year(c)), b.parse().ok(), a.parse().ok()),
                        _ => (a.parse().ok(), b.parse().ok(), c.parse().ok()),
                    }
                }
                Form::Words | Form::MonthFirst => {
                    let input = Input::new(text)
                        .span(m.range())
                        .anchored(Anchored::Pattern(m.pattern()));
                    self.any.search_captures(&input, caps);
                    let g = |i: usize| caps.get_group(i).map_or("", |s| &text[s.range()]);
                    match form {
                        Form::Words => (Some(year(g(3))), month_number(g(2)), g(1).parse().ok()),
                        _ => (g(3).parse().ok(), month_number(g(1)), g(2).parse().ok()),
                    }
                }
            };
            if let (Some(y), Some(mo), Some(d)) = (y, mo, d)
                && let Some(date) = NaiveDate::from_ymd_opt(y, mo, d)
                && plausible(date)
            {
                out.push(DateMatch {
                    start: m.start(),
                    end: m.end(),
                    date,
                });
            }
        }
    }

    /// Whether a DOB label stands shortly (within [`LABEL_REACH`] bytes) before `start`.
    pub fn labelled(&self, text: &str, start: usize) -> bool {
        let mut s = start.saturating_sub(LABEL_REACH);
        while !text.is_char_boundary(s) {
            s -= 1;
        }
        self.label.is_match(&text[s..start])
    }

    pub fn is_label(&self, text: &str) -> bool {
        self.label.is_match(text)
    }

    /// Where DOB labels stand in the text: the whole search, the reference for
    /// [`Self::label_spans_at`].
    #[cfg(test)]
    pub fn label_spans(&self, text: &str) -> Vec<(usize, usize)> {
        self.label
            .find_iter(text)
            .map(|m| (m.start(), m.end()))
            .collect()
    }

    /// Where DOB labels stand in the text, given the starts of its letter runs that are
    /// [`LABEL_FIRST_WORDS`] (in order): each tried there, anchored.
    pub fn label_spans_at(&self, text: &str, starts: &[usize]) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = Vec::new();
        for &s in starts {
            if out.last().is_some_and(|l| s < l.1) {
                continue;
            }
            let input = Input::new(text).range(s..).anchored(Anchored::Yes);
            if let Some(m) = self.label.find(input) {
                out.push((m.start(), m.end()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn uk_forms() {
        let d = DateDetector::default();
        for t in [
            "12/03/2013",
            "12-03-13",
            "12 March 2013",
            "12th March 2013",
            "2013-03-12",
            "12.03.2013",
            "12 Mar. 2013",
            "12-Mar-2013",
            "12-mar-13",
            "12 Mar 13",
            "March 12, 2013",
            "Mar 12th 2013",
            "2013-03-12T00:00:00",
            "2013-03-12T00:00:00Z",
        ] {
            let got = d.dates(t, 2026, &crate::scan::detectors::digit_windows(t));
            assert_eq!(got.len(), 1, "{t}");
            assert_eq!(
                got[0].date,
                NaiveDate::from_ymd_opt(2013, 3, 12).unwrap(),
                "{t}"
            );
        }
    }

    #[test]
    fn not_birth_dates() {
        let d = DateDetector::default();
        assert!(d.dates("trip on 12/03/2026", 2026, &[(0, 18)]).is_empty());
        assert!(d.dates("31/02/2013", 2026, &[(0, 10)]).is_empty());
        assert!(d.dates("born 12/03/1970", 2026, &[(0, 15)]).is_empty());
        assert!(d.dates("version 1.2.3", 2026, &[(0, 13)]).is_empty());
    }

    proptest::proptest! {
        /// The digit groups read from a numeric or ISO match are the groups its pattern
        /// captures.
        #[test]
        fn digit_groups_are_the_captured_groups(
            parts in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["", " ", "x", "1", "/", "-"]),
                    proptest::sample::select(vec!["1", "12", "03", "31", "2013", "1999"]),
                    proptest::sample::select(vec!["/", "-", ".", " "]),
                    proptest::sample::select(vec!["3", "03", "12", "1"]),
                    proptest::sample::select(vec!["/", "-", "."]),
                    proptest::sample::select(vec!["13", "2013", "12", "01", "7"]),
                    proptest::sample::select(vec![
                        "", " ", "T08:00:00", "T00:00:00.000+01:00", "T12:30Z", "Z", "9",
                    ]),
                ),
                0..6,
            ),
            iso in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["2013", "1999"]),
                    proptest::sample::select(vec!["03", "12", "3"]),
                    proptest::sample::select(vec!["12", "31", "1"]),
                    proptest::sample::select(vec![
                        "", " ", "T08:00:00", "T00:00:00.000+01:00", "T12:30Z", "T9",
                    ]),
                ),
                0..4,
            ),
        ) {
            let mut text: String = parts
                .iter()
                .map(|(a, b, c, d, e, f, g)| [*a, *b, *c, *d, *e, *f, *g].concat())
                .collect();
            for (y, m, d, t) in iso {
                text.push_str(&format!(" {y}-{m}-{d}{t}"));
            }
            for pattern in [NUMERIC, ISO] {
                for c in Regex::new(pattern).unwrap().captures_iter(&text) {
                    let groups = first_digit_groups(c.get(0).unwrap().as_str());
                    proptest::prop_assert_eq!(groups, (&c[1], &c[2], &c[3]), "{}", pattern);
                }
            }
        }

        /// Labels tried only where a label's first word stands are the labels the whole
        /// search finds.
        #[test]
        fn labels_at_their_first_words_are_every_label(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "DOB", "dob:", "d.o.b", "D.O.B.", "date of birth", "Date Of Birth", "born",
                    "birth date", "birthdate", "Birthday", "date", "birth", "of", "x", " ", "1",
                    "_", "é", "\n", ".", "K",
                ]),
                0..40,
            ),
        ) {
            let text: String = parts.concat();
            let mut starts = Vec::new();
            crate::scan::detectors::words::letter_runs(text.as_bytes(), |s, e| {
                if LABEL_FIRST_WORDS.iter().any(|w| text[s..e].eq_ignore_ascii_case(w)) {
                    starts.push(s);
                }
            });
            let d = DateDetector::default();
            proptest::prop_assert_eq!(d.label_spans_at(&text, &starts), d.label_spans(&text));
        }
    }

    #[test]
    fn labels() {
        let d = DateDetector::default();
        let t = "DOB: 12/03/2013";
        assert!(d.labelled(t, 5));
        assert!(!d.labelled("Trip: 12/03/2013", 6));
    }
}
