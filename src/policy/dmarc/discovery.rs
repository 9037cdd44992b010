//! Where a domain's DMARC record is: the RFC 9989 DNS tree walk, and
//! beside it the RFC 7489 §6.6.3 discovery (the domain, then its
//! organisational domain from the public suffix list).
//!
//! The walk follows draft-ietf-dmarc-dmarcbis-41 §4.10 ("DNS Tree Walk"),
//! §4.10.1 ("DMARC Policy Discovery") and §4.10.2 (choosing the
//! organisational domain), the text that became RFC 9989:
//!
//! 1. ask `_dmarc.<domain>`; one valid record there applies;
//! 2. otherwise walk up: from a name of more than eight labels jump to its
//!    last seven, then drop one left-most label at a time down to the
//!    top-level domain (at most eight queries in all). Several records at
//!    a name are all discarded; a record with `psd=n` or `psd=y` stops the
//!    walk;
//! 3. the record that applies is the organisational domain's: the one
//!    with `psd=n`; below a `psd=y` record, the record one label below it
//!    (or, when there is none, the `psd=y` record itself, the public
//!    suffix domain's policy); otherwise the record found at the name with
//!    the fewest labels.
//!
//! [`DmarcLookup`] runs this without I/O: it says which name to ask next,
//! takes the TXT answers, and ends with a [`Discovery`].

use super::{DmarcReport, DmarcStatus, Psd, SEVERAL_RECORDS, parse, select};
use crate::policy::tags::{Piece, Selection, TxtRecord, split_tags};

/// At most this many queries in the walk (RFC 9989 §4.10).
const MAX_WALK: usize = 8;

/// The names the RFC 9989 tree walk asks for `domain`, in order: the
/// domain itself, then (shortened to seven labels if longer than eight)
/// each parent down to the top-level domain. `domain` is lowercased and a
/// trailing dot dropped; an empty name gives no names.
pub fn tree_walk_names(domain: &str) -> Vec<String> {
    let domain = normal(domain);
    let labels: Vec<&str> = domain.split('.').collect();
    if domain.is_empty() || labels.iter().any(|l| l.is_empty()) {
        return Vec::new();
    }
    let mut names = vec![format!("_dmarc.{domain}")];
    // Step 4: from x >= 8 labels, jump to the last 7; otherwise drop one.
    let first_parent = if labels.len() >= MAX_WALK { labels.len() - (MAX_WALK - 1) } else { 1 };
    for skip in first_parent..labels.len() {
        names.push(format!("_dmarc.{}", labels[skip..].join(".")));
    }
    names
}

/// RFC 7489 §6.6.3 step 3: `_dmarc.<organisational domain>` (the public
/// suffix list's registrable domain), when it differs from the domain.
pub fn org_domain_name(domain: &str) -> Option<String> {
    let domain = normal(domain);
    let org = psl::domain_str(&domain)?;
    (org != domain).then(|| format!("_dmarc.{org}"))
}

fn normal(domain: &str) -> String {
    domain.strip_suffix('.').unwrap_or(domain).to_ascii_lowercase()
}

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The record that applies by RFC 9989 and where it was found
    /// (`found_at`, record).
    pub applied: Option<(String, String)>,
    /// Where RFC 7489 §6.6.3 would find the record (the domain's own name
    /// or its organisational domain's); `None` when it finds none.
    pub rfc7489_found_at: Option<String>,
    /// Names where several DMARC records were discarded.
    pub several_at: Vec<String>,
    /// A DNS failure made the outcome unknown.
    pub temperror: bool,
    /// A record at the domain's own name that has `v=DMARC1`, but not as
    /// its first tag: receivers ignore it (RFC 7489 §6.6.3 step 2), which
    /// is worth saying rather than "no record" (name, record).
    pub misplaced_version: Option<(String, String)>,
}

impl Discovery {
    /// The `dmarc` column: the applied record parsed, with `found_at`; a
    /// name with several records adds an error (`dmarc_multiple_records`),
    /// and makes the status `invalid` when nothing else applies.
    pub fn report(&self) -> DmarcReport {
        if self.temperror {
            return DmarcReport::empty(DmarcStatus::TempError);
        }
        let mut report = match (&self.applied, &self.misplaced_version) {
            (Some((found_at, record)), _) => {
                let mut report = parse(record);
                report.found_at = Some(found_at.clone());
                report
            }
            (None, Some((found_at, record))) => DmarcReport {
                record: Some(record.clone()),
                found_at: Some(found_at.clone()),
                errors: vec!["v: must be the first tag (receivers ignore this record)".into()],
                ..DmarcReport::empty(DmarcStatus::Invalid)
            },
            (None, None) => DmarcReport::empty(DmarcStatus::None),
        };
        for name in &self.several_at {
            report.errors.push(format!("{SEVERAL_RECORDS} at {name}"));
            report.status = DmarcStatus::Invalid;
        }
        report
    }
}

/// The answer to one TXT question: `None` when the lookup failed
/// (timeout, SERVFAIL), `Some(&[])` for NXDOMAIN or no TXT records.
pub type TxtAnswer<'a> = Option<&'a [TxtRecord]>;

/// Sans-IO DMARC discovery for one domain: ask [`next_query`]'s name,
/// hand its answer to [`answer`], repeat until `next_query` is `None`,
/// then [`finish`].
///
/// [`next_query`]: DmarcLookup::next_query
/// [`answer`]: DmarcLookup::answer
/// [`finish`]: DmarcLookup::finish
#[derive(Debug, Clone)]
pub struct DmarcLookup {
    walk: Vec<String>,
    org: Option<String>,
    /// Answers in the order asked; `None` for a failed lookup.
    answers: Vec<(String, Option<Selection>)>,
    /// See [`Discovery::misplaced_version`].
    misplaced: Option<(String, String)>,
}

impl DmarcLookup {
    /// Discovery for `domain` (an A-label name).
    pub fn new(domain: &str) -> Self {
        Self {
            walk: tree_walk_names(domain),
            org: org_domain_name(domain),
            answers: Vec::new(),
            misplaced: None,
        }
    }

    fn answered(&self, name: &str) -> Option<&Option<Selection>> {
        self.answers.iter().find(|(asked, _)| asked == name).map(|(_, answer)| answer)
    }

    /// Where the walk stands: the next name to ask, or how it ended.
    fn walk(&self) -> Walk<'_> {
        for (i, name) in self.walk.iter().enumerate() {
            match self.answered(name) {
                None => return Walk::Ask(name),
                Some(None) => return Walk::Failed,
                Some(Some(Selection::One(record))) if i == 0 || stops_walk(record) => break,
                Some(Some(_)) => {}
            }
        }
        Walk::Done
    }

    /// The name to ask next (TXT), or `None` when discovery is complete.
    pub fn next_query(&self) -> Option<&str> {
        match self.walk() {
            Walk::Ask(name) => return Some(name),
            Walk::Failed => return None, // the outcome is unknown
            Walk::Done => {}
        }
        // RFC 7489 asks the organisational domain when the domain has no
        // record; the walk has usually asked it already.
        let own = self.walk.first().and_then(|n| self.answered(n));
        match (&self.org, own) {
            (Some(org), Some(Some(Selection::None | Selection::Several(_))))
                if self.answered(org).is_none() =>
            {
                Some(org)
            }
            _ => None,
        }
    }

    /// The answer to the name [`next_query`](Self::next_query) returned.
    /// Called when discovery is complete, it does nothing.
    pub fn answer(&mut self, txt: TxtAnswer<'_>) {
        if let Some(name) = self.next_query().map(str::to_string) {
            let selection = txt.map(select);
            if self.answers.is_empty()
                && selection == Some(Selection::None)
                && let Some(record) = txt.into_iter().flatten().find_map(version_not_first)
            {
                self.misplaced = Some((name.clone(), record));
            }
            self.answers.push((name, selection));
        }
    }

    /// What was found. Before discovery is complete this reports what the
    /// answers so far show.
    pub fn finish(&self) -> Discovery {
        // Only the walk decides the applied record; a failed RFC 7489
        // fallback query leaves `rfc7489_found_at` empty.
        let temperror = matches!(self.walk(), Walk::Failed);
        let several_at = self
            .answers
            .iter()
            .filter(|(_, answer)| matches!(answer, Some(Selection::Several(_))))
            .map(|(name, _)| name.clone())
            .collect();
        let one = |name: &str| match self.answered(name) {
            Some(Some(Selection::One(record))) => Some((name.to_string(), record.clone())),
            _ => None,
        };
        let own = self.walk.first().and_then(|name| one(name));
        let applied = if temperror { None } else { own.clone().or_else(|| self.organisational()) };
        let rfc7489_found_at = own.or_else(|| self.org.as_deref().and_then(one)).map(|(name, _)| name);
        let misplaced_version = self.misplaced.clone();
        Discovery { applied, rfc7489_found_at, several_at, temperror, misplaced_version }
    }

    /// Step 3 of the module doc: the organisational domain's record among
    /// those the walk found above the domain.
    fn organisational(&self) -> Option<(String, String)> {
        // Only what the walk itself reached: a record with psd=y or psd=n
        // ends it, and a name above that (asked for the RFC 7489 fallback)
        // is not part of it.
        let mut found: Vec<(&str, &str)> = Vec::new();
        for name in &self.walk[1.min(self.walk.len())..] {
            if let Some(Some(Selection::One(record))) = self.answered(name) {
                found.push((name.as_str(), record.as_str()));
                if stops_walk(record) {
                    break;
                }
            }
        }
        let &(last_name, last_record) = found.last()?;
        let chosen = match parse(last_record).psd {
            Some(Psd::Yes) => {
                // The organisational domain is one label below the PSD,
                // towards the domain; its record if the walk found one.
                let below = self.walk.first().and_then(|own| one_label_below(own, last_name));
                below.and_then(|b| found.iter().find(|(name, _)| *name == b)).copied()
            }
            _ => None,
        };
        let (name, record) = chosen.unwrap_or((last_name, last_record));
        Some((name.to_string(), record.to_string()))
    }
}

/// The record's text when it carries `v=DMARC1` as a tag other than the
/// first.
fn version_not_first(record: &TxtRecord) -> Option<String> {
    let text = String::from_utf8_lossy(record);
    let misplaced = split_tags(&text).iter().enumerate().any(|(i, piece)| {
        i > 0 && matches!(piece, Piece::Tag { name, value } if name.eq_ignore_ascii_case("v") && *value == "DMARC1")
    });
    misplaced.then(|| text.into_owned())
}

enum Walk<'a> {
    Ask(&'a str),
    Failed,
    Done,
}

/// A record with `psd=y` or `psd=n` ends the walk (RFC 9989 §4.10 step 6).
fn stops_walk(record: &str) -> bool {
    matches!(parse(record).psd, Some(Psd::Yes | Psd::No))
}

/// `_dmarc.` + the name one label longer than `upper`'s domain on the way
/// to `own`'s (`_dmarc.a.b.example.com`, `_dmarc.com` → `_dmarc.example.com`).
fn one_label_below(own: &str, upper: &str) -> Option<String> {
    let own = own.strip_prefix("_dmarc.")?;
    let upper = upper.strip_prefix("_dmarc.")?;
    let prefix = own.strip_suffix(upper)?.strip_suffix('.')?;
    let label = prefix.rsplit('.').next()?;
    Some(format!("_dmarc.{label}.{upper}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(records: &[&str]) -> Vec<TxtRecord> {
        records.iter().map(|r| r.as_bytes().to_vec()).collect()
    }

    /// Runs a lookup against a table of answers (a name missing from the
    /// table has no TXT records; `None` fails); returns the names asked.
    fn run(domain: &str, zone: &[(&str, Option<&[&str]>)]) -> (Vec<String>, Discovery) {
        let mut lookup = DmarcLookup::new(domain);
        let mut asked = Vec::new();
        while let Some(name) = lookup.next_query().map(str::to_string) {
            assert!(asked.len() < 10, "runaway lookup: {asked:?}");
            let answer = zone.iter().find(|(n, _)| *n == name).map_or(Some(Vec::new()), |(_, a)| a.map(txt));
            lookup.answer(answer.as_deref());
            asked.push(name);
        }
        (asked, lookup.finish())
    }

    #[test]
    fn walk_names_follow_the_rfc_example() {
        // RFC 9989 §4.10's example: eight queries for a 13-label name.
        assert_eq!(
            tree_walk_names("a.b.c.d.e.f.g.h.i.j.mail.example.com"),
            [
                "_dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com",
                "_dmarc.g.h.i.j.mail.example.com",
                "_dmarc.h.i.j.mail.example.com",
                "_dmarc.i.j.mail.example.com",
                "_dmarc.j.mail.example.com",
                "_dmarc.mail.example.com",
                "_dmarc.example.com",
                "_dmarc.com",
            ]
        );
        assert_eq!(
            tree_walk_names("Mail.Example.COM."),
            ["_dmarc.mail.example.com", "_dmarc.example.com", "_dmarc.com"]
        );
        assert_eq!(tree_walk_names("a.b.c.d.e.f.g.h").len(), 8);
        assert_eq!(tree_walk_names("b.c.d.e.f.g.h")[1], "_dmarc.c.d.e.f.g.h");
        assert!(tree_walk_names("").is_empty());
        assert!(tree_walk_names("a..b").is_empty());
    }

    #[test]
    fn org_domain_from_the_psl() {
        assert_eq!(org_domain_name("mail.example.co.uk").as_deref(), Some("_dmarc.example.co.uk"));
        assert_eq!(org_domain_name("example.com"), None);
    }

    #[test]
    fn own_record_applies_in_one_query() {
        let (asked, d) = run("example.com", &[("_dmarc.example.com", Some(&["v=DMARC1; p=reject"]))]);
        assert_eq!(asked, ["_dmarc.example.com"]);
        assert_eq!(d.applied.as_ref().map(|a| a.0.as_str()), Some("_dmarc.example.com"));
        assert_eq!(d.rfc7489_found_at.as_deref(), Some("_dmarc.example.com"));
        let report = d.report();
        assert_eq!(
            (report.status, report.found_at.as_deref()),
            (DmarcStatus::Ok, Some("_dmarc.example.com"))
        );
    }

    #[test]
    fn subdomain_inherits_the_organisational_record() {
        let zone: &[(&str, Option<&[&str]>)] = &[
            ("_dmarc.example.com", Some(&["v=DMARC1; p=quarantine; sp=reject"])),
            ("_dmarc.mail.example.com", Some(&["v=spf1 -all"])),
        ];
        let (asked, d) = run("a.mail.example.com", zone);
        assert_eq!(
            asked,
            ["_dmarc.a.mail.example.com", "_dmarc.mail.example.com", "_dmarc.example.com", "_dmarc.com"]
        );
        assert_eq!(d.applied.unwrap().0, "_dmarc.example.com");
        assert_eq!(d.rfc7489_found_at.as_deref(), Some("_dmarc.example.com"));
    }

    #[test]
    fn fewest_labels_win_without_psd() {
        // RFC 9989's example: records at mail.example.com and example.com,
        // the organisational domain is example.com.
        let zone: &[(&str, Option<&[&str]>)] = &[
            ("_dmarc.mail.example.com", Some(&["v=DMARC1; p=none"])),
            ("_dmarc.example.com", Some(&["v=DMARC1; p=reject"])),
        ];
        let (_, d) = run("a.mail.example.com", zone);
        assert_eq!(d.applied.unwrap(), ("_dmarc.example.com".into(), "v=DMARC1; p=reject".into()));
    }

    #[test]
    fn psd_n_stops_the_walk() {
        let zone: &[(&str, Option<&[&str]>)] =
            &[("_dmarc.mail.example.com", Some(&["v=DMARC1; p=none; psd=n"])), ("_dmarc.example.com", None)];
        let (asked, d) = run("a.mail.example.com", zone);
        // The walk stops at mail.example.com, then RFC 7489 asks the PSL's
        // organisational domain; its failure does not touch the walk's result.
        assert_eq!(asked, ["_dmarc.a.mail.example.com", "_dmarc.mail.example.com", "_dmarc.example.com"]);
        assert!(!d.temperror);
        assert_eq!(d.applied.unwrap().0, "_dmarc.mail.example.com");
        assert_eq!(d.rfc7489_found_at, None);
    }

    #[test]
    fn the_rfc_7489_answer_above_a_psd_n_record_is_not_part_of_the_walk() {
        let zone: &[(&str, Option<&[&str]>)] = &[
            ("_dmarc.mail.example.com", Some(&["v=DMARC1; p=quarantine; psd=n"])),
            ("_dmarc.example.com", Some(&["v=DMARC1; p=reject"])),
        ];
        let (_, d) = run("a.mail.example.com", zone);
        assert_eq!(d.applied.unwrap().0, "_dmarc.mail.example.com", "RFC 9989: psd=n names the organisation");
        assert_eq!(d.rfc7489_found_at.as_deref(), Some("_dmarc.example.com"), "RFC 7489: the PSL's");
    }

    #[test]
    fn a_record_with_v_not_first_is_reported_not_applied() {
        let zone: &[(&str, Option<&[&str]>)] = &[("_dmarc.example.com", Some(&["p=reject; v=DMARC1"]))];
        let (_, d) = run("example.com", zone);
        assert_eq!(d.applied, None);
        let report = d.report();
        assert_eq!(report.status, DmarcStatus::Invalid);
        assert_eq!(report.found_at.as_deref(), Some("_dmarc.example.com"));
        assert_eq!(report.findings(), ["dmarc_syntax_error"]);
    }

    #[test]
    fn psd_y_gives_the_label_below_or_the_psd_policy() {
        // Only `_dmarc.com` with psd=y: the PSD's policy applies.
        let zone: &[(&str, Option<&[&str]>)] = &[("_dmarc.com", Some(&["v=DMARC1; p=reject; psd=y"]))];
        let (_, d) = run("a.mail.example.com", zone);
        assert_eq!(d.applied.unwrap().0, "_dmarc.com");
        // A record one label below the PSD is the organisational domain's.
        let zone: &[(&str, Option<&[&str]>)] = &[
            ("_dmarc.com", Some(&["v=DMARC1; p=reject; psd=y"])),
            ("_dmarc.example.com", Some(&["v=DMARC1; p=none"])),
            ("_dmarc.mail.example.com", Some(&["v=DMARC1; p=quarantine"])),
        ];
        let (_, d) = run("a.mail.example.com", zone);
        assert_eq!(d.applied.unwrap().0, "_dmarc.example.com");
        assert_eq!(
            one_label_below("_dmarc.a.b.example.com", "_dmarc.com").as_deref(),
            Some("_dmarc.example.com")
        );
        assert_eq!(one_label_below("_dmarc.example.com", "_dmarc.example.com"), None);
    }

    #[test]
    fn several_records_are_discarded_and_the_walk_goes_on() {
        let zone: &[(&str, Option<&[&str]>)] = &[
            ("_dmarc.example.com", Some(&["v=DMARC1; p=reject", "v=DMARC1; p=none"])),
            ("_dmarc.com", Some(&["v=DMARC1; p=quarantine; psd=y"])),
        ];
        let (asked, d) = run("example.com", zone);
        assert_eq!(asked, ["_dmarc.example.com", "_dmarc.com"]);
        assert_eq!(d.several_at, ["_dmarc.example.com"]);
        assert_eq!(d.rfc7489_found_at, None);
        let report = d.report();
        assert_eq!(report.status, DmarcStatus::Invalid);
        assert_eq!(report.found_at.as_deref(), Some("_dmarc.com"));
        assert!(report.findings().contains(&"dmarc_multiple_records"));
        assert!(!report.findings().contains(&"dmarc_syntax_error"));

        let zone: &[(&str, Option<&[&str]>)] =
            &[("_dmarc.example.com", Some(&["v=DMARC1; p=reject", "v=DMARC1"]))];
        let report = run("example.com", zone).1.report();
        assert_eq!((report.status, report.record.as_deref()), (DmarcStatus::Invalid, None));
        assert_eq!(report.errors, ["several v=DMARC1 records at _dmarc.example.com"]);
    }

    #[test]
    fn none_found_and_failures() {
        let (asked, d) = run("example.com", &[]);
        assert_eq!(asked, ["_dmarc.example.com", "_dmarc.com"]);
        assert_eq!(d.report().status, DmarcStatus::None);
        assert_eq!(d.report().findings(), ["dmarc_missing"]);
        let (asked, d) = run("example.com", &[("_dmarc.example.com", None)]);
        assert_eq!(asked, ["_dmarc.example.com"]);
        assert_eq!(d.report().status, DmarcStatus::TempError);
        assert!(d.report().findings().is_empty());
        // The own name answers; a failure above it still leaves it unknown.
        let (_, d) = run("mail.example.com", &[("_dmarc.com", None)]);
        assert!(d.temperror && d.applied.is_none());
    }

    #[test]
    fn answers_after_completion_are_ignored() {
        let mut lookup = DmarcLookup::new("example.com");
        lookup.answer(Some(&txt(&["v=DMARC1; p=none"])));
        assert_eq!(lookup.next_query(), None);
        lookup.answer(None);
        assert!(!lookup.finish().temperror);
    }
}
