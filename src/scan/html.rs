//! HTML to text for scanning, on the html5gum tokenizer (WHATWG tokenization, entities
//! decoded by it). Tags, comments, `<head>`, `<style>`, `<script>` and `<template>` contents
//! are dropped; block elements become line breaks; inline markup joins its text, so
//! `<b>Olivia</b>&nbsp;Smith` reads "Olivia Smith". The output is for detectors only; it is
//! never rendered.

use html5gum::{DefaultEmitter, Token, Tokenizer};

const BLOCK: &[&[u8]] = &[
    b"p",
    b"div",
    b"br",
    b"li",
    b"ul",
    b"ol",
    b"tr",
    b"table",
    b"h1",
    b"h2",
    b"h3",
    b"h4",
    b"h5",
    b"h6",
    b"blockquote",
    b"pre",
    b"hr",
    b"section",
    b"article",
    b"header",
    b"footer",
    b"address",
    b"dd",
    b"dt",
    b"dl",
    b"tbody",
    b"thead",
    b"caption",
    b"center",
    b"form",
    b"fieldset",
    b"nav",
    b"aside",
    b"main",
    b"figure",
    b"figcaption",
    b"option",
    b"title",
];

const SKIP: &[&[u8]] = &[
    b"script",
    b"style",
    b"head",
    b"template",
    b"noscript",
    b"svg",
];

/// The readable text of an HTML document or fragment.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut skip_depth: usize = 0;
    let mut skipping: Option<Vec<u8>> = None;
    // Switch to RAWTEXT/script states after <script>, <style>, <title>… as a browser would.
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                let name = tag.name.to_ascii_lowercase();
                if let Some(s) = &skipping {
                    if *s == name {
                        skip_depth += 1;
                    }
                    continue;
                }
                if SKIP.contains(&name.as_slice()) && !tag.self_closing {
                    skipping = Some(name);
                    skip_depth = 1;
                    continue;
                }
                if BLOCK.contains(&name.as_slice()) {
                    newline(&mut out);
                } else if name == b"td" || name == b"th" {
                    out.push('\t');
                } else if name == b"img" {
                    // alt text is visible text when images are off
                    if let Some(alt) = tag.attributes.get(b"alt".as_slice()) {
                        out.push(' ');
                        out.push_str(&String::from_utf8_lossy(alt));
                        out.push(' ');
                    }
                }
            }
            Token::EndTag(tag) => {
                let name = tag.name.to_ascii_lowercase();
                if let Some(s) = &skipping {
                    if *s == name {
                        skip_depth -= 1;
                        if skip_depth == 0 {
                            skipping = None;
                        }
                    }
                    continue;
                }
                if BLOCK.contains(&name.as_slice()) {
                    newline(&mut out);
                }
            }
            Token::String(s) => {
                if skipping.is_none() {
                    out.push_str(&String::from_utf8_lossy(&s));
                }
            }
            _ => {}
        }
    }
    out
}

fn newline(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markup_and_entities() {
        assert_eq!(
            html_to_text("<b>Olivia</b>&nbsp;Smith"),
            "Olivia\u{a0}Smith"
        );
        assert_eq!(html_to_text("Zo&euml; O&#8217;Brien"), "Zoë O’Brien");
    }

    #[test]
    fn dropped_parts() {
        let t = html_to_text(
            "<html><head><title>T</title><style>p{}</style></head><body><!-- Olivia Smith -->\
             <script>var x = '<b>Noah Jones</b>';</script><p>Hello</p><div>there</div></body></html>",
        );
        assert_eq!(t.trim(), "Hello\nthere");
    }

    #[test]
    fn blocks_become_lines() {
        let t = html_to_text(
            "<table><tr><td>Olivia</td><td>Smith</td></tr><tr><td>Noah</td></tr></table>",
        );
        assert_eq!(t.trim(), "Olivia\tSmith\n\tNoah");
    }

    #[test]
    fn table_rows_reach_the_same_row_rule() {
        let t = html_to_text(
            "<p>Seating:</p><table><tr><td><b>Smith</b></td><td>Olivia</td><td>8A</td></tr>\
             <tr><td>Noah</td></tr></table><p>Thanks</p>",
        );
        let segs = crate::scan::segment::Segment::text_and_tab_rows(
            crate::scan::segment::Location::Body,
            t.into(),
        );
        assert_eq!(segs.len(), 2);
        assert_eq!(
            segs[0]
                .rows
                .as_ref()
                .map(|t| t.to_rows(&segs[0].text))
                .as_deref(),
            Some(&[vec!["Smith".to_string(), "Olivia".into(), "8A".into()]][..])
        );
        assert!(segs[1].rows.is_none() && segs[1].text.contains("Thanks"));
        let prose = crate::scan::segment::Segment::text_and_tab_rows(
            crate::scan::segment::Location::Body,
            "no tables here\n".into(),
        );
        assert_eq!(prose.len(), 1);
    }
}
