//! The aggregation: record batches in, counts out. Nothing here reads files
//! or prints; [`Summary::report`] turns the counts into the ordered,
//! serialisable [`Report`] every renderer draws from.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, ListArray, RecordBatch, StringArray};
use arrow_schema::ArrowError;
use rustc_hash::FxHashMap;

use super::exchangers::{self, ExchangerCounts};
use super::model::{
    CategoryRow, Count, ExchangerRow, FindingRow, GatewayShare, MxAdoption, ProviderCount, ProviderRow,
    ProviderShare, RankBucket, Report, StatusRow,
};
use crate::analyze::findings;
use crate::analyze::providers::ProviderTable;
use crate::record::Status;

/// Rank buckets: cumulative "top N" slices, then everything beyond the last.
pub const RANK_BUCKETS: [(&str, Option<u32>); 5] = [
    ("top 1k", Some(1_000)),
    ("top 10k", Some(10_000)),
    ("top 100k", Some(100_000)),
    ("top 1M", Some(1_000_000)),
    ("beyond 1M", None),
];
/// Providers listed per rank bucket.
pub const BUCKET_TOP: usize = 5;
/// Shared exchangers listed (those used by two or more domains).
pub const EXCHANGERS_TOP: usize = 20;

/// The columns the report reads; anything else in a file is skipped.
pub(super) const COLUMNS: [&str; 8] =
    ["status", "rank", "implicit_mx", "mx", "findings", "provider", "provider_category", "self_hosted"];
/// The fields of the `mx` struct the report reads.
pub(super) const MX_FIELDS: [&str; 3] = ["exchange", "provider", "tlsa_authenticated"];
/// The analysis columns; without them the provider sections are skipped.
const ANALYSIS: [&str; 3] = ["provider", "provider_category", "self_hosted"];

/// Pseudo-categories for domains with MX but no provider category.
const SELF_HOSTED: &str = "self-hosted";
const UNKNOWN: &str = "unknown";
const CATEGORIES: [&str; 4] = ["mailbox", "gateway", "hosting", "forwarding"];

pub(super) type Counts = FxHashMap<Box<str>, u64>;

pub(super) fn bump(counts: &mut Counts, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.into(), 1);
        }
    }
}

#[derive(Debug, Default)]
struct ProviderStat {
    domains: u64,
    category: Option<Box<str>>,
}

#[derive(Debug, Default)]
struct Bucket {
    domains: u64,
    with_mx: u64,
    providers: Counts,
}

/// Counts over every row seen. Memory grows with the distinct values
/// (statuses, providers, finding codes, exchanges), never with the rows.
#[derive(Debug, Default)]
pub struct Summary {
    rows: u64,
    status: Counts,
    ok: u64,
    has_mx: u64,
    null_mx_only: u64,
    implicit_mx: u64,
    no_mx: u64,
    rows_without_analysis: u64,
    providers: FxHashMap<Box<str>, ProviderStat>,
    self_hosted: u64,
    categories: Counts,
    gateways: Counts,
    ranked: u64,
    buckets: [Bucket; 5],
    findings: Counts,
    exchangers: ExchangerCounts,
    policy: super::policy::PolicyCounts,
}

/// Integer columns as another writer may have typed them (DuckDB, Polars).
pub(crate) enum Ints<'a> {
    U32(&'a arrow_array::UInt32Array),
    U64(&'a arrow_array::UInt64Array),
    I32(&'a arrow_array::Int32Array),
    I64(&'a arrow_array::Int64Array),
}

impl Ints<'_> {
    pub(crate) fn get(&self, i: usize) -> Option<u64> {
        fn at<A: Array, T>(a: &A, i: usize, v: impl Fn(usize) -> T) -> Option<T> {
            a.is_valid(i).then(|| v(i))
        }
        match self {
            Self::U32(a) => at(*a, i, |i| u64::from(a.value(i))),
            Self::U64(a) => at(*a, i, |i| a.value(i)),
            Self::I32(a) => at(*a, i, |i| a.value(i)).and_then(|v| u64::try_from(v).ok()),
            Self::I64(a) => at(*a, i, |i| a.value(i)).and_then(|v| u64::try_from(v).ok()),
        }
    }
}

pub(crate) fn mismatch(name: &str, array: &ArrayRef, want: &str) -> ArrowError {
    ArrowError::SchemaError(format!("column {name} is {}, expected {want}", array.data_type()))
}

pub(crate) fn strings<'a>(
    name: &str,
    array: Option<&'a ArrayRef>,
) -> Result<Option<&'a StringArray>, ArrowError> {
    array.map(|a| a.as_string_opt::<i32>().ok_or_else(|| mismatch(name, a, "utf8"))).transpose()
}

pub(crate) fn bools<'a>(
    name: &str,
    array: Option<&'a ArrayRef>,
) -> Result<Option<&'a BooleanArray>, ArrowError> {
    array.map(|a| a.as_boolean_opt().ok_or_else(|| mismatch(name, a, "bool"))).transpose()
}

pub(crate) fn list<'a>(name: &str, array: Option<&'a ArrayRef>) -> Result<Option<&'a ListArray>, ArrowError> {
    array.map(|a| a.as_list_opt::<i32>().ok_or_else(|| mismatch(name, a, "list"))).transpose()
}

pub(crate) fn ints<'a>(name: &str, array: Option<&'a ArrayRef>) -> Result<Option<Ints<'a>>, ArrowError> {
    let Some(a) = array else { return Ok(None) };
    let ints = if let Some(a) = a.as_primitive_opt::<UInt32Type>() {
        Ints::U32(a)
    } else if let Some(a) = a.as_primitive_opt::<UInt64Type>() {
        Ints::U64(a)
    } else if let Some(a) = a.as_primitive_opt::<Int32Type>() {
        Ints::I32(a)
    } else if let Some(a) = a.as_primitive_opt::<Int64Type>() {
        Ints::I64(a)
    } else {
        return Err(mismatch(name, a, "an integer"));
    };
    Ok(Some(ints))
}

pub(crate) fn text(a: Option<&StringArray>, i: usize) -> Option<&str> {
    a.filter(|a| a.is_valid(i)).map(|a| a.value(i))
}

fn flag(a: Option<&BooleanArray>, i: usize) -> bool {
    a.is_some_and(|a| a.is_valid(i) && a.value(i))
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows seen so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Count one batch of rows of the output schema. Columns are found by
    /// name; `status` is required, the analysis columns may be missing (an
    /// older file), and a column of an unexpected type is an error.
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        self.policy.add_batch(batch)?;
        let col = |name: &str| batch.column_by_name(name);
        let status = strings("status", col("status"))?
            .ok_or_else(|| ArrowError::SchemaError("no status column: not an mxscan output".into()))?;
        let rank = ints("rank", col("rank"))?;
        let implicit = bools("implicit_mx", col("implicit_mx"))?;
        let findings = list("findings", col("findings"))?;
        let finding_codes =
            findings.map(|l| strings("findings.item", Some(l.values()))).transpose()?.flatten();
        let analysis = ANALYSIS.iter().all(|c| col(c).is_some());
        let provider = strings("provider", col("provider"))?;
        let category = strings("provider_category", col("provider_category"))?;
        let self_hosted = bools("self_hosted", col("self_hosted"))?;

        let mx = list("mx", col("mx"))?;
        let mx_struct = mx
            .map(|l| l.values().as_struct_opt().ok_or_else(|| mismatch("mx.item", l.values(), "struct")))
            .transpose()?;
        let exchange = strings("mx.exchange", mx_struct.and_then(|s| s.column_by_name("exchange")))?;
        let mx_provider = strings("mx.provider", mx_struct.and_then(|s| s.column_by_name("provider")))?;

        self.rows += batch.num_rows() as u64;
        if !analysis {
            self.rows_without_analysis += batch.num_rows() as u64;
        }
        let mut seen: Vec<&str> = Vec::new();
        for i in 0..batch.num_rows() {
            let st = text(Some(status), i).unwrap_or("null");
            bump(&mut self.status, st);

            if let (Some(l), Some(codes)) = (findings, finding_codes)
                && l.is_valid(i)
            {
                let (start, end) = (l.value_offsets()[i] as usize, l.value_offsets()[i + 1] as usize);
                for j in start..end {
                    if let Some(code) = text(Some(codes), j) {
                        bump(&mut self.findings, code);
                    }
                }
            }

            // The row's distinct real exchanges (a duplicated MX counts once).
            seen.clear();
            let mut null_mx = false;
            if let (Some(l), Some(ex)) = (mx, exchange)
                && l.is_valid(i)
            {
                let (start, end) = (l.value_offsets()[i] as usize, l.value_offsets()[i + 1] as usize);
                for j in start..end {
                    match text(Some(ex), j) {
                        Some(".") => null_mx = true,
                        Some(name) if !seen.contains(&name) => {
                            seen.push(name);
                            self.exchangers.add(name, text(mx_provider, j));
                        }
                        _ => {}
                    }
                }
            }
            let has_mx = !seen.is_empty();

            let bucket_rank = rank.as_ref().and_then(|r| r.get(i));
            if bucket_rank.is_some() {
                self.ranked += 1;
            }
            if st != Status::Ok.as_str() {
                self.count_bucket(bucket_rank, |b| b.domains += 1);
                continue;
            }
            self.ok += 1;
            if !has_mx {
                match (null_mx, flag(implicit, i)) {
                    (true, _) => self.null_mx_only += 1,
                    (false, true) => self.implicit_mx += 1,
                    (false, false) => self.no_mx += 1,
                }
                self.count_bucket(bucket_rank, |b| b.domains += 1);
                continue;
            }
            self.has_mx += 1;
            let (p, c) = (text(provider, i), text(category, i));
            let own = flag(self_hosted, i) && p.is_none();
            self.count_bucket(bucket_rank, |b| {
                b.domains += 1;
                b.with_mx += 1;
                if let Some(p) = p {
                    bump(&mut b.providers, p);
                }
            });
            if !analysis {
                continue;
            }
            if let Some(p) = p {
                let stat = match self.providers.get_mut(p) {
                    Some(s) => s,
                    None => self.providers.entry(p.into()).or_default(),
                };
                stat.domains += 1;
                if stat.category.is_none() {
                    stat.category = c.map(Into::into);
                }
            }
            self.self_hosted += u64::from(own);
            bump(&mut self.categories, c.unwrap_or(if own { SELF_HOSTED } else { UNKNOWN }));
            if c == Some("gateway") {
                bump(&mut self.gateways, p.unwrap_or(UNKNOWN));
            }
        }
        Ok(())
    }

    /// Apply `f` to every bucket the rank falls in (cumulative "top N",
    /// or "beyond" alone).
    fn count_bucket(&mut self, rank: Option<u64>, mut f: impl FnMut(&mut Bucket)) {
        let Some(rank) = rank else { return };
        for (bucket, (_, max)) in self.buckets.iter_mut().zip(RANK_BUCKETS) {
            let inside = match max {
                Some(max) => rank <= u64::from(max),
                None => rank > 1_000_000,
            };
            if inside {
                f(bucket);
            }
        }
    }

    /// The ordered, serialisable view: `top` providers in the provider share.
    pub fn report(&self, top: usize) -> Report {
        let table = ProviderTable::embedded();
        let name = |id: &str| table.get(id).map(|p| p.name.clone());
        let pct =
            |n: u64, of: u64| if of == 0 { 0.0 } else { (n as f64 * 10_000.0 / of as f64).round() / 100.0 };
        let count = |n: u64, of: u64| Count { count: n, pct: pct(n, of) };
        let mut notes = Vec::new();

        let mut status: Vec<StatusRow> = Status::ALL
            .iter()
            .map(|s| s.as_str())
            .chain(sorted_keys(&self.status).filter(|k| !Status::ALL.iter().any(|s| s.as_str() == *k)))
            .map(|s| {
                let n = self.status.get(s).copied().unwrap_or(0);
                StatusRow { status: s.to_string(), count: n, pct: pct(n, self.rows) }
            })
            .collect();
        status.retain(|r| r.count > 0 || Status::ALL.iter().any(|s| s.as_str() == r.status));

        let mx_adoption = MxAdoption {
            ok: self.ok,
            has_mx: count(self.has_mx, self.ok),
            null_mx_only: count(self.null_mx_only, self.ok),
            implicit_mx: count(self.implicit_mx, self.ok),
            none: count(self.no_mx, self.ok),
        };

        let analysis = self.rows_without_analysis == 0;
        if !analysis {
            notes.push(format!(
                "{} of {} rows come from a file without the analysis columns (provider, provider_category, \
                 self_hosted): the provider, gateway and category sections are skipped",
                self.rows_without_analysis, self.rows
            ));
        }
        let with_mx = self.has_mx;
        let providers = analysis.then(|| {
            let mut rows: Vec<(&str, &ProviderStat)> =
                self.providers.iter().map(|(k, v)| (&**k, v)).collect();
            rows.sort_by(|a, b| b.1.domains.cmp(&a.1.domains).then(a.0.cmp(b.0)));
            let listed: u64 = rows.iter().take(top).map(|r| r.1.domains).sum();
            ProviderShare {
                domains_with_mx: with_mx,
                distinct: rows.len() as u64,
                top: rows
                    .iter()
                    .take(top)
                    .map(|(id, s)| ProviderRow {
                        provider: id.to_string(),
                        name: name(id),
                        category: s.category.as_deref().map(str::to_string),
                        count: s.domains,
                        pct: pct(s.domains, with_mx),
                    })
                    .collect(),
                self_hosted: count(self.self_hosted, with_mx),
                other_unknown: count(with_mx.saturating_sub(listed + self.self_hosted), with_mx),
            }
        });
        let gateways = analysis.then(|| {
            let total: u64 = self.gateways.values().sum();
            GatewayShare {
                domains: total,
                pct_of_mx: pct(total, with_mx),
                rows: by_count(&self.gateways)
                    .map(|(id, n)| ProviderCount {
                        provider: id.to_string(),
                        name: name(id),
                        count: n,
                        pct: pct(n, total),
                    })
                    .collect(),
            }
        });
        let categories = analysis.then(|| {
            let extra = sorted_keys(&self.categories)
                .filter(|k| !CATEGORIES.contains(k) && *k != SELF_HOSTED && *k != UNKNOWN);
            CATEGORIES
                .into_iter()
                .chain(extra)
                .chain([SELF_HOSTED, UNKNOWN])
                .map(|c| {
                    let n = self.categories.get(c).copied().unwrap_or(0);
                    CategoryRow { category: c.to_string(), count: n, pct: pct(n, with_mx) }
                })
                .collect()
        });

        let rank_buckets = (self.ranked > 0).then(|| {
            let mut out: Vec<RankBucket> = Vec::new();
            for (b, (label, max)) in self.buckets.iter().zip(RANK_BUCKETS) {
                // A cumulative bucket no larger than the one before adds nothing.
                let same = max.is_some() && out.last().is_some_and(|prev| prev.domains == b.domains);
                if b.domains == 0 || same {
                    continue;
                }
                out.push(RankBucket {
                    bucket: label.to_string(),
                    max_rank: max,
                    domains: b.domains,
                    with_mx: b.with_mx,
                    top: by_count(&b.providers)
                        .take(BUCKET_TOP)
                        .map(|(id, n)| ProviderCount {
                            provider: id.to_string(),
                            name: name(id),
                            count: n,
                            pct: pct(n, b.with_mx),
                        })
                        .collect(),
                });
            }
            out
        });

        let mut findings: Vec<FindingRow> = self
            .findings
            .iter()
            .map(|(code, &n)| {
                let f = findings::lookup(code);
                FindingRow {
                    code: code.to_string(),
                    severity: f.map_or("unknown", |f| f.severity.as_str()).to_string(),
                    summary: f.map(|f| f.summary.to_string()),
                    count: n,
                    pct: pct(n, self.ok),
                }
            })
            .collect();
        findings.sort_by(|a, b| {
            let rank = |r: &FindingRow| findings::lookup(&r.code).map(|f| f.severity);
            // Known severities first (error, warning, info), unknown codes last.
            (rank(a).is_none(), rank(a))
                .cmp(&(rank(b).is_none(), rank(b)))
                .then(b.count.cmp(&a.count))
                .then(a.code.cmp(&b.code))
        });

        let exchangers = self
            .exchangers
            .top(EXCHANGERS_TOP)
            .into_iter()
            .filter(|&(_, domains, _)| domains > 1)
            .map(|(name, domains, provider)| ExchangerRow {
                exchange: name.to_string(),
                domains,
                pct: pct(domains, with_mx),
                provider: provider.map(str::to_string),
            })
            .collect();
        let undercount = self.exchangers.max_undercount();
        if undercount > 0 {
            notes.push(format!(
                "more than {} distinct exchanges: the least shared were forgotten, so an exchanger's count \
                 may be low by up to {undercount}",
                super::thousands(exchangers::CAP as u64)
            ));
        }

        Report {
            source: String::new(),
            files: 0,
            rows: self.rows,
            notes,
            status,
            mx_adoption,
            providers,
            gateways,
            categories,
            rank_buckets,
            findings,
            exchangers,
            policy: self.policy.section(),
        }
    }
}

fn sorted_keys(counts: &Counts) -> impl Iterator<Item = &str> {
    let mut keys: Vec<&str> = counts.keys().map(|k| &**k).collect();
    keys.sort_unstable();
    keys.into_iter()
}

/// Entries by count, largest first; ties by key.
fn by_count(counts: &Counts) -> impl Iterator<Item = (&str, u64)> {
    let mut rows: Vec<(&str, u64)> = counts.iter().map(|(k, &n)| (&**k, n)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    rows.into_iter()
}
