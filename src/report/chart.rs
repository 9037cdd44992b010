//! Inline SVG horizontal bar charts for the HTML report: a label column,
//! bars scaled to the largest value, and each bar labelled with its count
//! and percent (the full label in a tooltip).

use std::fmt::Write;

use super::html::{esc, pct};
use super::thousands;

/// One bar: label, value, percent, CSS class.
pub(super) struct Bar {
    pub(super) label: String,
    pub(super) count: u64,
    pub(super) pct: f64,
    pub(super) class: &'static str,
}

/// Average glyph width of the 13px chart font, generous for safety.
const CHAR_W: f64 = 7.4;
const LABEL_MAX: usize = 26;

/// A horizontal bar chart `width` pixels wide, scaled to its largest bar.
pub(super) fn chart(out: &mut String, title: &str, width: f64, bars: &[Bar]) {
    const ROW: f64 = 24.0;
    const BAR: f64 = 16.0;
    if bars.is_empty() {
        return;
    }
    let cut = |s: &str| -> String {
        if s.chars().count() > LABEL_MAX {
            s.chars().take(LABEL_MAX - 1).chain(['…']).collect()
        } else {
            s.to_string()
        }
    };
    let longest = bars.iter().map(|b| cut(&b.label).chars().count()).max().unwrap_or(0);
    let label_w = (longest as f64 * CHAR_W + 14.0).max(60.0);
    let value_w = 126.0;
    let span = (width - label_w - value_w).max(60.0);
    let max = bars.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let height = bars.len() as f64 * ROW + 8.0;
    let _ = write!(
        out,
        r#"<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{}">"#,
        esc(title)
    );
    let _ = write!(out, r#"<line x1="{label_w}" y1="0" x2="{label_w}" y2="{height}"/>"#);
    for (i, b) in bars.iter().enumerate() {
        let y = 4.0 + i as f64 * ROW;
        let mid = y + BAR / 2.0;
        let len = if b.count == 0 { 0.0 } else { (b.count as f64 / max * span).max(2.0) };
        let value = format!("{} · {}", thousands(b.count), pct(b.pct));
        let _ = write!(
            out,
            r#"<g><title>{}: {value}</title><text x="{}" y="{mid}" text-anchor="end" dominant-baseline="middle">{}</text><rect class="bar {}" x="{label_w}" y="{y}" width="{len:.1}" height="{BAR}" rx="3"/><text class="val" x="{:.1}" y="{mid}" dominant-baseline="middle">{value}</text></g>"#,
            esc(&b.label),
            label_w - 8.0,
            esc(&cut(&b.label)),
            b.class,
            label_w + len + 6.0,
        );
    }
    out.push_str("</svg>\n");
}
