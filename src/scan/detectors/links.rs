//! personal_cloud_link: links to personal cloud storage and file-transfer services
//! (`patterns/cloud-storage.txt` plus `[trust] cloud_storage_domains`). A link is a URL with
//! a scheme, or a listed domain followed by a path; a mere mention ("my Dropbox") is not.

use regex::Regex;

const DOMAINS: &str = include_str!("../../../patterns/cloud-storage.txt");

pub struct LinkDetector {
    url: Regex,
    domains: Vec<String>,
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
            url: Regex::new(r"(?i)\b(https?://)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})(/[^\s<>\x22')\]]*)?").unwrap(),
            domains,
        }
    }

    /// The hosts of cloud-storage links in the text.
    pub fn find(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.url.captures_iter(text) {
            if c.get(1).is_none() && c.get(3).is_none_or(|p| p.as_str().len() < 2) {
                continue;
            }
            let host = c[2].to_ascii_lowercase();
            if self
                .domains
                .iter()
                .any(|d| host == *d || host.ends_with(&format!(".{d}")))
            {
                out.push(host);
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
