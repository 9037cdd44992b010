//! The diff's summary: counts by kind of change, the top migrations between
//! providers, status moves, error findings that appeared or were resolved,
//! the domains that lost their MX, and policy moves; as text, JSON or one
//! self-contained HTML page (the report's look).

use std::fmt::Write;

use serde::Serialize;

use super::Side;
use super::changes::{ChangeKind, FindingCount, LostMx, Move, Tally, is_error, severity};
use crate::report::html_parts::{Col, card, data, esc, page_start, section, table};
use crate::report::thousands;

/// Rows on each side.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RowCounts {
    /// Rows of the old side.
    pub old: u64,
    /// Rows of the new side.
    pub new: u64,
    /// Rows of the old side whose domain came again (the last one counts).
    pub duplicates_old: u64,
    /// Rows of the new side whose domain came again (the first one counts).
    pub duplicates_new: u64,
    /// Domains in both.
    pub in_both: u64,
}

impl std::ops::AddAssign for RowCounts {
    fn add_assign(&mut self, o: Self) {
        self.old += o.old;
        self.new += o.new;
        self.duplicates_old += o.duplicates_old;
        self.duplicates_new += o.duplicates_new;
        self.in_both += o.in_both;
    }
}

/// A kind of change and its domains.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KindCount {
    /// The kind (as in the `changes` column).
    pub kind: &'static str,
    /// Domains with it.
    pub domains: u64,
}

/// A policy value's move.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PolicyMove {
    /// `dmarc.p`, `spf.all`, …
    pub field: &'static str,
    /// Before (`null`: absent).
    pub from: String,
    /// After.
    pub to: String,
    /// Domains.
    pub domains: u64,
}

/// What the diff found, for people and for scripts.
#[derive(Debug, Clone, Serialize)]
pub struct DiffSummary {
    /// The old side as named.
    pub old: String,
    /// The new side as named.
    pub new: String,
    /// Parquet files read: old, new.
    pub files: [u64; 2],
    /// Rows on each side.
    pub rows: RowCounts,
    /// Domains in both scans with no change.
    pub unchanged: u64,
    /// Domains with any change (rows of the Parquet output).
    pub changed: u64,
    /// Rows written to the Parquet output, if one was asked for.
    pub written: Option<u64>,
    /// Buckets the join ran in (1: in memory).
    pub buckets: u64,
    /// Domains by kind of change, every kind.
    pub changes: Vec<KindCount>,
    /// Primary-provider moves among domains in both, most first.
    pub migrations: Vec<Move>,
    /// Status moves among domains in both, most first.
    pub status_moves: Vec<Move>,
    /// Error findings that appeared on domains in both, most first.
    pub new_error_findings: Vec<FindingCount>,
    /// Error findings resolved on domains in both.
    pub resolved_error_findings: Vec<FindingCount>,
    /// Every finding code that appeared or was resolved, with both counts.
    pub findings: Vec<FindingMove>,
    /// Domains that lost their MX: how many.
    pub lost_mx: u64,
    /// The best-ranked of them.
    pub lost_mx_sample: Vec<LostMx>,
    /// Policy value moves, most first.
    pub policy_moves: Vec<PolicyMove>,
}

/// A finding code's appearances and resolutions.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FindingMove {
    /// The code.
    pub code: String,
    /// Its severity in this catalogue.
    pub severity: &'static str,
    /// Domains where it appeared.
    pub appeared: u64,
    /// Domains where it was resolved.
    pub resolved: u64,
}

fn top_moves(counts: &rustc_hash::FxHashMap<(Box<str>, Box<str>), u64>, top: usize) -> Vec<Move> {
    let mut v: Vec<Move> = counts
        .iter()
        .map(|((a, b), &n)| Move { from: a.to_string(), to: b.to_string(), domains: n })
        .collect();
    v.sort_by(|a, b| b.domains.cmp(&a.domains).then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to))));
    v.truncate(top);
    v
}

fn error_counts(counts: &rustc_hash::FxHashMap<Box<str>, u64>, top: usize) -> Vec<FindingCount> {
    let mut v: Vec<FindingCount> = counts
        .iter()
        .filter(|(code, _)| is_error(code))
        .map(|(code, &n)| FindingCount { code: code.to_string(), severity: "error".into(), domains: n })
        .collect();
    v.sort_by(|a, b| b.domains.cmp(&a.domains).then_with(|| a.code.cmp(&b.code)));
    v.truncate(top);
    v
}

impl DiffSummary {
    pub(super) fn new(
        old: &Side,
        new: &Side,
        rows: RowCounts,
        buckets: u64,
        written: Option<u64>,
        t: &Tally,
        top: usize,
    ) -> Self {
        let mut codes: Vec<&Box<str>> =
            t.appeared_findings.keys().chain(t.resolved_findings.keys()).collect();
        codes.sort();
        codes.dedup();
        let mut findings: Vec<FindingMove> = codes
            .into_iter()
            .map(|c| FindingMove {
                code: c.to_string(),
                severity: severity(c),
                appeared: t.appeared_findings.get(c).copied().unwrap_or(0),
                resolved: t.resolved_findings.get(c).copied().unwrap_or(0),
            })
            .collect();
        findings.sort_by(|a, b| {
            (b.appeared + b.resolved).cmp(&(a.appeared + a.resolved)).then(a.code.cmp(&b.code))
        });
        let mut policy_moves: Vec<PolicyMove> = t
            .policy
            .iter()
            .map(|((field, a, b), &n)| PolicyMove {
                field,
                from: a.to_string(),
                to: b.to_string(),
                domains: n,
            })
            .collect();
        policy_moves.sort_by(|a, b| {
            b.domains.cmp(&a.domains).then_with(|| (a.field, &a.from, &a.to).cmp(&(b.field, &b.from, &b.to)))
        });
        policy_moves.truncate(top);
        let in_both_changed = t.changed - t.count(ChangeKind::Appeared) - t.count(ChangeKind::Vanished);
        Self {
            old: old.label.clone(),
            new: new.label.clone(),
            files: [old.files.len() as u64, new.files.len() as u64],
            unchanged: rows.in_both - in_both_changed,
            rows,
            changed: t.changed,
            written,
            buckets,
            changes: ChangeKind::ALL
                .iter()
                .map(|&k| KindCount { kind: k.as_str(), domains: t.count(k) })
                .collect(),
            migrations: top_moves(&t.migrations, top),
            status_moves: top_moves(&t.statuses, top),
            new_error_findings: error_counts(&t.appeared_findings, top),
            resolved_error_findings: error_counts(&t.resolved_findings, top),
            findings,
            lost_mx: t.count(ChangeKind::LostMx),
            lost_mx_sample: t.lost_mx.clone(),
            policy_moves,
        }
    }

    fn kind(&self, kind: ChangeKind) -> u64 {
        self.changes.iter().find(|k| k.kind == kind.as_str()).map_or(0, |k| k.domains)
    }
}

/// The summary as one pretty-printed JSON object.
pub fn json(s: &DiffSummary) -> String {
    serde_json::to_string_pretty(s).expect("the summary serialises (strings and numbers only)")
}

fn rank(r: Option<u32>) -> String {
    r.map_or_else(|| "-".into(), |r| thousands(u64::from(r)))
}

/// The summary as aligned text.
pub fn text(s: &DiffSummary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "mxscan diff\n  old: {} ({} rows)\n  new: {} ({} rows)",
        s.old,
        thousands(s.rows.old),
        s.new,
        thousands(s.rows.new)
    );
    let _ = writeln!(
        o,
        "  {} in both, {} unchanged, {} changed (appeared {}, vanished {})",
        thousands(s.rows.in_both),
        thousands(s.unchanged),
        thousands(s.changed),
        thousands(s.kind(ChangeKind::Appeared)),
        thousands(s.kind(ChangeKind::Vanished)),
    );
    if s.rows.duplicates_old + s.rows.duplicates_new > 0 {
        let _ = writeln!(
            o,
            "  note: repeated domains skipped: {} old, {} new",
            thousands(s.rows.duplicates_old),
            thousands(s.rows.duplicates_new)
        );
    }
    let _ = writeln!(o, "\nChanges by kind (domains)");
    for k in &s.changes {
        let _ = writeln!(o, "  {:<20} {:>12}", k.kind, thousands(k.domains));
    }
    let moves = |o: &mut String, title: &str, v: &[Move]| {
        let _ = writeln!(o, "\n{title}");
        if v.is_empty() {
            let _ = writeln!(o, "  none");
        }
        for m in v {
            let _ = writeln!(o, "  {:<24} → {:<24} {:>10}", m.from, m.to, thousands(m.domains));
        }
    };
    moves(&mut o, "Top provider migrations (from → to, domains)", &s.migrations);
    moves(&mut o, "Status moves (from → to, domains)", &s.status_moves);
    let _ = writeln!(o, "\nNew error findings (domains)");
    if s.new_error_findings.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for f in &s.new_error_findings {
        let _ = writeln!(o, "  {:<32} {:>10}", f.code, thousands(f.domains));
    }
    let _ = writeln!(o, "\nDomains that lost their MX: {}", thousands(s.lost_mx));
    for l in &s.lost_mx_sample {
        let _ = writeln!(
            o,
            "  {:>10}  {:<40} now {:<9} had {}",
            rank(l.rank),
            l.domain,
            l.status,
            l.exchanges_removed.join(" ")
        );
    }
    if !s.policy_moves.is_empty() {
        let _ = writeln!(o, "\nPolicy moves (field: from → to, domains)");
        for p in &s.policy_moves {
            let _ =
                writeln!(o, "  {:<16} {:<14} → {:<14} {:>10}", p.field, p.from, p.to, thousands(p.domains));
        }
    }
    o
}

/// The summary as one self-contained HTML page.
pub fn html(s: &DiffSummary) -> String {
    let mut o = page_start("mxscan diff");
    let _ = writeln!(
        o,
        "<header><h1>What changed</h1><p class=\"sub\">{} → {}</p></header>",
        data(&s.old),
        data(&s.new)
    );
    o.push_str("<div class=\"cards\">");
    card(&mut o, "changed", &thousands(s.changed), &format!("of {} in both", thousands(s.rows.in_both)));
    card(
        &mut o,
        "appeared",
        &thousands(s.kind(ChangeKind::Appeared)),
        &format!("{} rows new", thousands(s.rows.new)),
    );
    card(
        &mut o,
        "vanished",
        &thousands(s.kind(ChangeKind::Vanished)),
        &format!("{} rows old", thousands(s.rows.old)),
    );
    card(&mut o, "lost their MX", &thousands(s.lost_mx), "had an exchange, now none");
    o.push_str("</div>\n");

    let n = |v: u64| thousands(v);
    section(&mut o, "Changes by kind", "A changed domain may have several kinds.");
    let rows: Vec<(Vec<String>, &str)> =
        s.changes.iter().map(|k| (vec![esc(k.kind), n(k.domains)], "")).collect();
    table(&mut o, &[("kind", Col::Id), ("domains", Col::Num)], &rows);
    o.push_str("</section>\n");

    let moves = |o: &mut String, title: &str, hint: &str, v: &[Move]| {
        section(o, title, hint);
        let rows: Vec<(Vec<String>, &str)> =
            v.iter().map(|m| (vec![data(&m.from), data(&m.to), n(m.domains)], "")).collect();
        table(o, &[("from", Col::Id), ("to", Col::Id), ("domains", Col::Num)], &rows);
        o.push_str("</section>\n");
    };
    moves(
        &mut o,
        "Provider migrations",
        "Primary provider before and after, among domains in both scans.",
        &s.migrations,
    );
    moves(&mut o, "Status moves", "Among domains in both scans.", &s.status_moves);

    section(&mut o, "New error findings", "Error findings that appeared on domains in both scans.");
    let rows: Vec<(Vec<String>, &str)> =
        s.new_error_findings.iter().map(|f| (vec![data(&f.code), n(f.domains)], "")).collect();
    table(&mut o, &[("finding", Col::Id), ("domains", Col::Num)], &rows);
    o.push_str("</section>\n");

    section(
        &mut o,
        "Domains that lost their MX",
        "The best-ranked; every one is in the Parquet output (changes contains lost_mx).",
    );
    let rows: Vec<(Vec<String>, &str)> = s
        .lost_mx_sample
        .iter()
        .map(|l| {
            (vec![rank(l.rank), data(&l.domain), esc(&l.status), data(&l.exchanges_removed.join(" "))], "")
        })
        .collect();
    table(&mut o, &[("rank", Col::Num), ("domain", Col::Id), ("now", Col::Id), ("had", Col::Text)], &rows);
    o.push_str("</section>\n");

    if !s.policy_moves.is_empty() {
        section(
            &mut o,
            "Policy moves",
            "SPF, DMARC, MTA-STS, TLS-RPT, DANE and DKIM values before and after.",
        );
        let rows: Vec<(Vec<String>, &str)> = s
            .policy_moves
            .iter()
            .map(|p| (vec![esc(p.field), data(&p.from), data(&p.to), n(p.domains)], ""))
            .collect();
        table(
            &mut o,
            &[("field", Col::Id), ("from", Col::Id), ("to", Col::Id), ("domains", Col::Num)],
            &rows,
        );
        o.push_str("</section>\n");
    }
    let _ = write!(
        o,
        "<footer>mxscan {} · mxscan diff</footer>\n</main></body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    o
}
