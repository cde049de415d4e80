//! Where extractors put what they read ([`Sink`]): text segments counted against the scan's
//! budget, the parts not read and why, encrypted files kept for the password test
//! ([`Locked`]); and how a container hands a member back to be read ([`Opener`]), so that an
//! extractor reads an embedded file without importing the dispatcher above it. A leaf of
//! `extract`: it imports no extractor.

use std::borrow::Cow;

use super::office_crypto::Verifier as OfficeVerifier;
use crate::scan::budget::Budget;
use crate::scan::report::NotScanned;
use crate::scan::segment::{Location, Segment};

/// Reads a member of a container (any format; an attached message) at a location and depth.
pub type Open = for<'a, 'm> fn(&Location, &[u8], usize, &mut Sink<'a, 'm>);

/// How members are read: set once where the walk starts (`scan::mime`), to the dispatcher
/// (`extract::attachment`) and the message walker (`mime`).
#[derive(Clone, Copy)]
pub struct Opener {
    /// Any file: sniffed and handed to its extractor.
    pub file: Open,
    /// An attached message (.eml): walked like the outer one.
    pub message: Open,
}

/// An encrypted file kept for the password test (`password_in_body`).
#[derive(Debug, Clone)]
pub enum Locked {
    Zip {
        location: Location,
        bytes: Vec<u8>,
        entries: Vec<usize>,
    },
    Pdf {
        location: Location,
        bytes: Vec<u8>,
    },
    /// An encrypted Office Open XML file: only its password verifier is kept.
    Office {
        location: Location,
        verifier: OfficeVerifier,
    },
}

impl Locked {
    pub fn size(&self) -> usize {
        match self {
            Locked::Zip { bytes, .. } | Locked::Pdf { bytes, .. } => bytes.len(),
            Locked::Office { .. } => 0,
        }
    }

    pub fn location(&self) -> &Location {
        match self {
            Locked::Zip { location, .. }
            | Locked::Pdf { location, .. }
            | Locked::Office { location, .. } => location,
        }
    }
}

/// Where extractors put what they read.
pub struct Sink<'a, 'm> {
    pub segments: &'a mut Vec<Segment<'m>>,
    pub not_scanned: &'a mut Vec<NotScanned>,
    pub encrypted: &'a mut Vec<(Location, String)>,
    pub locked: &'a mut Vec<Locked>,
    pub budget: &'a mut Budget,
    /// How members of containers are read.
    pub open: Opener,
}

impl<'m> Sink<'_, 'm> {
    /// Adds a segment, counting it against the text budget.
    pub fn push(&mut self, seg: Segment<'m>) {
        self.budget.text_bytes += seg.text.len();
        if let Some(why) = self.budget.exhausted() {
            self.not_read(seg.location, why);
            return;
        }
        self.segments.push(seg);
    }

    /// Reads a member of a container (archive entry, embedded object, Outlook attachment)
    /// as a file of its own.
    pub fn open_file(&mut self, location: &Location, bytes: &[u8], depth: usize) {
        (self.open.file)(location, bytes, depth, self)
    }

    /// Reads an attached message (.eml) like the outer one.
    pub fn open_message(&mut self, location: &Location, bytes: &[u8], depth: usize) {
        (self.open.message)(location, bytes, depth, self)
    }

    /// Records a part that could not be read: the scan is incomplete.
    pub fn not_read(&mut self, location: Location, why: String) {
        self.not_scanned.push(NotScanned {
            location: location.to_string(),
            why,
            incomplete: true,
        });
    }

    /// Adds free text, and the table hidden in its tab-separated lines as rows
    /// ([`Segment::text_and_tab_rows`]).
    /// A text holding percent-encoded spaces (a link to "Leah%20Walker%20EHCP.docx") is also
    /// scanned decoded.
    pub fn push_text(&mut self, location: Location, text: impl Into<Cow<'m, str>>) {
        let text = text.into();
        // "%20", "%5F", "%2C" (any case): one pass for '%' finds them.
        let b = text.as_bytes();
        let encoded = memchr::memchr_iter(b'%', b).any(|i| {
            matches!(
                b.get(i + 1..i + 3),
                Some([b'2', b'0' | b'C' | b'c'] | [b'5', b'F' | b'f'])
            )
        });
        if encoded {
            // Only the encoded words (links, paths), one a line: not the whole text again.
            let decoded: Vec<String> = text
                .split_whitespace()
                .filter(|w| w.contains('%'))
                .map(|w| {
                    percent_encoding::percent_decode_str(w)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .collect();
            self.push(Segment::text(location.clone(), decoded.join("\n")));
        }
        for seg in Segment::text_and_tab_rows(location, text) {
            self.push(seg);
        }
    }

    /// Scans the file name of a member (of an archive, an Outlook message) as text: names
    /// are readable even when the contents are encrypted.
    pub fn push_name(&mut self, member: &Location, name: &str) {
        if let Location::Attachment(path) = member {
            let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
            self.push(Segment::text(
                Location::AttachmentName(path.clone()),
                file.to_string(),
            ));
        }
    }

    /// Keeps an encrypted file for the password test (at most a few, 32 MB in all).
    pub fn lock(&mut self, l: Locked) {
        let held: usize = self.locked.iter().map(Locked::size).sum();
        if self.locked.len() < 8 && held + l.size() <= 32 << 20 {
            self.locked.push(l);
        }
    }

    /// Records a part that is listed but is no reason to hold mail (an image).
    pub fn listed(&mut self, location: Location, why: String) {
        self.not_scanned.push(NotScanned {
            location: location.to_string(),
            why,
            incomplete: false,
        });
    }
}

/// The location of a member of a container (archive entry, attachment of an Outlook
/// message): `attachment:outer.zip/inner.csv`. Names lose leading slashes and parent steps
/// ("zip-slip" names are only names here: nothing is written to disk).
pub fn member_location(parent: &Location, name: &str) -> Location {
    let safe = name
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".." && *p != ".")
        .collect::<Vec<_>>()
        .join("/");
    Location::Attachment(format!(
        "{}/{}",
        match parent {
            Location::Attachment(p) => p.as_str(),
            _ => "",
        },
        safe
    ))
}

/// One attachment format.
pub trait Extractor: Sync {
    /// Reads `bytes` (already judged to be this extractor's format) at `location`.
    fn extract(&self, location: &Location, bytes: &[u8], depth: usize, sink: &mut Sink);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::segment::Location;

    #[test]
    fn zip_slip_names_are_tamed() {
        let z = Location::Attachment("z.zip".into());
        let at = |n: &str| member_location(&z, n).to_string();
        assert_eq!(at("../../etc/passwd"), "attachment:z.zip/etc/passwd");
        assert_eq!(at("/abs/x.csv"), "attachment:z.zip/abs/x.csv");
        assert_eq!(at("a\\..\\b.txt"), "attachment:z.zip/a/b.txt");
    }
}
