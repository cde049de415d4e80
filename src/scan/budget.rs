//! What one message may cost to scan ([`Limits`]) and what it has cost so far ([`Budget`]).
//! What goes past a limit is listed as not scanned, never reported as clean. A leaf of
//! `scan` (with the OCR settings from `ocr`).

use std::time::{Duration, Instant};

use super::ocr;

/// Limits on what one message may cost to scan. What goes past a limit is not read, and is
/// listed in `not_scanned` (the fail mode then decides); it is never reported as clean.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Total text extracted from one message.
    pub max_text_bytes: usize,
    /// MIME parts read in one message.
    pub max_parts: usize,
    /// message/rfc822 and archive nesting.
    pub max_depth: usize,
    /// Wall-clock budget for one message.
    pub time_budget: Duration,
    /// Bytes unpacked from archives and documents in one message.
    pub max_unpacked_bytes: usize,
    /// Bytes unpacked from one archive member or PDF stream.
    pub max_member_bytes: usize,
    /// Unpacked : packed ratio of one member above which it is a bomb.
    pub max_ratio: u64,
    /// Members read from one archive.
    pub max_members: usize,
    /// Objects in one PDF.
    pub max_pdf_objects: usize,
    /// Reading text in pictures (`[scan]`).
    pub ocr: ocr::Settings,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_bytes: 64 << 20,
            max_parts: 1000,
            max_depth: 8,
            time_budget: Duration::from_secs(20),
            max_unpacked_bytes: 256 << 20,
            max_member_bytes: 64 << 20,
            max_ratio: 200,
            max_members: 1000,
            max_pdf_objects: 200_000,
            ocr: ocr::Settings::default(),
        }
    }
}

/// Running budget of one scan.
pub struct Budget {
    started: Instant,
    limits: Limits,
    pub text_bytes: usize,
    pub parts: usize,
    pub unpacked_bytes: usize,
}

impl Budget {
    pub fn new(limits: &Limits) -> Budget {
        Budget {
            started: Instant::now(),
            limits: limits.clone(),
            text_bytes: 0,
            parts: 0,
            unpacked_bytes: 0,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// When this message's OCR must stop: its OCR time budget, within the scan's own.
    pub fn ocr_deadline(&self) -> Instant {
        self.started + self.limits.ocr.time_budget.min(self.limits.time_budget)
    }

    /// Why the budget is spent, if it is.
    pub fn exhausted(&self) -> Option<String> {
        if self.started.elapsed() > self.limits.time_budget {
            return Some(format!(
                "scan time budget of {} s used up",
                self.limits.time_budget.as_secs_f32()
            ));
        }
        if self.text_bytes > self.limits.max_text_bytes {
            return Some(format!(
                "more than {} MB of text in one message",
                self.limits.max_text_bytes >> 20
            ));
        }
        if self.unpacked_bytes > self.limits.max_unpacked_bytes {
            return Some(format!(
                "more than {} MB unpacked from attachments",
                self.limits.max_unpacked_bytes >> 20
            ));
        }
        if self.parts > self.limits.max_parts {
            return Some(format!(
                "more than {} parts in one message",
                self.limits.max_parts
            ));
        }
        None
    }
}
