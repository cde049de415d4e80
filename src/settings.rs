//! The shared part of the configuration every module may know: the trust (`[trust]`), its
//! schools (`[[school]]`), where the config file lives, the error type a config problem is
//! reported with, and the helpers that read domains, networks and positions.
//!
//! This is a leaf: it imports nothing of Hallpass. Each module owns its own section type
//! (`[relay]` in smtp, `[guidance]` in notify, …); `config` assembles them above all of them.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{NaiveTime, Weekday};
use serde::Deserialize;

/// A configuration error a school IT manager can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The trust and its schools, as every module sees them (the rest of the file is in the
/// sections their modules own).
#[derive(Debug, Clone)]
pub struct Site {
    pub trust: Trust,
    pub schools: Vec<School>,
    /// The directory the config file lives in: relative paths resolve against it.
    pub base_dir: PathBuf,
    /// The config file.
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Hold what could not be fully scanned (quarantine for mail leaving the school).
    #[default]
    Hold,
    /// Answer 451 so the upstream MTA retries later.
    Tempfail,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    pub name: String,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default)]
    pub school_hours: SchoolHours,
    #[serde(default)]
    pub partner_domains: Vec<String>,
    #[serde(default)]
    pub personal_webmail_domains: Vec<String>,
    #[serde(default)]
    pub cloud_storage_domains: Vec<String>,
    #[serde(default = "default_bulk_threshold")]
    pub bulk_threshold: usize,
    #[serde(default)]
    pub fail_mode: FailMode,
}

fn default_timezone() -> String {
    "Europe/London".into()
}
fn default_bulk_threshold() -> usize {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchoolHours {
    pub days: Vec<String>,
    pub start: String,
    pub end: String,
}

impl Default for SchoolHours {
    fn default() -> Self {
        SchoolHours {
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            start: "07:30".into(),
            end: "18:30".into(),
        }
    }
}

/// School hours after validation.
#[derive(Debug, Clone)]
pub struct Hours {
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub tz: chrono_tz::Tz,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct School {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    #[serde(default)]
    pub pupil_domains: Vec<String>,
    /// Pupil roster: a MIS CSV export or a DfE Common Transfer File (`.xml`).
    pub roster: PathBuf,
    #[serde(default)]
    pub staff: Option<PathBuf>,
    pub dpl: String,
    #[serde(default)]
    pub dsl: Vec<String>,
}

impl Site {
    /// A trust and schools read from the config file at `path`.
    pub fn new(trust: Trust, schools: Vec<School>, path: &Path) -> Site {
        let mut base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if base_dir.as_os_str().is_empty() {
            base_dir = PathBuf::from(".");
        }
        Site {
            trust,
            schools,
            base_dir,
            path: path.to_path_buf(),
        }
    }

    /// A config error in this file.
    pub fn invalid(&self, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.clone(),
            message,
        }
    }

    /// Checks `[trust]` and every `[[school]]`; the ids of the schools.
    pub fn check(&self) -> Result<std::collections::HashSet<String>, ConfigError> {
        if self.schools.is_empty() {
            return Err(self.invalid("at least one [[school]] is required".into()));
        }
        let mut ids = std::collections::HashSet::new();
        for s in &self.schools {
            if !ids.insert(s.id.clone()) {
                return Err(self.invalid(format!("school id {:?} is used twice", s.id)));
            }
            if s.domains.is_empty() {
                return Err(self.invalid(format!("school {:?}: domains must not be empty", s.id)));
            }
            for d in s.domains.iter().chain(&s.pupil_domains) {
                check_domain(d).map_err(|m| self.invalid(format!("school {:?}: {m}", s.id)))?;
            }
            for a in std::iter::once(&s.dpl).chain(&s.dsl) {
                if !a.contains('@') {
                    return Err(
                        self.invalid(format!("school {:?}: {a:?} is not an email address", s.id))
                    );
                }
            }
        }
        for d in self
            .trust
            .partner_domains
            .iter()
            .chain(&self.trust.personal_webmail_domains)
            .chain(&self.trust.cloud_storage_domains)
        {
            check_domain(d).map_err(|m| self.invalid(format!("[trust]: {m}")))?;
        }
        if self.trust.bulk_threshold < 2 {
            return Err(self.invalid("[trust] bulk_threshold must be at least 2".into()));
        }
        Ok(ids)
    }

    /// Lower-cases the schools' domains (after every check has passed).
    pub fn normalise(&mut self) {
        for s in &mut self.schools {
            for d in s.domains.iter_mut().chain(s.pupil_domains.iter_mut()) {
                *d = d.to_ascii_lowercase();
            }
        }
    }

    /// The validated school hours in the trust's time zone.
    pub fn hours(&self) -> Result<Hours, ConfigError> {
        let h = &self.trust.school_hours;
        let tz: chrono_tz::Tz = self.trust.timezone.parse().map_err(|_| {
            self.invalid(format!(
                "[trust] timezone {:?} is not an IANA time zone such as \"Europe/London\"",
                self.trust.timezone
            ))
        })?;
        let time = |s: &str| {
            NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| {
                self.invalid(format!(
                    "[trust] school_hours: {s:?} is not a time like \"07:30\""
                ))
            })
        };
        let mut days = Vec::new();
        for d in &h.days {
            days.push(d.parse::<Weekday>().map_err(|_| {
                self.invalid(format!(
                    "[trust] school_hours: {d:?} is not a day like \"mon\""
                ))
            })?);
        }
        let (start, end) = (time(&h.start)?, time(&h.end)?);
        if start >= end {
            return Err(self.invalid("[trust] school_hours: start must be before end".into()));
        }
        Ok(Hours {
            days,
            start,
            end,
            tz,
        })
    }

    /// The school whose staff or pupil domain an address is in.
    pub fn school_of(&self, address: &str) -> Option<&School> {
        let domain = domain_of(address)?;
        self.schools.iter().find(|s| {
            s.domains
                .iter()
                .chain(&s.pupil_domains)
                .any(|d| domain_matches(&d.to_ascii_lowercase(), &domain))
        })
    }

    /// A path from the config, resolved against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

fn check_domain(d: &str) -> Result<(), String> {
    let bare = d.strip_prefix("*.").unwrap_or(d);
    let ok = !bare.is_empty()
        && bare.split('.').count() >= 2
        && bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !bare.starts_with('.')
        && !bare.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{d:?} is not a domain (write \"example.org\" or \"*.example.org\")"
        ))
    }
}

/// Whether `domain` (lower-case) matches a configured pattern: `example.org` exactly, or
/// `*.example.org` for any subdomain of example.org.
pub fn domain_matches(pattern: &str, domain: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => {
            domain.len() > parent.len() + 1
                && domain.ends_with(parent)
                && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.'
        }
        None => pattern.eq_ignore_ascii_case(domain),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |p| before.len() - p - 1)
        + 1;
    (line, col)
}

impl fmt::Display for FailMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailMode::Hold => "hold",
            FailMode::Tempfail => "tempfail",
        })
    }
}

/// Whether `ip` is in one of `nets` (an IPv4-mapped IPv6 address counts as IPv4).
pub fn in_networks(nets: &[ipnet::IpNet], ip: std::net::IpAddr) -> bool {
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    nets.iter().any(|n| n.contains(&ip))
}

/// The domain of an address, lower-cased (`None` without an `@`).
pub fn domain_of(address: &str) -> Option<String> {
    let a = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (_, d) = a.rsplit_once('@')?;
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_domains() {
        assert!(domain_matches("*.gov.uk", "essex.gov.uk"));
        assert!(!domain_matches("*.gov.uk", "gov.uk"));
        assert!(!domain_matches("*.gov.uk", "notgov.uk"));
        assert!(domain_matches("nhs.net", "nhs.net"));
        assert!(!domain_matches("nhs.net", "x.nhs.net"));
    }
}
