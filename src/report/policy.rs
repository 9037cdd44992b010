//! The report's policy tables: adoption of each mechanism, DMARC policies,
//! MTA-STS modes and coverage gaps, SPF errors and lookup counts, DANE.
//! Counts rows whose `spf` struct is present (the policy stage ran).

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::ArrowError;
use serde::Serialize;

use super::model::Count;
use super::summary::{Counts, bump};

/// The top-level columns this section reads.
pub(super) const COLUMNS: [&str; 7] =
    ["domain", "spf", "dmarc", "mta_sts", "tlsrpt", "dkim", "mx_authenticated"];

/// SPF lookup-count buckets (RFC 7208 §4.6.4: more than 10 is a permerror).
const LOOKUP_BUCKETS: [(&str, u8, u8); 4] =
    [("0–3", 0, 3), ("4–7", 4, 7), ("8–10", 8, 10), ("over 10", 11, u8::MAX)];

/// One value and how many domains have it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueCount {
    /// The value (`null` when the column was null).
    pub value: String,
    /// Domains, and their share of the domains checked.
    #[serde(flatten)]
    pub count: Count,
}

/// The policy section of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySection {
    /// Domains the policy stage ran for.
    pub domains: u64,
    /// `spf.status`.
    pub spf_status: Vec<ValueCount>,
    /// `spf.all` qualifier (`none` when there is no `all`).
    pub spf_all: Vec<ValueCount>,
    /// `spf.lookups` in buckets.
    pub spf_lookups: Vec<ValueCount>,
    /// The most common SPF errors, by their first word group (the text
    /// before ` at `, which names the term and position).
    pub spf_errors: Vec<ValueCount>,
    /// `dmarc.status`.
    pub dmarc_status: Vec<ValueCount>,
    /// `dmarc.p` of the records that apply.
    pub dmarc_policy: Vec<ValueCount>,
    /// Records found at a parent by the tree walk.
    pub dmarc_at_parent: Count,
    /// `mta_sts.status`.
    pub mta_sts_status: Vec<ValueCount>,
    /// `mta_sts.mode` of fetched policies.
    pub mta_sts_mode: Vec<ValueCount>,
    /// Domains with an MX host no pattern covers.
    pub mta_sts_uncovered: Count,
    /// Domains with a pattern that matches no MX host.
    pub mta_sts_unused_pattern: Count,
    /// `tlsrpt.status`.
    pub tlsrpt_status: Vec<ValueCount>,
    /// MX answers DNSSEC-authenticated (AD).
    pub mx_authenticated: Count,
    /// Domains with TLSA on at least one exchange.
    pub dane: Count,
    /// Domains with at least one DKIM key found (among the probed selectors).
    pub dkim: Count,
}

impl PolicySection {
    /// The value tables, titled, in report order (text and HTML draw the same).
    pub fn tables(&self) -> [(&'static str, &[ValueCount]); 9] {
        [
            ("SPF", &self.spf_status),
            ("SPF `all`", &self.spf_all),
            ("SPF DNS lookups (limit 10)", &self.spf_lookups),
            ("SPF errors (the 10 most common)", &self.spf_errors),
            ("DMARC", &self.dmarc_status),
            ("DMARC policy (p)", &self.dmarc_policy),
            ("MTA-STS", &self.mta_sts_status),
            ("MTA-STS mode", &self.mta_sts_mode),
            ("TLS-RPT", &self.tlsrpt_status),
        ]
    }

    /// The single counts, labelled.
    pub fn facts(&self) -> [(&'static str, Count); 6] {
        [
            ("DMARC found at a parent (tree walk)", self.dmarc_at_parent),
            ("MTA-STS: an MX host no pattern covers", self.mta_sts_uncovered),
            ("MTA-STS: a pattern that matches no MX host", self.mta_sts_unused_pattern),
            ("MX answer DNSSEC-authenticated", self.mx_authenticated),
            ("DANE: TLSA on an exchange", self.dane),
            ("DKIM key found", self.dkim),
        ]
    }
}

/// Counts by value: the summary's own counter.
type Tally = Counts;

/// The policy columns' counts over every batch.
#[derive(Debug, Default)]
pub(super) struct PolicyCounts {
    domains: u64,
    spf_status: Tally,
    spf_all: Tally,
    spf_lookups: [u64; LOOKUP_BUCKETS.len()],
    spf_errors: Tally,
    dmarc_status: Tally,
    dmarc_policy: Tally,
    dmarc_at_parent: u64,
    mta_sts_status: Tally,
    mta_sts_mode: Tally,
    mta_sts_uncovered: u64,
    mta_sts_unused: u64,
    tlsrpt_status: Tally,
    mx_authenticated: u64,
    dane: u64,
    dkim: u64,
}

fn child<'a>(s: &'a StructArray, name: &str) -> Result<&'a dyn Array, ArrowError> {
    s.column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| ArrowError::SchemaError(format!("policy column without field {name}")))
}

fn text(a: &dyn Array, i: usize) -> Option<&str> {
    let a = a.as_string_opt::<i32>()?;
    a.is_valid(i).then(|| a.value(i))
}

fn list_len(a: &dyn Array, i: usize) -> usize {
    a.as_list_opt::<i32>().filter(|l| l.is_valid(i)).map_or(0, |l| l.value_length(i) as usize)
}

fn list_texts(a: &dyn Array, i: usize) -> Vec<String> {
    let Some(list) = a.as_list_opt::<i32>().filter(|l| l.is_valid(i)) else { return Vec::new() };
    let values = list.value(i);
    let Some(strings) = values.as_string_opt::<i32>() else { return Vec::new() };
    strings.iter().flatten().map(str::to_string).collect()
}

fn structs<'a>(batch: &'a RecordBatch, name: &str) -> Result<Option<&'a StructArray>, ArrowError> {
    match batch.column_by_name(name) {
        None => Ok(None),
        Some(c) => c.as_struct_opt().map(Some).ok_or_else(|| {
            ArrowError::SchemaError(format!("column {name} is {}, expected struct", c.data_type()))
        }),
    }
}

impl PolicyCounts {
    /// Count one batch; a file without the policy columns adds nothing.
    pub(super) fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let (Some(spf), Some(dmarc), Some(mta_sts), Some(tlsrpt)) = (
            structs(batch, "spf")?,
            structs(batch, "dmarc")?,
            structs(batch, "mta_sts")?,
            structs(batch, "tlsrpt")?,
        ) else {
            return Ok(());
        };
        let (spf_status, spf_all, spf_lookups, spf_errors) =
            (child(spf, "status")?, child(spf, "all")?, child(spf, "lookups")?, child(spf, "errors")?);
        let (dmarc_status, dmarc_p, dmarc_at) =
            (child(dmarc, "status")?, child(dmarc, "p")?, child(dmarc, "found_at")?);
        let (sts_status, sts_mode, sts_uncovered, sts_unused) = (
            child(mta_sts, "status")?,
            child(mta_sts, "mode")?,
            child(mta_sts, "mx_uncovered")?,
            child(mta_sts, "patterns_unused")?,
        );
        let tlsrpt_status = child(tlsrpt, "status")?;
        let lookups = spf_lookups.as_primitive_opt::<arrow_array::types::UInt8Type>();
        let mx_ad = batch.column_by_name("mx_authenticated").and_then(|c| c.as_boolean_opt().cloned());
        let dkim = batch.column_by_name("dkim");
        let mx = batch.column_by_name("mx").and_then(|c| c.as_list_opt::<i32>());
        let tlsa_ad = mx
            .and_then(|l| l.values().as_struct_opt())
            .and_then(|s| s.column_by_name("tlsa_authenticated"))
            .and_then(|c| c.as_boolean_opt());

        for i in 0..batch.num_rows() {
            if !spf.is_valid(i) {
                continue;
            }
            self.domains += 1;
            bump(&mut self.spf_status, text(spf_status, i).unwrap_or("null"));
            if text(spf_status, i) != Some("none") {
                bump(&mut self.spf_all, text(spf_all, i).unwrap_or("none"));
            }
            if let Some(n) = lookups.filter(|a| a.is_valid(i)).map(|a| a.value(i)) {
                let bucket = LOOKUP_BUCKETS.iter().position(|&(_, lo, hi)| (lo..=hi).contains(&n));
                self.spf_lookups[bucket.expect("the buckets cover u8")] += 1;
            }
            for error in list_texts(spf_errors, i) {
                let kind = error.rsplit(": ").next().unwrap_or(&error).to_string();
                bump(&mut self.spf_errors, &kind);
            }
            let d_status = text(dmarc_status, i).unwrap_or("null");
            bump(&mut self.dmarc_status, d_status);
            if let Some(p) = text(dmarc_p, i) {
                bump(&mut self.dmarc_policy, p);
            }
            if let Some(at) = text(dmarc_at, i) {
                // `_dmarc.<domain>` is the domain's own; anything else was found by the walk.
                let own = at.strip_prefix("_dmarc.").is_some_and(|name| is_own(batch, i, name));
                self.dmarc_at_parent += u64::from(!own);
            }
            bump(&mut self.mta_sts_status, text(sts_status, i).unwrap_or("null"));
            if let Some(mode) = text(sts_mode, i) {
                bump(&mut self.mta_sts_mode, mode);
            }
            self.mta_sts_uncovered += u64::from(list_len(sts_uncovered, i) > 0);
            self.mta_sts_unused += u64::from(list_len(sts_unused, i) > 0);
            bump(&mut self.tlsrpt_status, text(tlsrpt_status, i).unwrap_or("null"));
            self.mx_authenticated += u64::from(mx_ad.as_ref().is_some_and(|a| a.is_valid(i) && a.value(i)));
            self.dkim += u64::from(dkim.is_some_and(|d| list_len(d.as_ref(), i) > 0));
            if let (Some(l), Some(ad)) = (mx, tlsa_ad)
                && l.is_valid(i)
            {
                let (start, end) = (l.value_offsets()[i] as usize, l.value_offsets()[i + 1] as usize);
                // `tlsa_authenticated` is non-null exactly when the exchange has TLSA records.
                self.dane += u64::from((start..end).any(|j| ad.is_valid(j)));
            }
        }
        Ok(())
    }

    /// The section, or `None` when no row had the policy stage.
    pub(super) fn section(&self) -> Option<PolicySection> {
        if self.domains == 0 {
            return None;
        }
        let of = self.domains;
        let count = |n: u64| Count {
            count: n,
            pct: if of == 0 { 0.0 } else { (n as f64 * 10_000.0 / of as f64).round() / 100.0 },
        };
        let rows = |tally: &Tally| -> Vec<ValueCount> {
            let mut rows: Vec<ValueCount> =
                tally.iter().map(|(v, n)| ValueCount { value: v.to_string(), count: count(*n) }).collect();
            rows.sort_by(|a, b| b.count.count.cmp(&a.count.count).then(a.value.cmp(&b.value)));
            rows
        };
        let mut spf_errors = rows(&self.spf_errors);
        spf_errors.truncate(10);
        Some(PolicySection {
            domains: of,
            spf_status: rows(&self.spf_status),
            spf_all: rows(&self.spf_all),
            spf_lookups: LOOKUP_BUCKETS
                .iter()
                .zip(self.spf_lookups)
                .map(|(&(label, _, _), n)| ValueCount { value: label.to_string(), count: count(n) })
                .collect(),
            spf_errors,
            dmarc_status: rows(&self.dmarc_status),
            dmarc_policy: rows(&self.dmarc_policy),
            dmarc_at_parent: count(self.dmarc_at_parent),
            mta_sts_status: rows(&self.mta_sts_status),
            mta_sts_mode: rows(&self.mta_sts_mode),
            mta_sts_uncovered: count(self.mta_sts_uncovered),
            mta_sts_unused_pattern: count(self.mta_sts_unused),
            tlsrpt_status: rows(&self.tlsrpt_status),
            mx_authenticated: count(self.mx_authenticated),
            dane: count(self.dane),
            dkim: count(self.dkim),
        })
    }
}

/// Whether `name` is row `i`'s own domain (the `domain` column, when read;
/// otherwise every `_dmarc.` record is taken as the domain's own).
fn is_own(batch: &RecordBatch, i: usize, name: &str) -> bool {
    match batch.column_by_name("domain").and_then(|c| c.as_string_opt::<i32>()) {
        Some(domain) => domain.is_valid(i) && domain.value(i) == name,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::dns::wire::Answer;
    use crate::policy::report::{self, PolicyStage};
    use crate::record::{DomainRecord, Status};
    use crate::resolve::policy::PolicyAnswers;
    use crate::resolve::{LookupStatus, Outcome};

    fn txt(records: &[&str]) -> Arc<Outcome> {
        let answer =
            Answer { txt: records.iter().map(|r| r.as_bytes().to_vec()).collect(), ..Answer::default() };
        Arc::new(Outcome { status: LookupStatus::NoError, answer, resolver: Some(0), error: None })
    }

    fn row(domain: &str, answers: PolicyAnswers) -> DomainRecord {
        let mut r = DomainRecord::invalid(domain.into(), None, String::new());
        r.domain = Some(domain.into());
        r.status = Status::Ok;
        let built = report::build(&answers, &mut r.mx, Some(false), 0);
        r.policy = Some(PolicyStage::Report(Box::new(built)));
        r
    }

    #[test]
    fn counts_what_the_columns_say() {
        let with_records = PolicyAnswers {
            mta_sts: Some(txt(&[])),
            tlsrpt: Some(txt(&["v=TLSRPTv1; rua=mailto:tls@example.com"])),
            dmarc: Some(crate::policy::dmarc::parse("v=DMARC1; p=reject")),
            ..PolicyAnswers::default()
        };
        let mut rows = vec![row("a.example", with_records), row("b.example", PolicyAnswers::default())];
        // A row without the stage is not counted.
        rows.push(DomainRecord::invalid("c".into(), None, "bad".into()));
        let batch = crate::output::arrow::to_batch(&rows).unwrap();
        let mut counts = PolicyCounts::default();
        counts.add_batch(&batch).unwrap();
        let section = counts.section().expect("two rows checked");
        assert_eq!(section.domains, 2);
        let value = |rows: &[ValueCount], v: &str| rows.iter().find(|r| r.value == v).map(|r| r.count.count);
        assert_eq!(value(&section.tlsrpt_status, "ok"), Some(1));
        assert_eq!(value(&section.tlsrpt_status, "temperror"), Some(1), "no answer is unknown, not none");
        assert_eq!(value(&section.dmarc_policy, "reject"), Some(1));
        assert_eq!(value(&section.mta_sts_status, "none"), Some(1));
        assert_eq!(section.dane.count, 0);
        let empty = crate::output::arrow::to_batch(&rows[2..]).unwrap();
        let mut none = PolicyCounts::default();
        none.add_batch(&empty).unwrap();
        assert!(none.section().is_none());
    }
}
