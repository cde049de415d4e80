//! Why a candidate full name is not counted as a pupil ([`Discount`]), and the facts that
//! decide it: the people in the conversation ([`OwnNames`]: the sender, the recipients, the
//! writers of quoted messages) and the words around a name in free text (a place, a heading,
//! a colleague introduced as staff). Every discount is reported with its reason, so a data
//! lead can see why a name was let through.
//!
//! A place or heading reading never discounts a name with pupil context beside it
//! ([`pupil_context`]: a date of birth, an identifier, a year or form group, "pupil", "son"…).
//!
//! Imports the directory and the text helpers only; the name detector imports this module,
//! never the other way round.

use std::sync::LazyLock;

use regex::Regex;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::directory::{Directory, Owner, PupilId};
use crate::text::{Words, fold_word, is_capitalised, name_key, name_words};

/// Why a full name that matches a pupil was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Discount {
    /// The sender's own name, or the sender is that pupil.
    Sender,
    /// A recipient's display name or address.
    Recipient,
    /// The writer of a quoted or forwarded message (its `From:` or "… wrote:" line).
    Quoted,
    /// A member of staff of that name, introduced as staff (title, role, "my colleague").
    Colleague,
    /// A place: a determiner before it or a street or place word after it.
    Place,
    /// Part of a title-case heading.
    Heading,
}

impl Discount {
    pub fn as_str(self) -> &'static str {
        match self {
            Discount::Sender => "the sender's own name",
            Discount::Recipient => "a recipient's name or address",
            Discount::Quoted => "the writer of a quoted message",
            Discount::Colleague => "a member of staff introduced as staff",
            Discount::Place => "a place or street name",
            Discount::Heading => "part of a title-case heading",
        }
    }
}

/// Names of the people in the conversation: never findings, each with its reason.
#[derive(Debug, Default, Clone)]
pub struct OwnNames {
    /// Folded (forename, surname) keys, as the directory folds them.
    pairs: FxHashMap<(String, String), Discount>,
    /// Pupils who are the sender.
    pub pupils: FxHashSet<PupilId>,
}

impl OwnNames {
    /// A person by folded forename and surname keys (the first reason given is kept).
    pub fn add_pair(&mut self, forename: &str, surname: &str, why: Discount) {
        if !forename.is_empty() && !surname.is_empty() {
            self.pairs
                .entry((forename.to_string(), surname.to_string()))
                .or_insert(why);
        }
    }

    /// A person by a display name: "Olivia Smith", "Smith, Olivia", "Olivia Jane Smith"
    /// (forename with the last word or with all the rest as surname).
    pub fn add_display_name(&mut self, name: &str, why: Discount) {
        if let Some((s, f)) = name.split_once(',') {
            self.add_pair(&name_key(f), &name_key(s), why);
            return;
        }
        let words: Vec<&str> = name_words(name).collect();
        if words.len() >= 2 {
            let f = name_key(words[0]);
            self.add_pair(&f, &name_key(words[words.len() - 1]), why);
            self.add_pair(&f, &name_key(&words[1..].join(" ")), why);
        }
    }

    /// A person by an address written "forename.surname@…" (or with `_` or `-`).
    pub fn add_address(&mut self, address: &str, why: Discount) {
        let local = address
            .trim()
            .trim_start_matches('<')
            .rsplit_once('@')
            .map_or("", |(l, _)| l);
        let parts: Vec<&str> = local.split(['.', '_', '-']).collect();
        if parts.len() == 2 {
            let f = fold_word(parts[0].trim_end_matches(|c: char| c.is_ascii_digit()));
            let s = fold_word(parts[1].trim_end_matches(|c: char| c.is_ascii_digit()));
            if f.len() > 1 && s.len() > 1 {
                self.add_pair(&f, &s, why);
            }
        }
    }

    /// Why the name written with these folded keys is someone in the conversation, if it is.
    pub fn discount(&self, forename: &str, surname: &str) -> Option<Discount> {
        if self.pairs.is_empty() {
            return None;
        }
        self.pairs
            .get(&(forename.to_string(), surname.to_string()))
            .copied()
    }

    /// The pupils a name written with these keys may be once the conversation's own people
    /// are taken out, or why none is left.
    pub fn check(
        &self,
        forename: &str,
        surname: &str,
        mut pupils: Vec<PupilId>,
    ) -> Result<Vec<PupilId>, Discount> {
        if let Some(d) = self.discount(forename, surname) {
            return Err(d);
        }
        pupils.retain(|p| !self.pupils.contains(p));
        if pupils.is_empty() {
            Err(Discount::Sender)
        } else {
            Ok(pupils)
        }
    }

    /// [`Self::check`] for directory key ids.
    pub fn others(
        &self,
        dir: &Directory,
        forename: u32,
        surname: u32,
        pupils: Vec<PupilId>,
    ) -> Result<Vec<PupilId>, Discount> {
        self.check(dir.resolve_key(forename), dir.resolve_key(surname), pupils)
    }
}

/// Whether an address belongs to a pupil (their school or personal address in the roster).
fn pupil_address(dir: &Directory, address: &str) -> bool {
    dir.owners_of(address)
        .iter()
        .any(|o| matches!(o, Owner::Pupil(_) | Owner::PupilPersonal(_)))
}

/// The recipients' names: display names and "forename.surname" addresses, for recipients
/// who are not pupils (a pupil's own name sent to a third party stays a finding).
pub fn add_recipients(
    own: &mut OwnNames,
    dir: &Directory,
    is_pupil_domain: impl Fn(&str) -> bool,
    recipients: &[(Option<String>, String)],
) {
    for (name, address) in recipients {
        if pupil_address(dir, address) || is_pupil_domain(address) {
            continue;
        }
        if let Some(n) = name {
            own.add_display_name(n, Discount::Recipient);
        }
        own.add_address(address, Discount::Recipient);
    }
}

/// Quoted header lines: "From: Name <address>" (Outlook, Apple Mail, forwarded headers,
/// possibly quoted with `>` or bold `*`), "From: Name [mailto:address]", and Gmail's
/// "On <date>, Name <address> wrote:".
static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)^[> \t]*\*?(?:From|Van|De|Von)\*?:\*?[ \t]+(?P<n1>[^<>\[\]\r\n@]{3,80}?)[ \t]*(?:<|\[mailto:)(?P<a1>[^\s<>\[\]]+@[^\s<>\[\]]+)(?:>|\])|(?:^|\n)[> \t]*On [^\r\n]{4,80}?,?[ \t\r\n>]+(?P<n2>[^<>\r\n,@]{3,80}?)[ \t\r\n>]*<(?P<a2>[^\s<>]+@[^\s<>]+)>[ \t\r\n>]*wrote:",
    )
    .expect("quoted header pattern")
});

/// The writers of quoted or forwarded messages in a body text: their names, unless the
/// address is a pupil's (a pupil's forwarded message stays pupil data).
pub fn add_quoted_writers(
    own: &mut OwnNames,
    dir: &Directory,
    is_pupil_domain: impl Fn(&str) -> bool,
    text: &str,
) {
    if !text.contains("From") && !text.contains("wrote:") {
        return;
    }
    for c in QUOTED.captures_iter(text) {
        let (Some(name), Some(addr)) =
            (c.name("n1").or(c.name("n2")), c.name("a1").or(c.name("a2")))
        else {
            continue;
        };
        let addr = addr.as_str();
        if pupil_address(dir, addr) || is_pupil_domain(addr) {
            continue;
        }
        let name = name.as_str().trim().trim_matches('"').trim_matches('\'');
        own.add_display_name(name, Discount::Quoted);
        own.add_address(addr, Discount::Quoted);
    }
}

/// Words near a name that say it is a pupil: a discount for a place or heading reading
/// never applies with one of these within [`CONTEXT_BYTES`].
static PUPIL_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i:\b(?:pupils?|students?|child|son|daughter|step-?(?:son|daughter)|grand(?:son|daughter)|d\.?o\.?b\.?|date of birth|born|admission (?:no|number)|year\s?\d{1,2}|yr\s?\d{1,2}|reception class|nursery class|form group|tutor group|reg(?:istration)? group|sen support|safeguarding|attendance)\b)|\b(?:UPN|ULN|Adno|EHCP|SEND|DOB)\b|\b(?:[1-9]|1[0-3])[A-Z]{1,2}\d?\b|\bY(?:[1-9]|1[0-3])\b|\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b",
    )
    .expect("pupil context pattern")
});

/// How far either side of a name pupil context is looked for.
pub const CONTEXT_BYTES: usize = 200;

/// Whether pupil context stands within [`CONTEXT_BYTES`] of `text[start..end]`, or the
/// forename appears on its own (capitalised) nearby: a person being written about.
pub fn pupil_context(text: &str, start: usize, end: usize, forename_key: &str) -> bool {
    let from = floor(text, start.saturating_sub(CONTEXT_BYTES));
    let to = ceil(text, (end + CONTEXT_BYTES).min(text.len()));
    if PUPIL_CONTEXT.is_match(&text[from..start]) || PUPIL_CONTEXT.is_match(&text[end..to]) {
        return true;
    }
    // "Ash Grove … Ash said": the forename alone, outside the match.
    [(from, start), (end, to)].iter().any(|&(a, b)| {
        Words::new(&text[a..b]).any(|(x, y)| {
            let w = &text[a + x..a + y];
            is_capitalised(w) && fold_word(w) == forename_key
        })
    })
}

/// A person written about after a heading: "Grace Wood Annual Review\nShe has…".
static PRONOUNS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:he|she|his|her|him|hers|himself|herself)\b").expect("pronouns")
});

/// Words that make the name before them a place ("Ash Grove stop", "Victoria Park Road"),
/// from `patterns/place-words.txt`.
static PLACE_WORDS: LazyLock<FxHashSet<String>> = LazyLock::new(|| {
    include_str!("../../../patterns/place-words.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(fold_word)
        .collect()
});

/// Words before a name that make it a thing, not a person: "the Ash Grove stop".
const DETERMINERS: &[&str] = &["the", "a", "an", "this", "that", "these", "those"];

/// Small words a title-case heading may hold in lower case.
const SMALL_WORDS: &[&str] = &[
    "a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with", "&", "-",
];

/// Titles that only an adult's name takes.
const TITLES: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "prof",
    "professor",
    "rev",
    "sir",
    "dame",
];

/// Staff roles written beside a colleague's name ("Priya Shah, SENCO", "Priya Shah (Head of
/// Maths)"), and the words that introduce one ("my colleague Priya Shah").
const ROLES: &[&str] = &[
    "colleague",
    "colleagues",
    "teacher",
    "headteacher",
    "head",
    "deputy",
    "assistant",
    "senco",
    "dsl",
    "dpo",
    "manager",
    "officer",
    "coordinator",
    "co-ordinator",
    "leader",
    "lead",
    "administrator",
    "bursar",
    "principal",
    "caretaker",
    "technician",
    "librarian",
    "secretary",
    "receptionist",
    "governor",
    "trustee",
    "director",
    "ta",
    "hlta",
    "lsa",
];

/// The word just before `at` (skipping spaces), folded.
fn word_before(text: &str, at: usize) -> Option<(usize, String)> {
    let before = text[..at].trim_end_matches([' ', '\t', '\u{a0}']);
    if before.len() == text[..at].len() && at > 0 {
        return None;
    }
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '.' || *c == '-')
        .last()
        .map(|(i, _)| i)?;
    Some((start, fold_word(before[start..].trim_end_matches('.'))))
}

/// The first word after `at` on the same line (after spaces), folded.
fn word_after(text: &str, at: usize) -> Option<(&str, String)> {
    let rest = &text[at..];
    let trimmed = rest.trim_start_matches([' ', '\t', '\u{a0}']);
    if trimmed.len() == rest.len() {
        return None;
    }
    let (a, b) = Words::new(trimmed).next()?;
    if a != 0 {
        return None;
    }
    Some((&trimmed[..b], fold_word(&trimmed[..b])))
}

/// Why a full name at `text[start..end]` in free text is not a pupil, from the words around
/// it: a colleague introduced as staff, a place, or a heading. `staff` says whether a member
/// of staff has this name; `heading` whether a heading reading may apply (not in a Subject,
/// where a pupil's name is always a finding).
pub fn around(
    text: &str,
    start: usize,
    end: usize,
    forename_key: &str,
    staff: bool,
    heading: bool,
) -> Option<Discount> {
    let before = word_before(text, start);
    if staff {
        // "Mrs Priya Shah", "my colleague Priya Shah", "Priya Shah, SENCO", "Priya Shah (Head
        // of Maths)".
        if before
            .as_ref()
            .is_some_and(|(_, w)| TITLES.contains(&w.as_str()) || ROLES.contains(&w.as_str()))
        {
            return Some(Discount::Colleague);
        }
        let rest = text[end..].trim_start_matches([',', ' ', '(', '-', '\u{2013}', '\t']);
        if rest.len() < text[end..].len()
            && let Some((a, b)) = Words::new(rest).next()
            && a == 0
            && ROLES.contains(&fold_word(&rest[..b]).as_str())
        {
            return Some(Discount::Colleague);
        }
    }
    // "Victoria Park Road", "the Ash Grove stop" (a determiner alone is not enough: "the
    // Grace Wood report" is about a pupil).
    let determiner = before
        .as_ref()
        .is_some_and(|(_, w)| DETERMINERS.contains(&w.as_str()));
    let place = word_after(text, end)
        .is_some_and(|(w, f)| PLACE_WORDS.contains(&f) && (determiner || is_capitalised(w)));
    if place {
        return (!pupil_context(text, start, end, forename_key)).then_some(Discount::Place);
    }
    (heading
        && heading_line(text, start, end)
        && !pupil_context(text, start, end, forename_key)
        && !PRONOUNS.is_match(&text[start..ceil(text, (end + CONTEXT_BYTES).min(text.len()))]))
    .then_some(Discount::Heading)
}

/// Whether the line holding `text[start..end]` is a short title-case heading with at least
/// one more capitalised word than the name ("Spring Fair Stalls", "Summer Term Ash Grove
/// Trip"): every word capitalised or small, no sentence punctuation.
fn heading_line(text: &str, start: usize, end: usize) -> bool {
    // Only a short line can be a heading: look no further than that for its ends (a
    // megabyte on one line must not be searched once per name).
    const LINE_MAX: usize = 80;
    let from = floor(text, start.saturating_sub(LINE_MAX + 1));
    let ls = match text[from..start].rfind('\n') {
        Some(i) => from + i + 1,
        None if from == 0 => 0,
        None => return false,
    };
    let to = ceil(text, (end + LINE_MAX + 1).min(text.len()));
    let le = match text[end..to].find('\n') {
        Some(i) => end + i,
        None if to == text.len() => text.len(),
        None => return false,
    };
    let line = text[ls..le].trim();
    if line.len() > LINE_MAX || line.ends_with(['.', '?', '!', ',', ':', ';']) {
        return false;
    }
    let mut extra = 0;
    let mut words = 0;
    for (a, b) in Words::new(&text[ls..le]) {
        let (a, b) = (ls + a, ls + b);
        words += 1;
        let w = &text[a..b];
        if SMALL_WORDS.contains(&fold_word(w).as_str()) {
            continue;
        }
        if !is_capitalised(w) {
            return false;
        }
        if b <= start || a >= end {
            extra += 1;
        }
    }
    // Only the name's own words beside the heading's: "Dear Grace Wood" is a greeting.
    let greeting = word_before(text, start).is_some_and(|(_, w)| {
        ["dear", "hi", "hello", "to", "re", "fw", "fwd"].contains(&w.as_str())
    });
    extra >= 1 && words <= 8 && !greeting
}

fn floor(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_and_headings_unless_a_pupil_stands_near() {
        let at = |t: &str, name: &str, staff: bool| {
            let s = t.find(name).unwrap();
            around(
                t,
                s,
                s + name.len(),
                &fold_word(name.split(' ').next().unwrap()),
                staff,
                true,
            )
        };
        assert_eq!(
            at("Meet at the Ash Grove stop at 8.", "Ash Grove", false),
            Some(Discount::Place)
        );
        assert_eq!(
            at(
                "Parking on Victoria Park Road is closed",
                "Victoria Park",
                false
            ),
            Some(Discount::Place)
        );
        assert_eq!(
            at("Spring Fair Stalls\nWe need helpers", "Spring Fair", false),
            Some(Discount::Heading)
        );
        // A pupil beside the same words stays a pupil.
        assert_eq!(
            at(
                "Meet at the Ash Grove stop; Ash (Year 4) is bringing the kit.",
                "Ash Grove",
                false
            ),
            None
        );
        assert_eq!(
            at(
                "Ash Grove, DOB 04/05/2016, Ash Grove stop",
                "Ash Grove",
                false
            ),
            None
        );
        assert_eq!(
            at(
                "Spring Fair Stalls\nSpring has made good progress",
                "Spring Fair",
                false
            ),
            None
        );
        assert_eq!(at("Dear Grace Wood\nThanks", "Grace Wood", false), None);
        assert_eq!(
            at(
                "Grace Wood Annual Review\nShe has settled well.",
                "Grace Wood",
                false
            ),
            None
        );
        assert_eq!(
            at("Grace Wood was absent today.", "Grace Wood", false),
            None
        );
        assert_eq!(
            at("Could you send the Grace Wood report", "Grace Wood", false),
            None
        );
        // Colleagues: only names in the staff file, only when the text says staff.
        assert_eq!(
            at("Mrs Priya Shah will call", "Priya Shah", true),
            Some(Discount::Colleague)
        );
        assert_eq!(
            at("Priya Shah, SENCO, will call", "Priya Shah", true),
            Some(Discount::Colleague)
        );
        assert_eq!(
            at("my colleague Priya Shah will call", "Priya Shah", true),
            Some(Discount::Colleague)
        );
        assert_eq!(at("Mrs Priya Shah will call", "Priya Shah", false), None);
        assert_eq!(at("Priya Shah will call", "Priya Shah", true), None);
    }

    #[test]
    fn a_heading_is_a_short_line() {
        // A name on one very long line is never a heading (and its ends are not searched
        // beyond a heading's length).
        let long = format!(
            "{} Spring Fair Stalls {}",
            "x ".repeat(500_000),
            "y ".repeat(500_000)
        );
        let s = long.find("Spring Fair").unwrap();
        assert!(!heading_line(&long, s, s + 11));
        let short = "intro\nSpring Fair Stalls\nmore";
        let s = short.find("Spring Fair").unwrap();
        assert!(heading_line(short, s, s + 11));
    }

    #[test]
    fn quoted_writers_and_recipients() {
        let d = Directory::default();
        let mut own = OwnNames::default();
        add_quoted_writers(
            &mut own,
            &d,
            |_| false,
            "Thanks\n\nOn Tue, 3 Dec 2026 at 10:15, Priya Shah <priya.shah@supplier.example> wrote:\n> hi\n\
             -----Original Message-----\nFrom: Tom Clark [mailto:t.clark@coach.example]\nSent: Monday\n\
             > From: \"Grace Wood\" <grace.wood@pupils.school.example>\n",
        );
        assert_eq!(own.discount("priya", "shah"), Some(Discount::Quoted));
        assert_eq!(own.discount("tom", "clark"), Some(Discount::Quoted));
        let mut own2 = OwnNames::default();
        add_quoted_writers(
            &mut own2,
            &d,
            |a| a.contains("@pupils."),
            "From: \"Grace Wood\" <grace.wood@pupils.school.example>\n",
        );
        assert_eq!(
            own2.discount("grace", "wood"),
            None,
            "a pupil's own message stays pupil data"
        );
        add_recipients(
            &mut own2,
            &d,
            |a| a.contains("@pupils."),
            &[
                (Some("Wei Zhang".into()), "accounts@supplier.example".into()),
                (None, "sam.okafor@coach.example".into()),
                (
                    Some("Grace Wood".into()),
                    "grace.wood@pupils.school.example".into(),
                ),
            ],
        );
        assert_eq!(own2.discount("wei", "zhang"), Some(Discount::Recipient));
        assert_eq!(own2.discount("sam", "okafor"), Some(Discount::Recipient));
        assert_eq!(own2.discount("grace", "wood"), None);
    }
}
