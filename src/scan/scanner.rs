//! The scanner: the bytes of a message and its envelope in, a [`Report`] out — the MIME walk
//! (`mime`, with the extractors), then the detectors over every segment, then the masks for
//! locations. It sits above every other part of `scan`.

use std::sync::Arc;

use super::budget::{Budget, Limits};
use super::detectors::{self, Detectors};
use super::envelope::Envelope;
use super::report::Report;
use super::{mime, ocr};
use crate::directory::Directory;
use crate::settings::Site;

/// Everything a scan needs, built once and shared by every message (and thread).
pub struct Scanner {
    /// The trust and its schools.
    pub site: Arc<Site>,
    pub directory: Arc<Directory>,
    pub classifier: crate::classes::Classifier,
    pub detectors: Detectors,
    pub limits: Limits,
}

impl Scanner {
    /// A scanner for the site's schools, with `[scan]` and the loaded directory.
    pub fn new(
        site: Arc<Site>,
        scan: &ocr::ScanConfig,
        directory: Arc<Directory>,
    ) -> Result<Scanner, crate::settings::ConfigError> {
        let classifier = crate::classes::Classifier::new(&site, directory.clone())?;
        let detectors = Detectors::build(&site, &directory);
        let ocr = scan.settings();
        Ok(Scanner {
            site,
            directory,
            classifier,
            detectors,
            limits: Limits {
                ocr,
                ..Limits::default()
            },
        })
    }

    /// Byte ranges in `text` a reviewer should see highlighted: pupil full names,
    /// identifiers and special-category terms (sorted, not overlapping).
    pub fn highlights(&self, text: &str) -> Vec<(usize, usize)> {
        let d = &self.detectors;
        let mut spans: Vec<(usize, usize)> = d
            .names
            .find(
                &self.directory,
                text,
                &detectors::names::OwnNames::default(),
            )
            .into_iter()
            .map(|m| (m.start, m.end))
            .collect();
        let windows = detectors::id_windows(text);
        spans.extend(
            d.ids
                .find(text, None, &windows)
                .into_iter()
                .map(|m| (m.start, m.end)),
        );
        spans.extend(d.keywords.find(text).into_iter().map(|(s, e, _)| (s, e)));
        spans.sort_unstable();
        let mut out: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (s, e) in spans {
            match out.last_mut() {
                Some(last) if s < last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        out
    }

    /// Scans one message. `now` is used when the Date header is missing or absurd.
    pub fn scan(
        &self,
        message: &[u8],
        envelope: &Envelope,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Report {
        let mut budget = Budget::new(&self.limits);
        let walked = mime::walk(message, &mut budget);
        let mut report = Report::default();
        for n in &walked.not_scanned {
            report.add_not_scanned(n.clone());
        }
        let ctx = detectors::MessageContext::new(
            &self.directory,
            &self.classifier,
            envelope,
            &walked.headers,
            &walked.segments,
            now,
        );
        for seg in &walked.segments {
            self.detectors
                .scan_segment(&self.directory, &ctx, seg, &mut report);
        }
        self.detectors
            .finish(&self.directory, &self.site, &ctx, &walked, &mut report);
        self.mask_locations(&mut report);
        report
    }

    /// Each pupil's full name in `text` with its masked form ("Leah Walker" → "L**** W****").
    pub fn name_masks(&self, text: &str) -> Vec<(String, String)> {
        let own = detectors::names::OwnNames::default();
        let names = &self.detectors.names;
        // Paths and file names: "Walker Leah EHCP.pdf" is masked too (masking more is safe).
        let mut found = names.find(&self.directory, text, &own);
        found.extend(names.in_file_name(&self.directory, text, &own));
        found
            .into_iter()
            .map(|m| {
                let name = text[m.start..m.end].to_string();
                let masked = crate::text::mask_name(&name);
                (name, masked)
            })
            .collect()
    }

    /// `text` with every pupil's full name in it masked, as locations are shown.
    pub fn mask_names(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, masked) in self.name_masks(text) {
            out = out.replace(&name, &masked);
        }
        out
    }

    /// Pupil names inside attachment names are masked wherever the report shows a location
    /// (findings, not_scanned), as evidence is: the report goes into logs, replies and notices.
    fn mask_locations(&self, report: &mut Report) {
        let mut masks: Vec<(String, String)> = Vec::new();
        for path in report.attachment_paths() {
            for (name, masked) in self.name_masks(&path) {
                if !masks.iter().any(|(n, _)| *n == name) {
                    masks.push((name, masked));
                }
            }
        }
        // Longest first, so a name inside a longer one is not masked half-way.
        masks.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
        report.location_masks = masks;
        let shown: Vec<String> = report
            .not_scanned
            .iter()
            .map(|n| report.mask_location(n.location.clone()))
            .collect();
        for (n, loc) in report.not_scanned.iter_mut().zip(shown) {
            n.location = loc;
        }
    }
}
