//! The detectors: each finds one kind of pupil data in a [`Segment`] (its own module with its
//! own tests), and the message-level rules that need the whole message (bulk, attachments,
//! staff-to-pupil contact). `Detectors` is built once from the directory and the site (`settings::Site`).

pub mod context;
pub mod dates;
pub mod identifiers;
pub mod keywords;
pub mod links;
pub mod names;
pub mod passwords;
pub mod words;

use std::collections::hash_map::Entry;

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::envelope::Envelope;
use super::mime::{HeaderInfo, Walked};
use super::report::{EvidenceKey, FindingKind, Report};
use super::segment::{Location, Segment, Table};
use crate::classes::{Classifier, RecipientClass};
use crate::directory::{Directory, Owner, PupilId, pair_key};
use crate::settings::Site;
use crate::text::{fold_word, mask_id, mask_name, name_words};
use context::Discount;

pub struct Detectors {
    /// One word pass per segment finds where forenames and special-category terms may start.
    cues: words::WordSet,
    pub names: names::NameDetector,
    pub ids: identifiers::IdDetector,
    pub dates: dates::DateDetector,
    pub keywords: keywords::Keywords,
    pub links: links::LinkDetector,
    pub passwords: passwords::PasswordDetector,
}

/// Facts about one message that every segment's detectors share.
pub struct MessageContext<'a> {
    pub envelope: &'a Envelope,
    pub headers: &'a HeaderInfo,
    pub own: names::OwnNames,
    /// Who the sender is in the directory (envelope sender and header From).
    pub sender_owners: Vec<Owner>,
    /// The message time: the Date header, or `now` when it is missing or absurd.
    pub when: DateTime<Utc>,
    pub this_year: i32,
    pub classifier: &'a Classifier,
}

impl<'a> MessageContext<'a> {
    pub fn new(
        dir: &'a Directory,
        classifier: &'a Classifier,
        envelope: &'a Envelope,
        headers: &'a HeaderInfo,
        segments: &[Segment],
        now: DateTime<Utc>,
    ) -> Self {
        let mut sender_owners = dir.owners_of(&envelope.mail_from);
        if let Some(h) = &headers.from_address {
            for o in dir.owners_of(h) {
                if !sender_owners.contains(&o) {
                    sender_owners.push(o);
                }
            }
        }
        let mut own = names::OwnNames::default();
        for o in &sender_owners {
            match *o {
                Owner::Staff(s) | Owner::StaffPersonal(s) => {
                    let st = dir.staff_member(s);
                    own.add_pair(
                        dir.resolve_key(st.forename),
                        dir.resolve_key(st.surname),
                        Discount::Sender,
                    );
                }
                Owner::Pupil(p) | Owner::PupilPersonal(p) => {
                    own.pupils.insert(p);
                }
                Owner::Contact(_) => {}
            }
        }
        if let Some(name) = &headers.from_name {
            own.add_display_name(name, Discount::Sender);
        }
        // The people the message is to, and the writers of the messages it quotes.
        let pupil_domain = |a: &str| classifier.is_pupil_domain(a);
        let mut recipients = headers.to_named.clone();
        recipients.extend(envelope.rcpt_to.iter().map(|a| (None, a.clone())));
        context::add_recipients(&mut own, dir, pupil_domain, &recipients);
        for seg in segments {
            if seg.location == Location::Body && seg.rows.is_none() {
                context::add_quoted_writers(&mut own, dir, pupil_domain, &seg.text);
            }
        }
        let when = headers
            .date
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
            .filter(|d| {
                *d <= now + chrono::Duration::days(1) && *d >= now - chrono::Duration::days(30)
            })
            .unwrap_or(now);
        MessageContext {
            envelope,
            headers,
            own,
            sender_owners,
            when,
            this_year: now.year(),
            classifier,
        }
    }
}

/// Masked form of a matched name for evidence.
fn masked_pair(dir: &Directory, f: u32, s: u32) -> String {
    mask_name(&format!("{} {}", dir.written(f), dir.written(s)))
}

const NEAR: usize = 60;

/// Flags of the shared word pass ([`Detectors::cues`]): the name detector's own
/// ([`names::FIRST_WORD`], [`names::COMMON_WORD`]) in the low bits, the special-category
/// terms' ([`keywords::ANY_CASE`], [`keywords::EXACT`]) shifted above them.
const CUE_NAME_FLAGS: u8 = names::FIRST_WORD | names::COMMON_WORD;
const CUE_TERM_SHIFT: u8 = 2;
const CUE_TERM_FLAGS: u8 = keywords::ANY_CASE | keywords::EXACT;
/// A DOB label's first word ([`dates::LABEL_FIRST_WORDS`]).
const CUE_DOB_LABEL: u8 = 1 << 4;
/// A month's name ([`dates::MONTH_WORDS`]).
const CUE_MONTH: u8 = 1 << 5;
const _: () = assert!(
    CUE_NAME_FLAGS & (CUE_TERM_FLAGS << CUE_TERM_SHIFT) == 0
        && (CUE_NAME_FLAGS | (CUE_TERM_FLAGS << CUE_TERM_SHIFT)) & (CUE_DOB_LABEL | CUE_MONTH) == 0
        && CUE_DOB_LABEL & CUE_MONTH == 0,
    "the cue flags of the detectors overlap"
);

/// "Is a pupil's name near this span?" in O(log n): within [`NEAR`] bytes in free text, in
/// the same row in a table. (A linear search per date or number was quadratic on long texts
/// holding many of both.)
struct NearNames<'a> {
    /// Name spans sorted by start.
    spans: Vec<(usize, usize)>,
    longest: usize,
    /// In a table: the table, whether each row holds a name, and the row of the last lookup
    /// (dates and numbers are looked up in text order).
    rows: Option<(&'a Table, Vec<bool>, std::cell::Cell<usize>)>,
}

impl<'a> NearNames<'a> {
    fn new(mut spans: Vec<(usize, usize)>, table: Option<&'a Table>) -> Self {
        spans.sort_unstable();
        let rows = table.map(|t| {
            let mut named = vec![false; t.len()];
            let mut row = 0;
            for s in &spans {
                row = t.row_at_hint(s.0, row);
                if let Some(r) = named.get_mut(row) {
                    *r = true;
                }
            }
            (t, named, std::cell::Cell::new(0))
        });
        let longest = spans.iter().map(|n| n.1 - n.0).max().unwrap_or(0);
        NearNames {
            spans,
            longest,
            rows,
        }
    }

    fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn near(&self, b: (usize, usize)) -> bool {
        if let Some((t, named, last)) = &self.rows {
            let row = t.row_at_hint(b.0, last.get());
            last.set(row);
            return named.get(row).copied().unwrap_or(false);
        }
        // A span near b starts at most NEAR + the longest span before b.
        let from = self
            .spans
            .partition_point(|n| n.0 + NEAR + self.longest < b.0);
        self.spans[from..]
            .iter()
            .take_while(|n| n.0.saturating_sub(NEAR) <= b.1)
            .any(|n| b.0.saturating_sub(NEAR) <= n.1)
    }
}

impl Detectors {
    pub fn build(site: &Site, dir: &Directory) -> Detectors {
        let names = names::NameDetector::build(dir);
        let keywords = keywords::Keywords::default();
        let mut cues = words::WordSet::default();
        for (w, flags) in names.first_words() {
            cues.insert(w, *flags);
        }
        for (w, flags) in keywords.first_words() {
            cues.insert(w, flags << CUE_TERM_SHIFT);
        }
        for w in dates::LABEL_FIRST_WORDS {
            cues.insert(w, CUE_DOB_LABEL);
        }
        for w in dates::MONTH_WORDS {
            cues.insert(w, CUE_MONTH);
        }
        Detectors {
            cues,
            names,
            ids: identifiers::IdDetector::default(),
            dates: dates::DateDetector::default(),
            keywords,
            links: links::LinkDetector::new(&site.trust.cloud_storage_domains),
            passwords: passwords::PasswordDetector::default(),
        }
    }

    /// Runs every detector over one segment.
    pub fn scan_segment(
        &self,
        dir: &Directory,
        ctx: &MessageContext,
        seg: &Segment,
        report: &mut Report,
    ) {
        let rows = seg.rows.as_ref();
        if rows.is_some() || seg.text.len() <= BLOCK + BLOCK_OVERLAP {
            return self.scan_text(dir, ctx, &seg.location, &seg.text, rows, report);
        }
        // Long free text in blocks that stay in the CPU cache through every detector's pass
        // (findings are per distinct value or person, so what two blocks share counts once).
        for (s, e) in blocks(&seg.text) {
            self.scan_text(dir, ctx, &seg.location, &seg.text[s..e], None, report);
        }
    }

    /// Every detector over one text: free text, or a table's text with its rows.
    fn scan_text(
        &self,
        dir: &Directory,
        ctx: &MessageContext,
        loc: &Location,
        text: &str,
        rows: Option<&Table>,
        report: &mut Report,
    ) {
        let table = rows.is_some();
        let header = if table { text.lines().next() } else { None };

        // pupil_name
        let mut name_spans: Vec<(usize, usize)> = Vec::new();
        let add_person = |report: &mut Report, f: u32, s: u32, pupils: &[PupilId]| {
            let key = EvidenceKey::Person(pair_key(f, s));
            report.add(FindingKind::PupilName, loc, key.clone(), || {
                masked_pair(dir, f, s)
            });
            report.persons.entry(key).or_insert_with(|| pupils.to_vec());
            if *loc == Location::Subject {
                report.name_in_subject = true;
            }
        };
        // One pass over the bytes: the cue words, the digit runs, any non-ASCII byte.
        let (mut name_runs, mut term_starts, mut label_starts, mut digit_runs, mut months) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let first_non_ascii = self.cues.scan(
            text.as_bytes(),
            |s, e, flags| {
                if flags & names::FIRST_WORD != 0 {
                    name_runs.push((s, e, flags & CUE_NAME_FLAGS));
                }
                let term = (flags >> CUE_TERM_SHIFT) & CUE_TERM_FLAGS;
                if term != 0 {
                    term_starts.push((s, term));
                }
                if flags & CUE_DOB_LABEL != 0 {
                    label_starts.push(s);
                }
                if flags & CUE_MONTH != 0 {
                    months.push((s, e));
                }
            },
            |s, e| digit_runs.push((s, e)),
        );
        // Invisible characters inside a word ("Le\u{200B}ah") would hide it from every
        // detector: such a text is read again without them, its table moved to match. (They
        // are not ASCII: a text without a non-ASCII byte is not searched for them.)
        if let Some(from) = first_non_ascii
            && let Some((clean, removed)) = crate::text::without_invisible(text, from)
        {
            let rows = rows.map(|t| t.map_offsets(|o| removed.map(o)));
            return self.scan_text(dir, ctx, loc, &clean, rows.as_ref(), report);
        }
        // special_category: kept only when the message also names or identifies a pupil
        // (decided in `finish`, once every segment is read).
        for (_, _, term) in self.keywords.find_at(text, &term_starts) {
            report.add(
                FindingKind::SpecialCategory,
                loc,
                EvidenceKey::Value(term.to_ascii_lowercase()),
                || term.to_string(),
            );
        }
        for m in self
            .names
            .find_from_runs(dir, text, &ctx.own, &name_runs, first_non_ascii)
        {
            let why = m.discount.or_else(|| {
                if table || matches!(loc, Location::AttachmentName(_)) {
                    return None;
                }
                let fkey = fold_word(&text[m.fspan.0..m.fspan.1]);
                let staff = dir
                    .key_id(&fkey)
                    .is_some_and(|f| dir.is_staff_pair(f, m.surname));
                context::around(
                    text,
                    m.start,
                    m.end,
                    &fkey,
                    staff,
                    *loc != Location::Subject,
                )
            });
            if let Some(why) = why {
                report.discount(loc, masked_pair(dir, m.forename, m.surname), why.as_str());
                continue;
            }
            add_person(report, m.forename, m.surname, &m.pupils);
            name_spans.push((m.start, m.end));
        }
        if matches!(loc, Location::AttachmentName(_)) {
            for m in self.names.in_file_name(dir, text, &ctx.own) {
                if m.discount.is_some() {
                    continue;
                }
                add_person(report, m.forename, m.surname, &m.pupils);
                name_spans.push((m.start, m.end));
            }
        }
        // A pupil's own address (school or personal, from the roster) written in the text
        // names that pupil: a list of pupil accounts sent to a supplier is pupil data.
        for (a, b) in crate::text::email_spans(text) {
            for o in dir.owners_of(&text[a..b]) {
                let (Owner::Pupil(p) | Owner::PupilPersonal(p)) = o else {
                    continue;
                };
                let pupil = dir.pupil(p);
                let (f, s) = (pupil.legal_forename, pupil.legal_surname);
                if let Ok(pupils) = ctx.own.others(dir, f, s, vec![p]) {
                    add_person(report, f, s, &pupils);
                    name_spans.push((a, b));
                }
            }
        }
        if let Some(rows) = rows {
            for (ri, m) in self.names.find_in_rows(dir, text, rows, &ctx.own) {
                add_person(report, m.forename, m.surname, &m.pupils);
                let s = rows.row_start(ri);
                name_spans.push((s, s));
            }
        }

        let near_names = NearNames::new(name_spans, rows);

        // identifiers, admission numbers and dates all hold digits: look only around them
        for m in self
            .ids
            .find(text, header, &id_windows_from(text, &digit_runs))
        {
            report.add(m.kind, loc, EvidenceKey::Value(m.value.clone()), || {
                mask_id(&m.value)
            });
            // A pupil identified by number is a person the message is about.
            if !matches!(m.kind, FindingKind::Upn | FindingKind::Uln) {
                continue;
            }
            if let Entry::Vacant(v) = report.persons.entry(EvidenceKey::Id(m.kind, m.value)) {
                let EvidenceKey::Id(kind, value) = v.key() else {
                    unreachable!("inserted as an Id")
                };
                let pupils = match kind {
                    FindingKind::Upn => dir.pupils_with_upn(value),
                    _ => dir.pupils_with_uln(value),
                };
                v.insert(pupils);
            }
        }

        // admission_number: an Adno of the directory next to a pupil's name or an Adno label
        let header_adno = header.is_some_and(adno_label);
        for m in adno_candidates(text, &digit_runs) {
            if !(header_adno || near_names.near(m) || self.adno_labelled(text, m.0)) {
                continue;
            }
            let pupils = dir.pupils_with_adno(&text[m.0..m.1]);
            if !pupils.is_empty() {
                let v = text[m.0..m.1].trim_start_matches('0').to_string();
                report.add(
                    FindingKind::AdmissionNumber,
                    loc,
                    EvidenceKey::Value(v.clone()),
                    || mask_id(&v),
                );
                report
                    .persons
                    .entry(EvidenceKey::Id(FindingKind::AdmissionNumber, v))
                    .or_insert(pupils);
            }
        }

        // date_of_birth
        let header_dob = header.is_some_and(|h| self.dates.is_label(h));
        // A date counts only near a name or a label: skip the date patterns (and finding
        // where the digits are) when neither is in this segment.
        let labels = self.dates.label_spans_at(text, &label_starts);
        let dates_matter = header_dob || !near_names.is_empty() || !labels.is_empty();
        let dates = if !dates_matter {
            Vec::new()
        } else if table || header_dob {
            let windows = date_windows(text, &digit_runs, &months);
            self.dates.dates(text, ctx.this_year, &windows)
        } else {
            // Free text: a date counts only near a name or after a label, so only there is
            // it looked for.
            let regions = date_regions(text, &digit_runs, &near_names.spans, &labels);
            self.dates.dates(text, ctx.this_year, &regions)
        };
        for d in dates {
            let span = (d.start, d.end);
            if header_dob || self.dates.labelled(text, d.start) || near_names.near(span) {
                let key = EvidenceKey::Date(d.date.num_days_from_ce());
                report.add(FindingKind::DateOfBirth, loc, key, || "**/**/****".into());
            }
        }

        // personal_cloud_link
        for host in self.links.find(text) {
            report.add(
                FindingKind::PersonalCloudLink,
                loc,
                EvidenceKey::Value(host.clone()),
                || host.clone(),
            );
        }
    }

    fn adno_labelled(&self, text: &str, start: usize) -> bool {
        let mut s = start.saturating_sub(30);
        while !text.is_char_boundary(s) {
            s -= 1;
        }
        adno_label(&text[s..start])
    }

    /// Message-level rules, after every segment was scanned.
    pub fn finish(
        &self,
        dir: &Directory,
        site: &Site,
        ctx: &MessageContext,
        walked: &Walked,
        report: &mut Report,
    ) {
        let identifying = report.kinds().iter().any(|k| k.is_pupil_identifying());
        // special_category counts only in a message that also names or identifies a pupil.
        if !identifying {
            report.remove_kind(FindingKind::SpecialCategory);
        }
        // Locations with pupil data.
        let locs: Vec<Location> = report
            .kinds()
            .into_iter()
            .filter(|k| {
                k.is_pupil_identifying() || (*k == FindingKind::SpecialCategory && identifying)
            })
            .flat_map(|k| report.locations_of(k))
            .collect();
        for l in locs {
            report.pupil_data_locations.insert(l);
        }
        // bulk_pupil_data
        let persons = report.distinct_persons();
        if persons >= site.trust.bulk_threshold {
            report.add(
                FindingKind::BulkPupilData,
                &Location::Message,
                EvidenceKey::Value(String::new()),
                || format!("{persons} pupils"),
            );
            report.set_count(FindingKind::BulkPupilData, &Location::Message, persons);
        }
        // unencrypted_personal_attachment
        let attach: Vec<Location> = report
            .pupil_data_locations
            .iter()
            .filter(|l| l.is_attachment())
            .cloned()
            .collect();
        for l in attach {
            let name = l.to_string();
            report.add(
                FindingKind::UnencryptedPersonalAttachment,
                &l,
                EvidenceKey::Value(name),
                || "pupil data readable".into(),
            );
        }
        // encrypted_attachment
        report.weak_encryption = walked
            .encrypted
            .iter()
            .any(|(_, how)| how.contains("ZipCrypto"));
        for (l, how) in &walked.encrypted {
            report.add(
                FindingKind::EncryptedAttachment,
                l,
                EvidenceKey::Value(how.clone()),
                || how.clone(),
            );
        }
        self.password_rule(walked, report);
        self.contact_rules(dir, ctx, report);
    }

    /// password_in_body: certain when a candidate opens a locked ZIP, PDF or OOXML file; for
    /// encrypted formats that cannot be tried, an explicit "password: X" in the message.
    fn password_rule(&self, walked: &Walked, report: &mut Report) {
        if walked.encrypted.is_empty() {
            return;
        }
        let candidates = self.passwords.candidates(&walked.segments);
        if candidates.is_empty() {
            return;
        }
        for (c, file) in self.passwords.opening(&candidates, &walked.locked) {
            report.add(
                FindingKind::PasswordInBody,
                &c.location,
                EvidenceKey::Value(file.to_string()),
                || format!("opens {file}"),
            );
        }
        let untestable = walked.encrypted.iter().any(|(loc, _)| {
            !walked.locked.iter().any(|l| {
                let location = l.location();
                loc == location || loc.to_string().starts_with(&format!("{location}/"))
            })
        });
        if untestable && let Some(c) = candidates.iter().find(|c| c.explicit) {
            report.add(
                FindingKind::PasswordInBody,
                &c.location,
                EvidenceKey::Value("stated".into()),
                || "a password is given in the message (not verified)".into(),
            );
        }
    }

    fn contact_rules(&self, dir: &Directory, ctx: &MessageContext, report: &mut Report) {
        let c = ctx.classifier;
        let senders: Vec<&str> = std::iter::once(ctx.envelope.mail_from.as_str())
            .chain(ctx.headers.from_address.as_deref())
            .filter(|s| !s.is_empty())
            .collect();
        let staff_personal = ctx
            .sender_owners
            .iter()
            .any(|o| matches!(o, Owner::StaffPersonal(_)))
            || ctx.headers.from_name.as_deref().is_some_and(|n| {
                let w: Vec<&str> = name_words(n).collect();
                w.len() >= 2 && dir.is_staff_name(w[0], w[w.len() - 1])
            });
        let sender_webmail = senders.iter().any(|s| c.is_personal_webmail(s));
        let sender_pupil = ctx
            .sender_owners
            .iter()
            .any(|o| matches!(o, Owner::Pupil(_) | Owner::PupilPersonal(_)))
            || senders.iter().any(|s| c.is_pupil_domain(s));
        let sender_school_staff = !sender_pupil
            && (ctx
                .sender_owners
                .iter()
                .any(|o| matches!(o, Owner::Staff(_)))
                || senders.iter().any(|s| c.is_school_domain(s)));
        let to_pupil_school: Vec<&String> = ctx
            .envelope
            .rcpt_to
            .iter()
            .filter(|r| c.classify_address(r) == Some(RecipientClass::Pupil))
            .collect();
        let to_pupil_personal: Vec<&String> = ctx
            .envelope
            .rcpt_to
            .iter()
            .filter(|r| {
                dir.owners_of(r)
                    .iter()
                    .any(|o| matches!(o, Owner::PupilPersonal(_)))
            })
            .collect();
        let any_pupil = !to_pupil_school.is_empty() || !to_pupil_personal.is_empty();
        if sender_webmail && staff_personal && any_pupil {
            report.add(
                FindingKind::PersonalAccountToPupil,
                &Location::Message,
                EvidenceKey::Value(String::new()),
                || "staff personal account writing to a pupil".into(),
            );
        }
        if sender_school_staff && !to_pupil_personal.is_empty() {
            report.add(
                FindingKind::SchoolAccountToPupilPersonal,
                &Location::Message,
                EvidenceKey::Value(String::new()),
                || "school account writing to a pupil's personal address".into(),
            );
        }
        if (sender_school_staff || staff_personal) && any_pupil && !within_hours(ctx) {
            let local = ctx.when.with_timezone(&ctx.classifier.hours.tz);
            report.add(
                FindingKind::OutOfHoursPupilContact,
                &Location::Message,
                EvidenceKey::Value(String::new()),
                || local.format("%a %H:%M").to_string(),
            );
        }
    }
}

/// Free text longer than a block is scanned block by block.
const BLOCK: usize = 256 << 10;
/// How far each block runs into the next: longer than anything a detector reads around what
/// it finds (a name's 120 bytes back, a date's 60 bytes to a name, an email address).
const BLOCK_OVERLAP: usize = 4 << 10;
/// How far a block's start or end moves to reach whitespace, so no word is cut.
const BLOCK_SLACK: usize = 1 << 10;

/// Overlapping blocks of a long text: block k starts just after whitespace at or after
/// k × [`BLOCK`] (within [`BLOCK_SLACK`]) and ends at least [`BLOCK_OVERLAP`] bytes past the
/// next block's start, so every stretch of text up to `BLOCK_OVERLAP` long lies whole inside
/// one block.
fn blocks(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let to_boundary = |mut i: usize| {
        while i < b.len() && !text.is_char_boundary(i) {
            i += 1;
        }
        i
    };
    // After the first whitespace at or after `i` (close by), else `i` itself.
    let after_space = |i: usize| {
        let limit = (i + BLOCK_SLACK).min(b.len());
        match b[i..limit].iter().position(u8::is_ascii_whitespace) {
            Some(o) => i + o + 1,
            None => to_boundary(i),
        }
    };
    let mut starts = vec![0];
    let mut k = 1;
    while k * BLOCK < b.len() {
        starts.push(after_space(k * BLOCK));
        k += 1;
    }
    let mut out = Vec::with_capacity(starts.len());
    for (i, &s) in starts.iter().enumerate() {
        let e = match starts.get(i + 1) {
            Some(&next) if next + BLOCK_OVERLAP < b.len() => after_space(next + BLOCK_OVERLAP),
            _ => b.len(),
        };
        out.push((s, e));
        if e == b.len() {
            break;
        }
    }
    out
}

/// Regions of free text where a date can be a birth date: the digit windows (as
/// [`digit_windows`]) of the digit runs near a name (a date within [`NEAR`] bytes of it
/// counts) or after a DOB label (a date starting within [`dates::LABEL_REACH`] bytes of it).
/// Everywhere else a date is never a finding, so it is not looked for.
fn date_regions(
    text: &str,
    digits: &[(usize, usize)],
    names: &[(usize, usize)],
    labels: &[(usize, usize)],
) -> Vec<(usize, usize)> {
    // Longer than any date form with ordinary spacing ("12th of September, 2013",
    // "2013-03-12T00:00:00.000+01:00").
    const LONGEST_DATE: usize = 64;
    let mut spans: Vec<(usize, usize)> = names
        .iter()
        .map(|&(s, e)| {
            (
                s.saturating_sub(NEAR + LONGEST_DATE),
                e + NEAR + LONGEST_DATE,
            )
        })
        .chain(
            labels
                .iter()
                .map(|&(s, e)| (s, e + dates::LABEL_REACH + LONGEST_DATE)),
        )
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    // The digit runs that meet a span (both lists in order).
    let mut near = Vec::new();
    let mut j = 0;
    for &(s, e) in digits {
        while merged.get(j).is_some_and(|m| m.1 <= s) {
            j += 1;
        }
        match merged.get(j) {
            Some(m) if m.0 < e => near.push((s, e)),
            Some(_) => {}
            None => break,
        }
    }
    digit_windows_from(text, &near)
}

/// Regions of `text` around its digit runs, widened to whitespace and merged (linear: each
/// step moves forward). Every pattern that holds a digit (dates) is searched only there.
pub fn digit_windows(text: &str) -> Vec<(usize, usize)> {
    digit_windows_from(text, &words::digit_runs(text.as_bytes()))
}

/// [`digit_windows`] from the text's digit runs.
fn digit_windows_from(text: &str, runs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    // Runs whose padded regions overlap are joined before widening (which would merge them
    // anyway): one widening per stretch of digits, not per run.
    let mut pending: Option<(usize, usize)> = None;
    for &(s, e) in runs {
        let (from, to) = (s.saturating_sub(DIGIT_PAD), e + DIGIT_PAD);
        pending = match pending {
            Some((pf, pt)) if from <= pt => Some((pf, pt.max(to))),
            Some((pf, pt)) => {
                widen_into(text, pf, pt, &mut out);
                Some((from, to))
            }
            None => Some((from, to)),
        };
    }
    if let Some((pf, pt)) = pending {
        widen_into(text, pf, pt, &mut out);
    }
    out
}

/// Where a date can stand, from the text's digit runs and month names (each in text
/// order): a date in digits (12/03/2013, 2013-03-12T08:00:00Z) is a group of three or more
/// digit runs joined by single `/`, `.` or `-`, with at most a time part up to the next
/// space after it; a date with a month's name lies within [`MONTH_REACH`] of the name (as
/// far as the search around every digit, [`digit_windows`], would reach). Both widened to
/// whitespace and merged. The words and numbers between dates cost nothing.
fn date_windows(
    text: &str,
    runs: &[(usize, usize)],
    months: &[(usize, usize)],
) -> Vec<(usize, usize)> {
    // The two lists, each in order, merged in order of start.
    let mut months = months
        .iter()
        .map(|&(s, e)| (s.saturating_sub(MONTH_REACH), e + MONTH_REACH))
        .peekable();
    let mut groups = digit_groups(text, runs, |c| matches!(c, b'/' | b'.' | b'-'))
        .filter(|g| g.runs >= 3)
        .map(|g| (g.start, g.end))
        .peekable();
    let mut out = Vec::new();
    loop {
        let next = match (months.peek(), groups.peek()) {
            (Some(m), Some(g)) if m <= g => months.next(),
            (_, Some(_)) => groups.next(),
            (Some(_), None) => months.next(),
            (None, None) => break,
        };
        let (from, to) = next.expect("peeked");
        widen_into(text, from, to, &mut out);
    }
    out
}

/// How far from a month's name a date holding it may reach: the day before it and the
/// year after it, across spaces (twice the search around a digit, and more).
const MONTH_REACH: usize = 2 * DIGIT_PAD + 16;

/// Numbers of 3 to 10 digits standing alone (not inside a word or a longer code): what an
/// admission number can be.
fn adno_candidates(text: &str, runs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    runs.iter()
        .copied()
        .filter(|&(s, e)| {
            let ok_start = s == 0 || !b[s - 1].is_ascii_alphanumeric();
            let ok_end = e == b.len() || !b[e].is_ascii_alphanumeric();
            ok_start && ok_end && (3..=10).contains(&(e - s))
        })
        .collect()
}

/// Spans around the digit groups an identifier can be made of: digit runs joined by single
/// spaces or hyphens ("905 156 4081", "QQ 12 34 56 C", "A123456789012") holding six digits or
/// more. Every identifier form has such a group (a NI number's three pairs are the fewest)
/// and reaches at most [`ID_BEFORE`] bytes before it and [`ID_AFTER`] after it, so dates
/// written with slashes, times, years, list numbers and the words between cost nothing.
/// Spans that touch are merged: a match never crosses from one span into another. The
/// patterns' look-around (`\b`) sees the text outside a span.
pub fn id_windows(text: &str) -> Vec<(usize, usize)> {
    id_windows_from(text, &words::digit_runs(text.as_bytes()))
}

/// How far before its digit group an identifier can start: a NI number's two letters and
/// space ("QQ 12 34 56 C").
const ID_BEFORE: usize = 3;
/// How far after its digit group an identifier can end: a NI number's space and suffix
/// letter, a UPN's check letter.
const ID_AFTER: usize = 2;

/// [`id_windows`] from the text's digit runs.
fn id_windows_from(text: &str, runs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    const MIN_DIGITS: usize = 6;
    let b = text.as_bytes();
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut push = |gs: usize, ge: usize| {
        let mut s = gs.saturating_sub(ID_BEFORE);
        while !text.is_char_boundary(s) {
            s -= 1;
        }
        let mut e = (ge + ID_AFTER).min(b.len());
        while !text.is_char_boundary(e) {
            e += 1;
        }
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    };
    for g in digit_groups(text, runs, |c| matches!(c, b' ' | b'-')) {
        if g.digits >= MIN_DIGITS {
            push(g.start, g.end);
        }
    }
    out
}

/// Digit runs joined into one group by single joining bytes ("905 156 4081" by spaces,
/// "12/03/2013" by slashes).
struct DigitGroup {
    start: usize,
    end: usize,
    runs: usize,
    digits: usize,
}

/// The groups of the text's digit runs (in text order) joined by single bytes that `join`
/// accepts, in text order.
fn digit_groups<'r>(
    text: &'r str,
    runs: &'r [(usize, usize)],
    join: impl Fn(u8) -> bool + 'r,
) -> impl Iterator<Item = DigitGroup> + 'r {
    let b = text.as_bytes();
    let mut runs = runs.iter().copied().peekable();
    std::iter::from_fn(move || {
        let (start, mut end) = runs.next()?;
        let mut g = DigitGroup {
            start,
            end,
            runs: 1,
            digits: end - start,
        };
        while let Some(&(s, e)) = runs.peek()
            && s == end + 1
            && join(b[end])
        {
            runs.next();
            end = e;
            g.runs += 1;
            g.digits += e - s;
        }
        g.end = end;
        Some(g)
    })
}

/// Around every digit run a region this long each side is searched.
const DIGIT_PAD: usize = 48;

/// Adds the region `from..to`, widened to whitespace (and character boundaries), to `out`,
/// merging it with the last region when they touch; regions come in order of `from`. Never
/// walks back into or forward over what the last region already covers: text without
/// whitespace must not be walked again for every digit.
fn widen_into(text: &str, from: usize, to: usize, out: &mut Vec<(usize, usize)>) {
    let b = text.as_bytes();
    let last_end = out.last().map_or(0, |l| l.1);
    if to <= last_end {
        return;
    }
    let mut ws = from.min(b.len());
    while ws > last_end && !b[ws - 1].is_ascii_whitespace() {
        ws -= 1;
    }
    let mut we = to.min(b.len());
    while we < b.len() && !b[we].is_ascii_whitespace() {
        we += 1;
    }
    while ws > 0 && !text.is_char_boundary(ws) {
        ws -= 1;
    }
    while we < b.len() && !text.is_char_boundary(we) {
        we += 1;
    }
    match out.last_mut() {
        Some(last) if ws <= last.1 => last.1 = last.1.max(we),
        _ => out.push((ws, we)),
    }
}

fn within_hours(ctx: &MessageContext) -> bool {
    let h = &ctx.classifier.hours;
    let local = ctx.when.with_timezone(&h.tz);
    let t = chrono::NaiveTime::from_hms_opt(local.hour(), local.minute(), local.second())
        .expect("valid");
    h.days.contains(&local.weekday()) && t >= h.start && t < h.end
}

fn adno_label(text: &str) -> bool {
    const LABELS: [&[u8]; 7] = [
        b"adno",
        b"adm no",
        b"adm. no",
        b"admission no",
        b"admission number",
        b"admissions number",
        b"admission #",
    ];
    let t = text.as_bytes();
    // Every label starts with "ad": try them only where it stands (a plain loop: the text
    // is a few dozen bytes).
    (0..t.len().saturating_sub(1)).any(|i| {
        t[i] | 0x20 == b'a'
            && t[i + 1] | 0x20 == b'd'
            && LABELS.iter().any(|l| {
                t.get(i..i + l.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(l))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_in_free_text() {
        // names at 100..112 and 5000..5600 (a long span: markup between the words)
        let near = NearNames::new(vec![(5000, 5600), (100, 112)], None);
        assert!(near.near((170, 180)), "58 bytes after the first name");
        assert!(!near.near((180, 190)), "68 bytes after");
        assert!(near.near((40, 45)), "55 bytes before");
        assert!(!near.near((20, 30)), "70 bytes before");
        assert!(near.near((5300, 5310)), "inside the long span");
        assert!(near.near((5650, 5655)), "just after the long span");
        assert!(!near.near((2000, 2010)));
        assert!(!NearNames::new(Vec::new(), None).near((0, 1)));
    }

    /// The windows as first written: every digit widened on its own (quadratic on text
    /// without whitespace), the reference the fast version must agree with.
    fn windows_reference(text: &str) -> Vec<(usize, usize)> {
        let b = text.as_bytes();
        let mut out: Vec<(usize, usize)> = Vec::new();
        let mut i = 0;
        while let Some(off) = b[i..].iter().position(u8::is_ascii_digit) {
            let s = i + off;
            let mut e = s;
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            i = e;
            let mut ws = s.saturating_sub(48);
            while ws > 0 && !b[ws - 1].is_ascii_whitespace() {
                ws -= 1;
            }
            let mut we = (e + 48).min(b.len());
            while we < b.len() && !b[we].is_ascii_whitespace() {
                we += 1;
            }
            while ws > 0 && !text.is_char_boundary(ws) {
                ws -= 1;
            }
            while we < b.len() && !text.is_char_boundary(we) {
                we += 1;
            }
            match out.last_mut() {
                Some(last) if ws <= last.1 => last.1 = last.1.max(we),
                _ => out.push((ws, we)),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn digit_windows_agree_with_the_reference(
            parts in proptest::collection::vec(
                proptest::sample::select(vec!["1", "23", "a", "bcdefghij", " ", "\n", "é", "x".repeat(60).leak() as &str]),
                0..200,
            ),
        ) {
            let text: String = parts.concat();
            proptest::prop_assert_eq!(digit_windows(&text), windows_reference(&text));
        }

        /// Looking for identifiers only around six-digit groups finds every identifier the
        /// search around every digit finds.
        #[test]
        fn id_windows_keep_every_identifier(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "A123456789012", "9995363763", "943 476 5919", "943-476-5919", "3386 979 946",
                    "AB 12 34 56 C", "JG103759A", "ULN", "NHS", "12/03/2013", "1", "23", "456",
                    "a123456789012", "T12345678901A", "jg 103759 a", "QQ", "Q", "é1234567",
                    "-", "x", "é", "and the class will meet in the hall after lunch on Friday",
                ]),
                0..16,
            ),
            seps in proptest::collection::vec(
                proptest::sample::select(vec![" ", "\t", "", ",", "\n", "-", ": "]),
                16,
            ),
        ) {
            let text: String = parts
                .iter()
                .zip(&seps)
                .flat_map(|(p, s)| [*p, *s])
                .collect();
            let ids = identifiers::IdDetector::default();
            let found = |w: &[(usize, usize)]| {
                let mut v: Vec<_> = ids
                    .find(&text, None, w)
                    .into_iter()
                    .map(|m| (m.start, m.end, m.kind))
                    .collect();
                v.sort();
                v
            };
            proptest::prop_assert_eq!(found(&id_windows(&text)), found(&digit_windows(&text)));
        }
    }

    /// Birth dates as the scanner keeps them: near a name or after a label.
    fn kept_dates(
        d: &dates::DateDetector,
        text: &str,
        names: &[(usize, usize)],
        windows: &[(usize, usize)],
    ) -> Vec<(usize, usize)> {
        let near = NearNames::new(names.to_vec(), None);
        d.dates(text, 2026, windows)
            .into_iter()
            .filter(|m| d.labelled(text, m.start) || near.near((m.start, m.end)))
            .map(|m| (m.start, m.end))
            .collect()
    }

    proptest::proptest! {
        /// Looking for dates only around names and labels keeps every date the full search
        /// over all digits keeps.
        #[test]
        fn date_regions_keep_every_birth_date(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "NAME", "12/03/2013", "12 March 2013", "March 12, 2013", "2013-03-12T08:00:00Z",
                    "DOB:", "date of birth", "8", " ", "\n", "the", "and", "é", "x".repeat(30).leak() as &str,
                ]),
                0..120,
            ),
        ) {
            let mut text = String::new();
            let mut names = Vec::new();
            for p in parts {
                if p == "NAME" {
                    names.push((text.len(), text.len() + 12));
                    text.push_str("Olivia Smith");
                } else {
                    text.push_str(p);
                }
                text.push(' ');
            }
            let d = dates::DateDetector::default();
            let all = kept_dates(&d, &text, &names, &digit_windows(&text));
            let regions = date_regions(
                &text,
                &words::digit_runs(text.as_bytes()),
                &names,
                &d.label_spans(&text),
            );
            proptest::prop_assert_eq!(kept_dates(&d, &text, &names, &regions), all);
        }

        /// Looking for dates only in groups of digits and around month names finds every
        /// date the search around every digit finds.
        #[test]
        fn date_windows_keep_every_date(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "12/03/2013", "1.2.13", "2013-03-12T08:00:00Z", "2013-03-12", "1/2/3/2013",
                    "192.168.1.10", "12", "2013", "3", "12 March 2013", "12th of march 2013",
                    "12-Mar-2013", "12-MAR-13", "March 12, 2013", "Sept 5th 2014", "sepember",
                    "Mar.", "May", "junE", "of", "th", "-", "/", ",", ".", "é", "x", "Smith",
                ]),
                0..40,
            ),
            seps in proptest::collection::vec(
                proptest::sample::select(vec![
                    " ", "\t", "\n", "", "  ", "\u{a0}", " ".repeat(40).leak() as &str,
                    "x".repeat(50).leak() as &str,
                ]),
                40,
            ),
        ) {
            let text: String = parts.iter().zip(&seps).flat_map(|(p, s)| [*p, *s]).collect();
            let mut set = words::WordSet::default();
            for w in dates::MONTH_WORDS {
                set.insert(w, 1);
            }
            let (mut months, mut runs) = (Vec::new(), Vec::new());
            set.scan(text.as_bytes(), |s, e, _| months.push((s, e)), |s, e| runs.push((s, e)));
            let d = dates::DateDetector::default();
            let found = |w: &[(usize, usize)]| -> Vec<(usize, usize, chrono::NaiveDate)> {
                d.dates(&text, 2026, w).into_iter().map(|m| (m.start, m.end, m.date)).collect()
            };
            proptest::prop_assert_eq!(
                found(&date_windows(&text, &runs, &months)),
                found(&digit_windows(&text))
            );
        }
    }

    #[test]
    fn identifier_windows_need_six_digits_in_a_group() {
        let lone = "Year 8 trip, room 4, item 12 of 30, on 12/03/2027 at 10:30";
        assert_eq!(digit_windows(lone).len(), 1);
        assert!(id_windows(lone).is_empty());
        let upn = "Year 8 pupil A123456789012 on the list";
        let w = id_windows(upn);
        assert_eq!(w.len(), 1);
        let at = upn.find("A12").unwrap();
        assert!(w[0].0 <= at && w[0].1 >= at + 13, "{w:?}");
        let nino = "NI QQ 12 34 56 C";
        assert_eq!(
            id_windows(nino),
            vec![(nino.find("QQ").unwrap(), nino.len())]
        );
        assert_eq!(id_windows("NHS 943-476-5919").len(), 1);
        assert!(id_windows("pairs 12 34 5 and 12-3").is_empty());
    }

    proptest::proptest! {
        /// Blocks cover the text, start on a character boundary after whitespace where there
        /// is some, and every stretch up to the overlap long lies inside one block.
        #[test]
        fn blocks_cover_every_short_stretch(
            len in 0usize..(3 * BLOCK),
            spaces in 1usize..200,
            probe in 0usize..(3 * BLOCK),
            width in 1usize..=BLOCK_OVERLAP,
        ) {
            let text: String = (0..len)
                .map(|i| if i % spaces == 0 { ' ' } else if i % 7 == 0 { 'é' } else { 'x' })
                .collect();
            let bl = blocks(&text);
            proptest::prop_assert_eq!(bl.first().map(|b| b.0), Some(0));
            proptest::prop_assert_eq!(bl.last().map(|b| b.1), Some(text.len()));
            for w in bl.windows(2) {
                proptest::prop_assert!(w[1].0 < w[0].1, "blocks overlap");
            }
            for &(s, e) in &bl {
                proptest::prop_assert!(text.is_char_boundary(s) && text.is_char_boundary(e));
            }
            let p = probe.min(text.len());
            let q = (p + width).min(text.len());
            proptest::prop_assert!(
                bl.iter().any(|&(s, e)| s <= p && q <= e),
                "{p}..{q} not inside one block of {bl:?}"
            );
        }
    }

    #[test]
    fn admission_number_labels() {
        for t in [
            "Adno: ",
            "ADM. NO ",
            "pupil's admission number",
            "Admissions Number\t",
            "Mrs Adams, adno",
        ] {
            assert!(adno_label(t), "{t}");
        }
        for t in ["", "a", "add no", "order no", "admin no", "ad"] {
            assert!(!adno_label(t), "{t}");
        }
    }

    #[test]
    fn near_names_in_tables_means_same_row() {
        let rows = |r: &[&[&str]]| {
            r.iter()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect()
        };
        let seg = Segment::table(
            Location::Body,
            rows(&[
                &["Name", "DOB"],
                &["Olivia Smith", "01/02/2013"],
                &["Nobody", "03/04/2013"],
            ]),
        );
        let text = &seg.text;
        assert_eq!(
            text,
            "Name\tDOB\nOlivia Smith\t01/02/2013\nNobody\t03/04/2013\n"
        );
        let near = NearNames::new(vec![(9, 21)], seg.rows.as_ref());
        let d1 = text.find("01/02").unwrap();
        let d2 = text.find("03/04").unwrap();
        assert!(near.near((d1, d1 + 10)));
        assert!(!near.near((d2, d2 + 10)));
        // A cell holding a line break is still one row: the date is on the name's row.
        let seg = Segment::table(
            Location::Body,
            rows(&[
                &["Olivia Smith", "Flat 2\nHigh St", "01/02/2013"],
                &["Nobody", "03/04/2013"],
            ]),
        );
        let near = NearNames::new(vec![(0, 12)], seg.rows.as_ref());
        let d1 = seg.text.find("01/02").unwrap();
        let d2 = seg.text.find("03/04").unwrap();
        assert!(near.near((d1, d1 + 10)));
        assert!(!near.near((d2, d2 + 10)));
    }
}
