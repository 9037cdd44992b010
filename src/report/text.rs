//! The report as aligned text tables, for a terminal.

use std::fmt::Write;

use super::model::Report;
use super::{domains, thousands};

/// Longest cell printed; longer text is cut with an ellipsis.
const MAX_CELL: usize = 60;

/// Text taken from the data, made safe for a terminal: control and
/// bidirectional-override characters become `?`, long text is cut.
fn clean(s: &str) -> String {
    let spoofing =
        |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let mut out: String =
        s.chars().take(MAX_CELL).map(|c| if c.is_control() || spoofing(c) { '?' } else { c }).collect();
    if s.chars().nth(MAX_CELL).is_some() {
        out.pop();
        out.push('…');
    }
    out
}

fn pct(p: f64) -> String {
    format!("{p:.1}%")
}

/// Columns: heading and whether numbers (right-aligned).
struct Table {
    head: Vec<(&'static str, bool)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(head: &[(&'static str, bool)]) -> Self {
        Self { head: head.to_vec(), rows: Vec::new() }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn write(&self, out: &mut String) {
        let width = |i: usize| {
            self.rows.iter().map(|r| r[i].chars().count()).chain([self.head[i].0.len()]).max().unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.head.len()).map(width).collect();
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::from(" ");
            for ((cell, (_, right)), w) in cells.zip(&self.head).zip(&widths) {
                let pad = w - cell.chars().count();
                text.push(' ');
                if *right {
                    text.extend(std::iter::repeat_n(' ', pad));
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    text.extend(std::iter::repeat_n(' ', pad));
                }
                text.push(' ');
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(out, &mut self.head.iter().map(|(h, _)| *h));
        for r in &self.rows {
            line(out, &mut r.iter().map(String::as_str));
        }
    }
}

fn heading(out: &mut String, title: &str) {
    let _ = write!(out, "\n{title}\n");
}

/// Render the report as text.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let files = if r.files == 1 { "1 file".to_string() } else { format!("{} files", r.files) };
    let _ = writeln!(out, "mxscan report: {} ({files}, {} rows)", clean(&r.source), thousands(r.rows));
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }

    heading(&mut out, "Domains by status");
    let mut t = Table::new(&[("status", false), ("domains", true), ("%", true)]);
    for s in &r.status {
        t.row(vec![clean(&s.status), thousands(s.count), pct(s.pct)]);
    }
    t.row(vec!["total".into(), thousands(r.rows), pct(if r.rows > 0 { 100.0 } else { 0.0 })]);
    t.write(&mut out);

    let a = &r.mx_adoption;
    heading(&mut out, &format!("MX adoption (% of {} ok domains)", thousands(a.ok)));
    let mut t = Table::new(&[("", false), ("domains", true), ("%", true)]);
    for (label, c) in [
        ("has MX", a.has_mx),
        ("null MX only", a.null_mx_only),
        ("implicit MX (A/AAAA)", a.implicit_mx),
        ("none", a.none),
    ] {
        t.row(vec![label.into(), thousands(c.count), pct(c.pct)]);
    }
    t.write(&mut out);

    if let Some(p) = &r.providers {
        heading(
            &mut out,
            &format!(
                "Provider share (top {} of {} providers; % of {} domains with MX)",
                p.top.len(),
                p.distinct,
                thousands(p.domains_with_mx)
            ),
        );
        let mut t = Table::new(&[
            ("provider", false),
            ("name", false),
            ("category", false),
            ("domains", true),
            ("%", true),
        ]);
        for row in &p.top {
            t.row(vec![
                clean(&row.provider),
                clean(row.name.as_deref().unwrap_or("")),
                clean(row.category.as_deref().unwrap_or("")),
                thousands(row.count),
                pct(row.pct),
            ]);
        }
        t.row(vec![
            "self-hosted".into(),
            String::new(),
            String::new(),
            thousands(p.self_hosted.count),
            pct(p.self_hosted.pct),
        ]);
        t.row(vec![
            "other / unknown".into(),
            String::new(),
            String::new(),
            thousands(p.other_unknown.count),
            pct(p.other_unknown.pct),
        ]);
        t.write(&mut out);
    }

    if let Some(g) = &r.gateways {
        heading(
            &mut out,
            &format!(
                "Gateways ({}, {} of domains with MX; % of gateway domains)",
                domains(g.domains),
                pct(g.pct_of_mx)
            ),
        );
        let mut t = Table::new(&[("gateway", false), ("name", false), ("domains", true), ("%", true)]);
        for row in &g.rows {
            t.row(vec![
                clean(&row.provider),
                clean(row.name.as_deref().unwrap_or("")),
                thousands(row.count),
                pct(row.pct),
            ]);
        }
        t.write(&mut out);
    }

    if let Some(cats) = &r.categories {
        heading(&mut out, "Categories (% of domains with MX)");
        let mut t = Table::new(&[("category", false), ("domains", true), ("%", true)]);
        for c in cats {
            t.row(vec![clean(&c.category), thousands(c.count), pct(c.pct)]);
        }
        t.write(&mut out);
    }

    if let Some(buckets) = &r.rank_buckets {
        heading(&mut out, "Providers by rank (% of the bucket's domains with MX)");
        let mut t =
            Table::new(&[("bucket", false), ("domains", true), ("with MX", true), ("top providers", false)]);
        for b in buckets {
            let top: Vec<String> =
                b.top.iter().map(|p| format!("{} {}", clean(&p.provider), pct(p.pct))).collect();
            t.row(vec![b.bucket.clone(), thousands(b.domains), thousands(b.with_mx), top.join(", ")]);
        }
        t.write(&mut out);
    }

    if let Some(p) = &r.policy {
        render_policy(&mut out, p);
    }

    heading(&mut out, "Findings (% of ok domains)");
    if r.findings.is_empty() {
        out.push_str("  none\n");
    } else {
        let mut t = Table::new(&[("code", false), ("severity", false), ("domains", true), ("%", true)]);
        for f in &r.findings {
            t.row(vec![clean(&f.code), f.severity.clone(), thousands(f.count), pct(f.pct)]);
        }
        t.write(&mut out);
    }

    heading(&mut out, "Most shared exchangers (% of domains with MX)");
    if r.exchangers.is_empty() {
        out.push_str("  no exchange is used by two domains or more\n");
    } else {
        let mut t = Table::new(&[("exchange", false), ("provider", false), ("domains", true), ("%", true)]);
        for e in &r.exchangers {
            t.row(vec![
                clean(&e.exchange),
                clean(e.provider.as_deref().unwrap_or("")),
                thousands(e.domains),
                pct(e.pct),
            ]);
        }
        t.write(&mut out);
    }
    out
}

/// The policy stage's tables.
fn render_policy(out: &mut String, p: &super::PolicySection) {
    for (title, rows) in p.tables().into_iter().filter(|(_, rows)| !rows.is_empty()) {
        heading(out, &format!("{title} (% of {} domains checked)", thousands(p.domains)));
        let mut t = Table::new(&[("", false), ("domains", true), ("%", true)]);
        for row in rows {
            t.row(vec![clean(&row.value), thousands(row.count.count), pct(row.count.pct)]);
        }
        t.write(out);
    }
    heading(out, &format!("Policy facts (% of {} domains checked)", thousands(p.domains)));
    let mut t = Table::new(&[("", false), ("domains", true), ("%", true)]);
    for (label, c) in p.facts() {
        t.row(vec![label.into(), thousands(c.count), pct(c.pct)]);
    }
    t.write(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_and_alignment() {
        assert_eq!(clean("a\u{1b}[31mb\u{202e}c"), "a?[31mb?c");
        let long = "x".repeat(100);
        assert_eq!(clean(&long).chars().count(), MAX_CELL);
        assert!(clean(&long).ends_with('…'));

        let mut t = Table::new(&[("name", false), ("n", true)]);
        t.row(vec!["a".into(), "1,000".into()]);
        t.row(vec!["longer".into(), "5".into()]);
        let mut out = String::new();
        t.write(&mut out);
        assert_eq!(out, "  name        n\n  a       1,000\n  longer      5\n");
    }
}
