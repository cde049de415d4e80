//! personal_cloud_link: links to personal cloud storage and file-transfer services
//! (`patterns/cloud-storage.txt` plus `[trust] cloud_storage_domains`). A link is a URL with
//! a scheme, or a listed domain followed by a path; a mere mention ("my Dropbox") is not.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

const DOMAINS: &str = include_str!("../../../patterns/cloud-storage.txt");

pub struct LinkDetector {
    ac: AhoCorasick,
}

fn host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

impl LinkDetector {
    pub fn new(extra: &[String]) -> LinkDetector {
        let mut domains: Vec<String> = DOMAINS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_ascii_lowercase)
            .collect();
        domains.extend(
            extra
                .iter()
                .map(|d| d.trim_start_matches("*.").to_ascii_lowercase()),
        );
        LinkDetector {
            ac: AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&domains)
                .expect("cloud domain automaton"),
        }
    }

    /// The hosts of cloud-storage links in the text.
    pub fn find(&self, text: &str) -> Vec<String> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        for m in self.ac.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            // The listed domain must be the end of the host: "dropbox.com.example.net" and
            // "notdropbox.com" are other hosts.
            if b.get(e)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
                || (b.get(e) == Some(&b'.') && b.get(e + 1).is_some_and(u8::is_ascii_alphanumeric))
            {
                continue;
            }
            if s > 0 && b[s - 1] != b'.' && host_char(b[s - 1]) {
                continue;
            }
            let mut hs = s;
            while hs > 0 && host_char(b[hs - 1]) {
                hs -= 1;
            }
            let scheme = text[..hs].to_ascii_lowercase().ends_with("://");
            let path =
                b.get(e) == Some(&b'/') && b.get(e + 1).is_some_and(|c| !c.is_ascii_whitespace());
            if scheme || path {
                out.push(text[hs..e].to_ascii_lowercase());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_not_mentions() {
        let l = LinkDetector::new(&[]);
        assert_eq!(
            l.find("see https://www.dropbox.com/s/abc/list.xlsx?dl=0"),
            ["www.dropbox.com"]
        );
        assert_eq!(
            l.find("wetransfer.com/downloads/123abc"),
            ["wetransfer.com"]
        );
        assert_eq!(l.find("https://1drv.ms/x/s!Abc"), ["1drv.ms"]);
        assert!(l.find("I saved it in my Dropbox").is_empty());
        assert!(l.find("https://www.gov.uk/guidance").is_empty());
        assert!(l.find("notdropbox.com/x").is_empty());
    }
}
