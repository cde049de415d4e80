//! The dashboard's charts as server-rendered SVG (readable without JavaScript; each bar has
//! a `<title>` so the figure is in the page, and a text summary sits beside each chart).

use std::collections::BTreeMap;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One column chart of a daily count over `days` (oldest first).
pub fn daily(
    title: &str,
    days: &[String],
    counts: &BTreeMap<String, usize>,
    colour: &str,
) -> String {
    let w = 600.0;
    let h = 120.0;
    let max = days
        .iter()
        .map(|d| counts.get(d).copied().unwrap_or(0))
        .max()
        .unwrap_or(0)
        .max(1);
    let bw = w / days.len().max(1) as f64;
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 {w} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        h + 20.0,
        esc(title)
    );
    s.push_str(&format!(
        r##"<line x1="0" y1="{h}" x2="{w}" y2="{h}" stroke="#9aa3ad" stroke-width="1"/>"##
    ));
    for (i, d) in days.iter().enumerate() {
        let n = counts.get(d).copied().unwrap_or(0);
        let bh = (n as f64 / max as f64) * (h - 10.0);
        let x = i as f64 * bw + 1.0;
        s.push_str(&format!(
            r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{colour}"><title>{}: {n}</title></rect>"#,
            h - bh,
            (bw - 2.0).max(1.0),
            esc(d)
        ));
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        s.push_str(&format!(
            r##"<text x="0" y="{}" font-size="11" fill="#56606b">{}</text><text x="{w}" y="{}" font-size="11" fill="#56606b" text-anchor="end">{}</text><text x="{w}" y="11" font-size="11" fill="#56606b" text-anchor="end">max {max}</text>"##,
            h + 15.0,
            esc(first),
            h + 15.0,
            esc(last)
        ));
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars, one per label.
pub fn bars(title: &str, rows: &[(String, usize)]) -> String {
    let row_h = 22.0;
    let label_w = 210.0;
    let w = 600.0;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let h = row_h * rows.len().max(1) as f64;
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(title)
    );
    for (i, (label, n)) in rows.iter().enumerate() {
        let y = i as f64 * row_h;
        let bw = (*n as f64 / max as f64) * (w - label_w - 50.0);
        s.push_str(&format!(
            r##"<text x="0" y="{:.1}" font-size="12" fill="#1f2933">{}</text><rect x="{label_w}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="#3b6ea5"><title>{}: {n}</title></rect><text x="{:.1}" y="{:.1}" font-size="12" fill="#1f2933">{n}</text>"##,
            y + 15.0,
            esc(label),
            y + 4.0,
            row_h - 8.0,
            esc(label),
            label_w + bw + 6.0,
            y + 15.0
        ));
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_labels_and_scale() {
        let days = vec!["2026-11-24".to_string(), "2026-11-25".to_string()];
        let mut c = BTreeMap::new();
        c.insert("2026-11-25".to_string(), 4);
        let svg = daily("Held <per day>", &days, &c, "#c00");
        assert!(svg.contains("Held &lt;per day&gt;"));
        assert!(svg.contains("<title>2026-11-25: 4</title>"));
        assert!(svg.contains("max 4"));
        let svg = bars("Kinds", &[("<script>".into(), 3)]);
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
    }
}
