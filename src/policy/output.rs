//! What `hallpass scan` prints: the JSON object (field names are a public interface) and the
//! human report. Names are masked in both.

use serde::Serialize;

use super::{Action, Decision, RecipientDecision};
use crate::scan::{Finding, Report};

#[derive(Debug, Serialize)]
pub struct NotScannedOut {
    pub location: String,
    pub why: String,
}

/// A candidate pupil name that did not count, and why (so a data lead can check it).
#[derive(Debug, Serialize)]
pub struct DiscountedOut {
    pub location: String,
    /// Masked ("P**** S****").
    pub name: String,
    pub why: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ScanOutput {
    /// Strictest over all recipients.
    pub action: Action,
    pub recipients: Vec<RecipientDecision>,
    pub findings: Vec<Finding>,
    /// False when something could not be read.
    pub complete: bool,
    pub not_scanned: Vec<NotScannedOut>,
    /// Candidate pupil names not counted: someone in the conversation, a place, a heading.
    pub discounted: Vec<DiscountedOut>,
    /// Incomplete scan with fail_mode = "tempfail": the relay answers 451.
    pub tempfail: bool,
}

impl ScanOutput {
    pub fn new(report: &Report, decision: &Decision) -> ScanOutput {
        ScanOutput {
            action: decision.action,
            recipients: decision.recipients.clone(),
            findings: report.findings(),
            complete: report.complete(),
            not_scanned: report
                .not_scanned
                .iter()
                .map(|n| NotScannedOut {
                    location: n.location.clone(),
                    why: n.why.clone(),
                })
                .collect(),
            discounted: report
                .discounted
                .iter()
                .map(|(location, name, why)| DiscountedOut {
                    location: report.mask_location(location.clone()),
                    name: name.clone(),
                    why,
                })
                .collect(),
            tempfail: decision.tempfail,
        }
    }

    pub fn human(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("action: {}\n", self.action));
        if self.findings.is_empty() {
            s.push_str("findings: none\n");
        } else {
            s.push_str("findings:\n");
            for f in &self.findings {
                s.push_str(&format!(
                    "  {:<32} {:<28} x{:<3} {}\n",
                    f.kind.as_str(),
                    f.location,
                    f.count,
                    f.evidence
                ));
            }
        }
        s.push_str("recipients:\n");
        for r in &self.recipients {
            s.push_str(&format!("  {} ({}): {}\n", r.address, r.class, r.action));
            for why in &r.reasons {
                s.push_str(&format!("      {why}\n"));
            }
        }
        if !self.not_scanned.is_empty() {
            s.push_str("not scanned:\n");
            for n in &self.not_scanned {
                s.push_str(&format!("  {}: {}\n", n.location, n.why));
            }
        }
        if !self.discounted.is_empty() {
            s.push_str("not counted as pupils:\n");
            for d in &self.discounted {
                s.push_str(&format!("  {} in {}: {}\n", d.name, d.location, d.why));
            }
        }
        if !self.complete {
            s.push_str("scan incomplete: the fail mode decided for mail leaving the school\n");
        }
        s
    }
}
