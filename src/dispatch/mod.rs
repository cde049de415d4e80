//! What happens to a message once a front end has read it, the same for the SMTP/LMTP relay
//! (`smtp`) and the milter (`milter`): the scan on the blocking pool within `scan_timeout`,
//! the policy decision, a deliberate-send override, the count in the metrics ([`judge`]);
//! then the delivery plan per recipient, the guidance text and added headers ([`outcome`]),
//! the copy held in the quarantine and the decision recorded ([`hold`]), and the notices
//! ([`notices`]). The scanner and the notifier in force are swapped whole on reload.
//!
//! The front ends are thin protocol adapters that call this module; it must not import
//! `smtp` or `milter`, and they must not import each other.
//!
//! [`judge`]: Dispatcher::judge

pub mod hold;
pub mod notices;
pub mod outcome;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::deliver::Deliverer;
use crate::notify::Notifier;
use crate::policy::{Decision, Policy, decide};
use crate::quarantine::QuarantineStore;
use crate::scan::{Envelope, Finding, Report, Scanner};

/// What a reload replaces: the site and directory (in the scanner), the policy, and the
/// notice templates (in the notifier). `config::Config::in_force` builds it.
#[derive(Clone)]
pub struct InForce {
    pub scanner: Arc<Scanner>,
    pub policy: Arc<Policy>,
    pub notifier: Option<Arc<Notifier>>,
}

/// Settings the dispatcher takes from the front ends' configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This host's name, in Received lines and notices.
    pub hostname: String,
    /// Where notices keep their state.
    pub data_dir: PathBuf,
    /// A scan that does not finish in this time is incomplete (the fail mode decides).
    pub scan_timeout: Duration,
    /// `serve --no-scan` (benchmarks only): every report empty.
    pub no_scan: bool,
}

/// Everything after a message is read, shared by every front end.
pub struct Dispatcher {
    live: RwLock<InForce>,
    pub deliverer: Deliverer,
    pub store: Arc<dyn QuarantineStore>,
    pub settings: Settings,
}

/// One message judged: scanned, decided, an override applied.
pub struct Judged {
    pub reference: String,
    /// The scanner it was judged with (a reload does not change it mid-message).
    pub scanner: Arc<Scanner>,
    pub envelope: Envelope,
    /// The message as it goes on: with an honoured override, its tag taken out of the
    /// Subject.
    pub msg: Arc<Vec<u8>>,
    pub decision: Decision,
    pub findings: Vec<Finding>,
    /// An honoured deliberate send: the sender's reason and the recipients it lifted.
    pub deliberate: Option<(String, Vec<String>)>,
    pub scan_time: Duration,
}

impl Judged {
    /// "tempfail" or the strictest action, as logs and metrics name it.
    pub fn action(&self) -> &'static str {
        if self.decision.tempfail {
            "tempfail"
        } else {
            self.decision.action.as_str()
        }
    }

    /// The finding kinds, as logs name them.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.findings.iter().map(|f| f.kind.as_str()).collect()
    }

    /// The notices this message will need once its outcome is final.
    pub fn pending(&self, plan: &outcome::Plan<'_>) -> notices::Pending {
        notices::Pending::new(
            &self.scanner,
            &self.reference,
            &self.envelope,
            &self.msg,
            &self.decision,
            plan,
            self.findings.clone(),
            self.deliberate.clone(),
        )
    }
}

impl Dispatcher {
    pub fn new(
        deliverer: Deliverer,
        settings: Settings,
        in_force: InForce,
        store: Arc<dyn QuarantineStore>,
    ) -> Dispatcher {
        Dispatcher {
            live: RwLock::new(in_force),
            deliverer,
            store,
            settings,
        }
    }

    fn live(&self) -> InForce {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The scanner in force now (a message keeps the one it started with).
    pub fn scanner(&self) -> Arc<Scanner> {
        self.live().scanner
    }

    pub fn notifier(&self) -> Option<Arc<Notifier>> {
        self.live().notifier
    }

    /// Swaps in what a reload loaded (built whole beforehand: on error the old stays).
    pub fn reload(&self, in_force: InForce) {
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = in_force;
    }

    /// Scans one message on the blocking pool within `scan_timeout`; a scan that does not
    /// finish gives an incomplete report, so the fail mode decides. With `serve --no-scan`
    /// (benchmarks only) the report is empty.
    pub async fn scan_bounded(
        &self,
        scanner: &Arc<Scanner>,
        message: &Arc<Vec<u8>>,
        envelope: &Envelope,
    ) -> Report {
        if self.settings.no_scan {
            return Report::default();
        }
        let (scanner, message, envelope) = (scanner.clone(), message.clone(), envelope.clone());
        let scan = tokio::task::spawn_blocking(move || {
            scanner.scan(&message, &envelope, chrono::Utc::now())
        });
        match tokio::time::timeout(self.settings.scan_timeout, scan).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) | Err(_) => {
                let mut r = Report::default();
                r.add_not_scanned(crate::scan::NotScanned {
                    location: "message".into(),
                    why: "the scan did not finish in time".into(),
                    incomplete: true,
                });
                r
            }
        }
    }

    /// Scans and decides one message, honours a deliberate-send override (`[dlp-override:
    /// reason]` in the Subject, where the school allows it), and counts it in the metrics.
    pub async fn judge(&self, envelope: Envelope, message: Vec<u8>) -> Judged {
        let reference = outcome::reference();
        let InForce {
            scanner, policy, ..
        } = self.live();
        let msg = Arc::new(message);
        let started = Instant::now();
        let report = self.scan_bounded(&scanner, &msg, &envelope).await;
        let scan_time = started.elapsed();
        let mut decision = decide(&policy, &scanner.classifier, &report, &envelope);
        let findings = report.findings();
        let deliberate = if decision.tempfail {
            None
        } else {
            crate::policy::deliberate::apply(
                &policy,
                &mut decision,
                &findings,
                &envelope.mail_from,
                &msg,
            )
        };
        let (msg, deliberate) = match deliberate {
            Some(d) => (Arc::new(d.message), Some((d.reason, d.recipients))),
            None => (msg, None),
        };
        let judged = Judged {
            reference,
            scanner,
            envelope,
            msg,
            decision,
            findings,
            deliberate,
            scan_time,
        };
        crate::metrics::get().message(judged.action(), &judged.kinds(), scan_time);
        judged
    }
}
