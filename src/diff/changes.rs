//! One domain in two scans: what changed ([`compare`]), and the counts over
//! every changed domain that the summary reports ([`Tally`]).

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::snapshot::{POLICY_FIELDS, Snapshot};
use crate::analyze::findings::{self, Severity};

/// A kind of change; a changed domain has one or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// In the new scan only.
    Appeared,
    /// In the old scan only.
    Vanished,
    /// Another status (`ok` → `servfail`, …).
    Status,
    /// Exchanges in the new MX set that the old lacked.
    MxAdded,
    /// Exchanges of the old MX set missing from the new.
    MxRemoved,
    /// Had a real exchange, now none (no MX, null MX only, or no name).
    LostMx,
    /// Had no real exchange, now one.
    GainedMx,
    /// Another primary provider.
    Provider,
    /// Finding codes the new row has and the old did not.
    FindingsAppeared,
    /// Finding codes the old row had and the new does not.
    FindingsResolved,
    /// A policy value changed (SPF, DMARC, MTA-STS, TLS-RPT, DANE, DKIM).
    Policy,
}

impl ChangeKind {
    /// Every kind, in report order.
    pub const ALL: [Self; 11] = [
        Self::Appeared,
        Self::Vanished,
        Self::Status,
        Self::MxAdded,
        Self::MxRemoved,
        Self::LostMx,
        Self::GainedMx,
        Self::Provider,
        Self::FindingsAppeared,
        Self::FindingsResolved,
        Self::Policy,
    ];

    /// The name in the `changes` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appeared => "appeared",
            Self::Vanished => "vanished",
            Self::Status => "status",
            Self::MxAdded => "mx_added",
            Self::MxRemoved => "mx_removed",
            Self::LostMx => "lost_mx",
            Self::GainedMx => "gained_mx",
            Self::Provider => "provider",
            Self::FindingsAppeared => "findings_appeared",
            Self::FindingsResolved => "findings_resolved",
            Self::Policy => "policy",
        }
    }
}

/// One policy value before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChange {
    /// One of [`POLICY_FIELDS`].
    pub field: &'static str,
    /// Before (null: absent).
    pub old: Option<Box<str>>,
    /// After.
    pub new: Option<Box<str>>,
}

/// A changed domain: a row of the diff's Parquet output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// The domain (an invalid line's raw input).
    pub domain: Box<str>,
    /// What changed, in [`ChangeKind::ALL`] order.
    pub kinds: Vec<ChangeKind>,
    /// Rank before and after.
    pub rank_old: Option<u32>,
    /// Rank after.
    pub rank_new: Option<u32>,
    /// Status before (null: vanished… or appeared).
    pub status_old: Option<Box<str>>,
    /// Status after.
    pub status_new: Option<Box<str>>,
    /// Exchanges added; for an appeared domain, its whole MX set.
    pub exchanges_added: Vec<Box<str>>,
    /// Exchanges removed; for a vanished domain, its whole MX set.
    pub exchanges_removed: Vec<Box<str>>,
    /// Primary provider before.
    pub provider_old: Option<Box<str>>,
    /// Primary provider after.
    pub provider_new: Option<Box<str>>,
    /// Findings that appeared; for an appeared domain, all of its findings.
    pub findings_appeared: Vec<Box<str>>,
    /// Findings resolved; for a vanished domain, all it had.
    pub findings_resolved: Vec<Box<str>>,
    /// Policy values that changed.
    pub policy: Vec<PolicyChange>,
}

/// Items of sorted `a` missing from sorted `b`.
fn missing_from(a: &[Box<str>], b: &[Box<str>]) -> Vec<Box<str>> {
    a.iter().filter(|x| b.binary_search(x).is_err()).cloned().collect()
}

/// What changed between `old` and `new` (one of them may be absent), or
/// `None` when nothing `diff` compares did.
///
/// Exchanges, provider, findings and policy are compared only when both
/// statuses decide the MX set: after a timeout or SERVFAIL they are unknown,
/// and "every exchange removed" would be a lie. The status change says it.
pub(super) fn compare(old: Option<&Snapshot>, new: Option<&Snapshot>) -> Option<Change> {
    let (old, new) = match (old, new) {
        (None, None) => return None,
        (None, Some(n)) => return Some(one_sided(n, ChangeKind::Appeared)),
        (Some(o), None) => return Some(one_sided(o, ChangeKind::Vanished)),
        (Some(o), Some(n)) => (o, n),
    };
    let mut c = Change {
        domain: new.key.clone(),
        rank_old: old.rank,
        rank_new: new.rank,
        status_old: Some(old.status.as_ref().into()),
        status_new: Some(new.status.as_ref().into()),
        provider_old: old.provider.clone(),
        provider_new: new.provider.clone(),
        ..Change::default()
    };
    if old.status != new.status {
        c.kinds.push(ChangeKind::Status);
    }
    if old.knows_mx() && new.knows_mx() {
        c.exchanges_added = missing_from(&new.exchanges, &old.exchanges);
        c.exchanges_removed = missing_from(&old.exchanges, &new.exchanges);
        if !c.exchanges_added.is_empty() {
            c.kinds.push(ChangeKind::MxAdded);
        }
        if !c.exchanges_removed.is_empty() {
            c.kinds.push(ChangeKind::MxRemoved);
        }
        match (old.has_mx(), new.has_mx()) {
            (true, false) => c.kinds.push(ChangeKind::LostMx),
            (false, true) => c.kinds.push(ChangeKind::GainedMx),
            _ => {}
        }
        if old.provider != new.provider {
            c.kinds.push(ChangeKind::Provider);
        }
        c.findings_appeared = missing_from(&new.findings, &old.findings);
        c.findings_resolved = missing_from(&old.findings, &new.findings);
        if !c.findings_appeared.is_empty() {
            c.kinds.push(ChangeKind::FindingsAppeared);
        }
        if !c.findings_resolved.is_empty() {
            c.kinds.push(ChangeKind::FindingsResolved);
        }
        if let (Some(a), Some(b)) = (&old.policy, &new.policy) {
            c.policy = POLICY_FIELDS
                .iter()
                .zip(a.iter().zip(b.iter()))
                .filter(|(_, (x, y))| x != y)
                .map(|(field, (x, y))| PolicyChange { field, old: x.clone(), new: y.clone() })
                .collect();
            if !c.policy.is_empty() {
                c.kinds.push(ChangeKind::Policy);
            }
        }
    }
    (!c.kinds.is_empty()).then_some(c)
}

fn one_sided(s: &Snapshot, kind: ChangeKind) -> Change {
    let appeared = kind == ChangeKind::Appeared;
    let pick = |v: &Vec<Box<str>>, want: bool| if want { v.clone() } else { Vec::new() };
    let side = |want: bool| if want { Some(s.status.as_ref().into()) } else { None };
    Change {
        domain: s.key.clone(),
        kinds: vec![kind],
        rank_old: s.rank.filter(|_| !appeared),
        rank_new: s.rank.filter(|_| appeared),
        status_old: side(!appeared),
        status_new: side(appeared),
        exchanges_added: pick(&s.exchanges, appeared),
        exchanges_removed: pick(&s.exchanges, !appeared),
        provider_old: s.provider.clone().filter(|_| !appeared),
        provider_new: s.provider.clone().filter(|_| appeared),
        findings_appeared: pick(&s.findings, appeared),
        findings_resolved: pick(&s.findings, !appeared),
        policy: Vec::new(),
    }
}

/// A count with its key, for the summary's tables.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Move {
    /// Before (`none`: no provider, or absent).
    pub from: String,
    /// After.
    pub to: String,
    /// Domains.
    pub domains: u64,
}

/// A finding code's count.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FindingCount {
    /// The code.
    pub code: String,
    /// Its severity.
    pub severity: String,
    /// Domains where it appeared (or was resolved).
    pub domains: u64,
}

/// A domain that lost its MX, for the summary's sample.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LostMx {
    /// The domain.
    pub domain: String,
    /// Its rank in the new scan.
    pub rank: Option<u32>,
    /// Its status in the new scan.
    pub status: String,
    /// The exchanges it had.
    pub exchanges_removed: Vec<String>,
}

/// Counts over every changed domain. Memory grows with distinct providers,
/// statuses and codes, never with the rows (the lost-MX sample is capped).
#[derive(Debug, Default)]
pub struct Tally {
    pub(super) changed: u64,
    pub(super) kinds: FxHashMap<ChangeKind, u64>,
    pub(super) migrations: FxHashMap<(Box<str>, Box<str>), u64>,
    pub(super) statuses: FxHashMap<(Box<str>, Box<str>), u64>,
    pub(super) appeared_findings: FxHashMap<Box<str>, u64>,
    pub(super) resolved_findings: FxHashMap<Box<str>, u64>,
    pub(super) policy: FxHashMap<(&'static str, Box<str>, Box<str>), u64>,
    pub(super) lost_mx: Vec<LostMx>,
    sample: usize,
}

const NONE: &str = "none";

impl Tally {
    /// Counting, keeping the `sample` best-ranked domains that lost their MX.
    pub fn new(sample: usize) -> Self {
        Self { sample, ..Self::default() }
    }

    /// Count one changed domain.
    pub fn add(&mut self, c: &Change) {
        self.changed += 1;
        for &k in &c.kinds {
            *self.kinds.entry(k).or_default() += 1;
        }
        let both = !c.kinds.contains(&ChangeKind::Appeared) && !c.kinds.contains(&ChangeKind::Vanished);
        if !both {
            return;
        }
        if c.kinds.contains(&ChangeKind::Provider) {
            let name = |p: &Option<Box<str>>| p.clone().unwrap_or_else(|| NONE.into());
            *self.migrations.entry((name(&c.provider_old), name(&c.provider_new))).or_default() += 1;
        }
        if let (true, Some(a), Some(b)) =
            (c.kinds.contains(&ChangeKind::Status), &c.status_old, &c.status_new)
        {
            *self.statuses.entry((a.clone(), b.clone())).or_default() += 1;
        }
        for code in &c.findings_appeared {
            *self.appeared_findings.entry(code.clone()).or_default() += 1;
        }
        for code in &c.findings_resolved {
            *self.resolved_findings.entry(code.clone()).or_default() += 1;
        }
        for p in &c.policy {
            let v = |x: &Option<Box<str>>| x.clone().unwrap_or_else(|| "null".into());
            *self.policy.entry((p.field, v(&p.old), v(&p.new))).or_default() += 1;
        }
        if c.kinds.contains(&ChangeKind::LostMx) {
            self.lost_mx.push(LostMx {
                domain: c.domain.to_string(),
                rank: c.rank_new,
                status: c.status_new.as_deref().unwrap_or_default().to_string(),
                exchanges_removed: c.exchanges_removed.iter().map(|e| e.to_string()).collect(),
            });
            if self.lost_mx.len() >= 2 * self.sample.max(1) {
                self.trim();
            }
        }
    }

    /// Keep the best-ranked sample (ranked first, then by name).
    pub(super) fn trim(&mut self) {
        self.lost_mx.sort_by(|a, b| {
            (a.rank.unwrap_or(u32::MAX), &a.domain).cmp(&(b.rank.unwrap_or(u32::MAX), &b.domain))
        });
        self.lost_mx.truncate(self.sample);
    }

    /// Domains with `kind`.
    pub fn count(&self, kind: ChangeKind) -> u64 {
        self.kinds.get(&kind).copied().unwrap_or(0)
    }
}

/// The severity word of a finding code (`unknown` for a code this catalogue
/// lacks: an older or newer scan's).
pub(super) fn severity(code: &str) -> &'static str {
    findings::lookup(code).map_or("unknown", |f| f.severity.as_str())
}

/// Whether a finding code is an error in this catalogue.
pub(super) fn is_error(code: &str) -> bool {
    findings::lookup(code).is_some_and(|f| f.severity == Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(key: &str, status: &str, mx: &[&str], provider: Option<&str>, findings: &[&str]) -> Snapshot {
        Snapshot {
            key: key.into(),
            rank: Some(1),
            status: status.to_string().into(),
            exchanges: mx.iter().map(|&s| s.into()).collect(),
            provider: provider.map(Box::from),
            findings: findings.iter().map(|&s| s.into()).collect(),
            policy: None,
        }
    }

    #[test]
    fn an_unchanged_domain_is_no_change() {
        let a = snap("a.example", "ok", &["mx.a.example"], Some("google"), &["X"]);
        assert_eq!(compare(Some(&a), Some(&a.clone())), None);
    }

    #[test]
    fn a_migration_names_both_providers_and_both_mx_sets() {
        let a = snap("a.example", "ok", &["aspmx.l.google.com"], Some("google"), &[]);
        let b = snap("a.example", "ok", &["a-example.mail.protection.outlook.com"], Some("microsoft"), &[]);
        let c = compare(Some(&a), Some(&b)).unwrap();
        assert_eq!(c.kinds, [ChangeKind::MxAdded, ChangeKind::MxRemoved, ChangeKind::Provider]);
        assert_eq!(&*c.exchanges_added[0], "a-example.mail.protection.outlook.com");
        assert_eq!(&*c.exchanges_removed[0], "aspmx.l.google.com");
        let mut t = Tally::new(5);
        t.add(&c);
        assert_eq!(t.migrations.get(&("google".into(), "microsoft".into())), Some(&1));
    }

    #[test]
    fn a_timeout_changes_only_the_status() {
        let a = snap("a.example", "ok", &["mx.a.example"], Some("google"), &["X"]);
        let b = snap("a.example", "timeout", &[], None, &[]);
        let c = compare(Some(&a), Some(&b)).unwrap();
        assert_eq!(c.kinds, [ChangeKind::Status]);
        assert!(c.exchanges_removed.is_empty() && c.findings_resolved.is_empty());
    }

    #[test]
    fn losing_the_mx_to_a_null_mx() {
        let a = snap("a.example", "ok", &["mx.a.example"], None, &[]);
        let b = snap("a.example", "ok", &["."], None, &[]);
        let c = compare(Some(&a), Some(&b)).unwrap();
        assert_eq!(c.kinds, [ChangeKind::MxAdded, ChangeKind::MxRemoved, ChangeKind::LostMx]);
        let nx = snap("a.example", "nxdomain", &[], None, &[]);
        assert!(compare(Some(&a), Some(&nx)).unwrap().kinds.contains(&ChangeKind::LostMx));
    }

    #[test]
    fn one_sided_rows_carry_their_side() {
        let a = snap("a.example", "ok", &["mx.a.example"], Some("google"), &["X"]);
        let gone = compare(Some(&a), None).unwrap();
        assert_eq!(gone.kinds, [ChangeKind::Vanished]);
        assert_eq!((gone.status_old.as_deref(), gone.status_new.as_deref()), (Some("ok"), None));
        assert_eq!(gone.exchanges_removed.len(), 1);
        let new = compare(None, Some(&a)).unwrap();
        assert_eq!(new.kinds, [ChangeKind::Appeared]);
        assert_eq!(new.provider_new.as_deref(), Some("google"));
        assert_eq!(new.findings_appeared.len(), 1);
    }

    #[test]
    fn policy_values_are_compared_only_when_both_ran() {
        let mut a = snap("a.example", "ok", &["mx"], None, &[]);
        let mut b = a.clone();
        b.policy = Some(Box::default());
        assert_eq!(compare(Some(&a), Some(&b)), None);
        a.policy = Some(Box::default());
        b.policy.as_mut().unwrap()[3] = Some("reject".into());
        let c = compare(Some(&a), Some(&b)).unwrap();
        assert_eq!(c.kinds, [ChangeKind::Policy]);
        assert_eq!(c.policy[0].field, "dmarc.p");
    }

    #[test]
    fn the_lost_mx_sample_keeps_the_best_ranks() {
        let mut t = Tally::new(2);
        for rank in [9, 3, 7, 1, 5] {
            let mut a = snap(&format!("d{rank}.example"), "ok", &["mx"], None, &[]);
            a.rank = Some(rank);
            let mut b = snap(&format!("d{rank}.example"), "nxdomain", &[], None, &[]);
            b.rank = Some(rank);
            t.add(&compare(Some(&a), Some(&b)).unwrap());
        }
        t.trim();
        let ranks: Vec<_> = t.lost_mx.iter().map(|l| l.rank).collect();
        assert_eq!(ranks, [Some(1), Some(3)]);
        assert_eq!(t.count(ChangeKind::LostMx), 5);
    }
}
