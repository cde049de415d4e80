//! Recipient classes: internal, pupil, contact, partner, personal_webmail, external.
//! Below both the scanner (its contact rules ask who a recipient is) and the policy (its
//! table is per class); imports only `settings` and the directory.
//!
//! A parent's Gmail address is `contact` while the message names only that parent's
//! children, and `personal_webmail` as soon as it names another child; a parent's address
//! anywhere else (their employer's: a council, nhs.net, a partner) is `external` as soon as
//! it names another child — never `partner`, whatever the domain. This module owns the
//! domain lists (`patterns/personal-webmail.txt` plus the config) and the order of the tests.

use std::sync::Arc;

use rustc_hash::FxHashSet;

use crate::directory::{Directory, Owner, PupilId};
pub use crate::settings::domain_of;
use crate::settings::{Hours, Site, domain_matches};

/// The kind of recipient, from the trust's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientClass {
    Internal,
    Pupil,
    Contact,
    Partner,
    PersonalWebmail,
    External,
}

impl RecipientClass {
    pub const ALL: [RecipientClass; 6] = [
        RecipientClass::Internal,
        RecipientClass::Pupil,
        RecipientClass::Contact,
        RecipientClass::Partner,
        RecipientClass::PersonalWebmail,
        RecipientClass::External,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientClass::Internal => "internal",
            RecipientClass::Pupil => "pupil",
            RecipientClass::Contact => "contact",
            RecipientClass::Partner => "partner",
            RecipientClass::PersonalWebmail => "personal_webmail",
            RecipientClass::External => "external",
        }
    }

    /// Inside the school: the trust's own staff and pupil addresses.
    pub fn inside_school(self) -> bool {
        matches!(self, RecipientClass::Internal | RecipientClass::Pupil)
    }
}

impl std::fmt::Display for RecipientClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const WEBMAIL: &str = include_str!("../patterns/personal-webmail.txt");

pub struct Classifier {
    school_domains: Vec<String>,
    pupil_domains: Vec<String>,
    partner_domains: Vec<String>,
    webmail: FxHashSet<String>,
    directory: Arc<Directory>,
    pub hours: Hours,
}

/// Why an address would be routed somewhere other than its domain says, or `None` for an
/// ordinary address: a local part holding `%` (the "percent hack": `user%outside@school` is
/// `user@outside` to a next hop that applies it), `!` (a UUCP bang path:
/// `outside!user@school`), or a source route (`@a,@b:user@c`, RFC 5321 appendix C). Hallpass
/// does no source routing: such a recipient is refused at RCPT (553 5.1.3, relay and milter)
/// and is never classed internal, pupil or contact.
pub fn routed_address(address: &str) -> Option<&'static str> {
    let a = address.trim().trim_start_matches('<').trim_end_matches('>');
    if a.starts_with('@') {
        return Some(
            "Hallpass does no source routing: write the recipient as user@domain, without the @host: route",
        );
    }
    let local = a.rsplit_once('@').map_or(a, |(l, _)| l);
    if local.contains('%') || local.contains('!') {
        return Some(
            "Hallpass does not relay to addresses with % or ! in the local part (the percent hack and bang paths route mail elsewhere): write the recipient as user@domain",
        );
    }
    None
}

/// Whether `domain` is `parent` or a subdomain of it.
fn within(domain: &str, parent: &str) -> bool {
    domain == parent
        || (domain.len() > parent.len()
            && domain.ends_with(parent)
            && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.')
}

impl Classifier {
    pub fn new(
        site: &Site,
        directory: Arc<Directory>,
    ) -> Result<Classifier, crate::settings::ConfigError> {
        let mut webmail: FxHashSet<String> = WEBMAIL
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_ascii_lowercase)
            .collect();
        webmail.extend(
            site.trust
                .personal_webmail_domains
                .iter()
                .map(|d| d.to_ascii_lowercase()),
        );
        Ok(Classifier {
            school_domains: site
                .schools
                .iter()
                .flat_map(|s| s.domains.clone())
                .collect(),
            pupil_domains: site
                .schools
                .iter()
                .flat_map(|s| s.pupil_domains.clone())
                .collect(),
            partner_domains: site
                .trust
                .partner_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            webmail,
            directory,
            hours: site.hours()?,
        })
    }

    /// Who owns an address in the directory.
    pub fn owners(&self, address: &str) -> Vec<Owner> {
        self.directory.owners_of(address)
    }

    pub fn is_pupil_domain(&self, address: &str) -> bool {
        domain_of(address).is_some_and(|d| self.pupil_domains.iter().any(|p| within(&d, p)))
    }

    /// A staff/school domain of any school in the trust (pupil domains excluded).
    pub fn is_school_domain(&self, address: &str) -> bool {
        domain_of(address).is_some_and(|d| {
            !self.pupil_domains.iter().any(|p| within(&d, p))
                && self.school_domains.iter().any(|p| within(&d, p))
        })
    }

    pub fn is_personal_webmail(&self, address: &str) -> bool {
        domain_of(address).is_some_and(|d| self.webmail.contains(&d))
    }

    /// The class from the address alone (no contact test): `None` for a contact candidate
    /// that needs the named pupils.
    pub fn classify_address(&self, address: &str) -> Option<RecipientClass> {
        if routed_address(address).is_some() {
            // Where it goes depends on a next hop's rewriting: never inside the school.
            return Some(RecipientClass::External);
        }
        let d = domain_of(address)?;
        if self.pupil_domains.iter().any(|p| within(&d, p)) {
            return Some(RecipientClass::Pupil);
        }
        if self
            .directory
            .owners_of(address)
            .iter()
            .any(|o| matches!(o, Owner::Pupil(_)))
        {
            return Some(RecipientClass::Pupil);
        }
        if self.school_domains.iter().any(|p| within(&d, p)) {
            return Some(RecipientClass::Internal);
        }
        None
    }

    /// The class of a recipient of a message that names `persons` (each: the pupils a named
    /// person may be).
    pub fn classify(&self, address: &str, persons: &[&[PupilId]]) -> RecipientClass {
        if let Some(c) = self.classify_address(address) {
            return c;
        }
        let Some(d) = domain_of(address) else {
            return RecipientClass::External;
        };
        let owners = self.directory.owners_of(address);
        let contact_of: Vec<PupilId> = owners
            .iter()
            .filter_map(|o| match o {
                Owner::Contact(p) => Some(*p),
                _ => None,
            })
            .collect();
        if !contact_of.is_empty() {
            if persons
                .iter()
                .all(|ps| ps.iter().any(|p| contact_of.contains(p)))
            {
                return RecipientClass::Contact;
            }
            // A parent first, wherever they work: another child's data to a parent is the
            // wrong-parent breach, never partner mail (a parent at nhs.net or a council).
            return if self.webmail.contains(&d) {
                RecipientClass::PersonalWebmail
            } else {
                RecipientClass::External
            };
        }
        if self.partner_domains.iter().any(|p| domain_matches(p, &d)) {
            return RecipientClass::Partner;
        }
        if self.webmail.contains(&d) {
            return RecipientClass::PersonalWebmail;
        }
        RecipientClass::External
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(domain_of("<A@Example.COM>").as_deref(), Some("example.com"));
        assert!(within("pupils.x.sch.uk", "x.sch.uk"));
        assert!(!within("notx.sch.uk", "x.sch.uk"));
    }

    #[test]
    fn routed_addresses() {
        for a in [
            "user%outside.example@school.sch.uk",
            "outside.example!user@school.sch.uk",
            "<@relay.example,@school.sch.uk:user@school.sch.uk>",
            "@school.sch.uk:user@outside.example",
        ] {
            assert!(routed_address(a).is_some(), "{a}");
        }
        for a in ["jo.bloggs@school.sch.uk", "<a+tag@x.org>", "o'neil@x.org"] {
            assert!(routed_address(a).is_none(), "{a}");
        }
    }
}
