//! The whole configuration file, assembled: `[trust]` and `[[school]]` (the shared
//! [`Site`], from `settings`) and each module's own section — `[policy]` (policy),
//! `[relay]` (smtp), `[review]` (review), `[quarantine]` (quarantine), `[guidance]` (notify),
//! `[metrics]` (metrics), `[milter]` (milter), `[scan]` (scan). Unknown keys are errors that
//! name the file, line and column.
//!
//! This module sits above every module whose section it assembles: it builds the parts a
//! running Hallpass uses (the scanner, the policy, the notifier) and hands each module only
//! its own section and the site. No module below may import it; only the command line
//! (`main.rs`, `admin.rs`) does. It reads only the config file itself; the roster and staff
//! files it points to are loaded by `directory`.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

pub use crate::settings::{
    ConfigError, FailMode, Hours, School, SchoolHours, Site, Trust, domain_matches, domain_of,
    in_networks, line_col,
};

use crate::directory::Directory;
use crate::dispatch::InForce;
use crate::metrics::MetricsConfig;
use crate::milter::MilterConfig;
use crate::notify::{GuidanceConfig, Notifier};
use crate::policy::{Policy, PolicyOverrides};
use crate::quarantine::QuarantineConfig;
use crate::review::config::ReviewConfig;
use crate::scan::Scanner;
use crate::scan::ocr::ScanConfig;
use crate::smtp::config::RelayConfig;

/// The file as TOML has it (the keys are the public interface).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    trust: Trust,
    #[serde(rename = "school")]
    schools: Vec<School>,
    #[serde(default)]
    policy: PolicyOverrides,
    #[serde(default)]
    relay: RelayConfig,
    #[serde(default)]
    review: ReviewConfig,
    #[serde(default)]
    quarantine: QuarantineConfig,
    #[serde(default)]
    guidance: GuidanceConfig,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default)]
    milter: MilterConfig,
    #[serde(default)]
    scan: ScanConfig,
}

/// A validated config file: the site and every module's section.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[trust]`, `[[school]]` and where the file lives.
    pub site: Arc<Site>,
    pub policy: PolicyOverrides,
    pub relay: RelayConfig,
    pub review: ReviewConfig,
    pub quarantine: QuarantineConfig,
    pub guidance: GuidanceConfig,
    pub metrics: MetricsConfig,
    pub milter: MilterConfig,
    /// `[scan]`: reading text in pictures (OCR).
    pub scan: ScanConfig,
}

/// Why the running parts could not be built from a config file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
}

impl Config {
    /// Reads and validates a config file. Paths inside it resolve against its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses config text as if it were read from `path`.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let mut site = Site::new(file.trust, file.schools, path);
        let relay = file.relay;
        file.scan.validate().map_err(|m| site.invalid(m))?;
        let ids = site.check()?;
        for id in file.guidance.school.keys() {
            if !ids.contains(id) {
                return Err(site.invalid(format!(
                    "[guidance.school.{id}]: there is no [[school]] with id {id:?}"
                )));
            }
        }
        if !file.guidance.digest_time.trim().is_empty()
            && chrono::NaiveTime::parse_from_str(file.guidance.digest_time.trim(), "%H:%M").is_err()
        {
            return Err(site.invalid(format!(
                "[guidance] digest_time {:?} is not a time such as \"07:30\"",
                file.guidance.digest_time
            )));
        }
        site.hours()?;
        if !(1..=64).contains(&file.quarantine.postgres_connections) {
            return Err(site.invalid(format!(
                "[quarantine] postgres_connections = {} is not between 1 and 64",
                file.quarantine.postgres_connections
            )));
        }
        relay.resolve(&site.base_dir).map_err(|m| site.invalid(m))?;
        site.normalise();
        Ok(Config {
            site: Arc::new(site),
            policy: file.policy,
            relay,
            review: file.review,
            quarantine: file.quarantine,
            guidance: file.guidance,
            metrics: file.metrics,
            milter: file.milter,
            scan: file.scan,
        })
    }

    /// Loads the rosters and staff files and builds the scanner.
    pub fn scanner(&self) -> Result<Scanner, LoadError> {
        let directory = Directory::load(&self.site)?;
        Ok(Scanner::new(
            self.site.clone(),
            &self.scan,
            Arc::new(directory),
        )?)
    }

    /// The policy in force: the action table with `[policy]`, and who may mark a send as
    /// deliberate (`[guidance] override_tag`, `allow_override` per school).
    pub fn policy(&self) -> Policy {
        Policy {
            site: self.site.clone(),
            table: self.policy.clone(),
            override_tag: self.guidance.override_tag.trim().to_string(),
            override_schools: self
                .guidance
                .school
                .iter()
                .filter(|(_, g)| g.allow_override)
                .map(|(id, _)| id.clone())
                .collect(),
        }
    }

    /// The notifier: `[guidance]` with its templates, links to the review page when it is on.
    pub fn notifier(
        &self,
        hostname: &str,
        data_dir: &Path,
        scanner: Option<Arc<Scanner>>,
    ) -> Result<Notifier, crate::notify::NotifyError> {
        Notifier::new(
            self.site.clone(),
            self.guidance.clone(),
            self.review.base_url(),
            hostname,
            data_dir,
            scanner,
        )
    }

    /// Everything a reload replaces, loaded from this config: the directory and scanner,
    /// the policy, the notifier.
    pub fn in_force(&self, hostname: &str, data_dir: &Path) -> Result<InForce, LoadError> {
        let scanner = Arc::new(self.scanner()?);
        let notifier = self.notifier(hostname, data_dir, Some(scanner.clone()))?;
        Ok(InForce {
            scanner,
            policy: Arc::new(self.policy()),
            notifier: Some(Arc::new(notifier)),
        })
    }
}

/// SIGHUP: reads the config file again with everything it points to (rosters, staff files,
/// patterns, templates, policy, the STARTTLS certificate and key) and swaps it into the
/// running relay (and the milter that shares its dispatcher) only when all of it loaded.
/// Listeners, limits and the next hop stay as they are (see `smtp::Server::reload`).
pub fn reload(server: &crate::smtp::Server, path: &Path) -> Result<(), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let tls = config
        .relay
        .resolve(&config.site.base_dir)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .tls;
    let settings = &server.dispatch.settings;
    let in_force = config
        .in_force(&settings.hostname, &settings.data_dir)
        .map_err(|e| e.to_string())?;
    server.reload(path, in_force, tls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const GOOD: &str = r#"
[trust]
name = "T"
[[school]]
id = "a"
name = "A"
domains = ["a.example.sch.uk"]
roster = "r.csv"
dpl = "dpo@a.example.sch.uk"
"#;

    fn err(text: &str) -> String {
        Config::from_toml(text, Path::new("/etc/hallpass/x.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn good_config_has_defaults() {
        let c = Config::from_toml(GOOD, Path::new("x.toml")).unwrap();
        assert_eq!(c.site.trust.bulk_threshold, 5);
        assert_eq!(c.site.trust.fail_mode, FailMode::Hold);
        assert_eq!(c.site.base_dir, PathBuf::from("."));
        assert_eq!(c.site.hours().unwrap().days.len(), 5);
    }

    #[test]
    fn unknown_key_names_key_file_and_line() {
        let text = GOOD.replace("name = \"A\"", "name = \"A\"\nroaster = \"x\"");
        let e = err(&text);
        assert!(
            e.starts_with("/etc/hallpass/x.toml:7:1: unknown field `roaster`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_trust_key_line() {
        let text = GOOD.replace("name = \"T\"", "name = \"T\"\nbulk_treshold = 3");
        let e = err(&text);
        assert!(
            e.starts_with("/etc/hallpass/x.toml:4:1: unknown field `bulk_treshold`"),
            "{e}"
        );
    }

    #[test]
    fn bad_fail_mode_is_located() {
        let text = GOOD.replace("name = \"T\"", "name = \"T\"\nfail_mode = \"open\"");
        let e = err(&text);
        assert!(
            e.starts_with("/etc/hallpass/x.toml:4:13: unknown variant `open`"),
            "{e}"
        );
    }

    #[test]
    fn postgres_connections_are_bounded() {
        let c = Config::from_toml(GOOD, Path::new("x.toml")).unwrap();
        assert_eq!(c.quarantine.postgres_connections, 4);
        for n in [0, 65, 100_000] {
            let e = err(&format!("{GOOD}[quarantine]\npostgres_connections = {n}\n"));
            assert!(e.contains("is not between 1 and 64"), "{n}: {e}");
        }
        let text = format!("{GOOD}[quarantine]\npostgres_connections = 8\n");
        let c = Config::from_toml(&text, Path::new("x.toml")).unwrap();
        assert_eq!(c.quarantine.postgres_connections, 8);
    }

    #[test]
    fn syntax_error_is_located() {
        let e = err("[trust\nname = 1");
        assert!(e.starts_with("/etc/hallpass/x.toml:1:"), "{e}");
    }

    #[test]
    fn semantic_errors() {
        assert!(
            err(&GOOD.replace("\"a.example.sch.uk\"", "\"not a domain\""))
                .contains("is not a domain")
        );
        assert!(
            err(&GOOD.replace("dpo@a.example.sch.uk", "dpo")).contains("is not an email address")
        );
        let tz = GOOD.replace("name = \"T\"", "name = \"T\"\ntimezone = \"Mars/Olympus\"");
        assert!(err(&tz).contains("is not an IANA time zone"));
        let two = format!("{GOOD}{}", &GOOD[GOOD.find("[[school]]").unwrap()..]);
        assert!(err(&two).contains("used twice"));
    }
}
