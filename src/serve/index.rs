//! An in-memory index over a scan's Parquet output, for the scan browser:
//! filter, sort and page millions of rows, count facets, and read one row
//! back in full.
//!
//! Loading streams each row group and keeps only compact columns, one
//! array per field: the domain text in one buffer, ids into small interned
//! tables for status, provider and category, the findings as a bitset over
//! the catalogue, and two precomputed orders (rank, domain). That is about
//! 38 bytes per row plus the domain text (see [`ScanIndex::memory_bytes`]),
//! plus a count per distinct exchange for [`ScanIndex::prevalence`]; while
//! loading, up to about twice that. A row's place in its file (file, row
//! group, row) follows from its position, as rows are kept in file order,
//! so no locator is stored per row.
//!
//! Queries are linear scans over those arrays (a bitmap of matches, then a
//! walk in the requested order); facet and prevalence counts are kept from
//! the load.

mod arrow_json;
mod export;
mod load;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use parquet::errors::ParquetError;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::analyze::findings::CATALOGUE;
use crate::report::{ReportError, parquet_files};

/// Rows decoded at a time.
const BATCH_ROWS: usize = 8192;
/// Rows per page when a query asks for 0.
pub const DEFAULT_LIMIT: usize = 50;
/// The most rows a page holds.
pub const MAX_LIMIT: usize = 500;
/// The columns the index reads (and, of `mx`, [`MX_FIELDS`]).
const COLUMNS: [&str; 8] =
    ["domain", "input", "rank", "status", "provider", "provider_category", "findings", "mx"];
/// The fields of the `mx` struct the index reads.
const MX_FIELDS: [&str; 2] = ["exchange", "tier"];
/// Filter value for rows without a provider (or category).
pub const NONE: &str = "none";
// The findings bitset is a u128 indexed by catalogue position.
const _: () = assert!(CATALOGUE.len() <= 128);

/// Why an index cannot be loaded or a row read back. Each message is one
/// line naming the file and carrying its cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The path cannot be opened or listed.
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        cause: io::Error,
    },
    /// Not a Parquet file, or a damaged one.
    #[error("cannot read {} as Parquet: {cause}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: ParquetError,
    },
    /// Parquet, but not the output schema (a missing or odd column), or a
    /// file that changed since it was loaded.
    #[error("{}: {reason}", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Past what the compact arrays can address (2^32 rows, 4 GiB of
    /// domain text, 65,535 providers, 255 categories or statuses).
    #[error("{}: too large for the index: {what}", path.display())]
    TooLarge {
        /// The file being loaded.
        path: PathBuf,
        /// Which limit.
        what: &'static str,
    },
    /// No Parquet file among the paths.
    #[error("no *.parquet file under {0}")]
    NoFiles(String),
}

/// What a query sorts by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Rank; rows without one last in either direction.
    #[default]
    Rank,
    /// Domain (or input, for invalid rows), bytewise.
    Domain,
    /// Provider id; rows without one last in either direction.
    Provider,
    /// Number of findings.
    Findings,
    /// Number of MX records.
    MxCount,
}

impl Sort {
    /// Every sort, in menu order.
    pub const ALL: [Sort; 5] = [Sort::Rank, Sort::Domain, Sort::Provider, Sort::Findings, Sort::MxCount];

    /// The sort named `s` (as [`Sort::as_str`] spells it).
    pub fn parse(s: &str) -> Option<Sort> {
        Self::ALL.into_iter().find(|sort| sort.as_str() == s)
    }

    /// Its name in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Rank => "rank",
            Sort::Domain => "domain",
            Sort::Provider => "provider",
            Sort::Findings => "findings",
            Sort::MxCount => "mx_count",
        }
    }
}

/// A filter, an order and a page. Every filter given must hold; a value
/// that no row has matches nothing.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Exactly this status.
    pub status: Option<String>,
    /// This provider id; [`NONE`] for rows without a provider.
    pub provider: Option<String>,
    /// This provider category; [`NONE`] for rows without one.
    pub category: Option<String>,
    /// Rows with this finding code.
    pub finding: Option<String>,
    /// Rows with this many distinct MX tiers; 4 means 4 or more.
    pub tiers: Option<u8>,
    /// Case-insensitive substring of the domain (or of the input, for
    /// invalid rows); surrounding whitespace is ignored.
    pub text: Option<String>,
    /// The order.
    pub sort: Sort,
    /// Reverse it (rows without a rank or provider stay last).
    pub descending: bool,
    /// Matching rows to skip.
    pub offset: usize,
    /// Rows per page: 0 means [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`].
    pub limit: usize,
}

impl Query {
    /// The page size this query gets.
    pub fn page_size(&self) -> usize {
        if self.limit == 0 { DEFAULT_LIMIT } else { self.limit.min(MAX_LIMIT) }
    }
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Every matching row, not just this page's.
    pub total: usize,
    /// This page.
    pub rows: Vec<RowSummary>,
}

/// What the index keeps of a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowSummary {
    /// The domain, or the input for an invalid row.
    pub domain: String,
    /// Whether `domain` is a domain (not an invalid input).
    pub valid: bool,
    /// Rank in the input list.
    pub rank: Option<u32>,
    /// The `status` column.
    pub status: String,
    /// The `provider` column.
    pub provider: Option<String>,
    /// The `provider_category` column.
    pub category: Option<String>,
    /// MX records (a null MX counts; 255 means 255 or more).
    pub mx_count: u8,
    /// Distinct tier values among them.
    pub tiers: u8,
    /// Finding codes of the catalogue, sorted (unknown codes dropped).
    pub findings: Vec<&'static str>,
}

/// How common something is among the loaded rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prevalence {
    /// Rows loaded.
    pub total: usize,
    /// The provider asked about and its rows.
    pub provider: Option<(String, usize)>,
    /// Each exchange asked about (lowercase, no trailing dot) and the
    /// domains whose MX includes it.
    pub exchanges: Vec<(String, usize)>,
    /// Each finding asked about and its rows (codes not in the catalogue
    /// are left out).
    pub findings: Vec<(&'static str, usize)>,
}

/// Counts for the filter menus and charts. Lists are sorted by count,
/// descending, then by name; providers and categories include [`NONE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facets {
    /// Rows loaded.
    pub total: usize,
    /// Rows per status.
    pub status: Vec<(String, usize)>,
    /// Rows per provider.
    pub providers: Vec<(String, usize)>,
    /// Rows per provider category.
    pub categories: Vec<(String, usize)>,
    /// Rows per finding code (codes with rows only).
    pub findings: Vec<(&'static str, usize)>,
    /// Rows with 0, 1, 2, 3, and 4 or more distinct MX tiers.
    pub tiers: [usize; 5],
}

/// Heap bytes of the index ([`ScanIndex::memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryUse {
    /// The per-row arrays and sort orders, the domain text included.
    pub rows: usize,
    /// Of `rows`, the domain text.
    pub text: usize,
    /// The per-exchange counts behind [`ScanIndex::prevalence`].
    pub exchanges: usize,
    /// How many exchanges that is.
    pub distinct_exchanges: usize,
    /// Tables, counters and the file list.
    pub other: usize,
}

/// Where a file's rows sit in the index.
#[derive(Debug, Clone)]
struct FileRows {
    /// Index of its first row.
    first: u32,
    /// Row (within the file) each row group starts at.
    groups: Vec<u32>,
}

/// The index. Immutable once loaded; share it behind an `Arc`.
#[derive(Clone)]
pub struct ScanIndex {
    sources: Vec<PathBuf>,
    files: Vec<FileRows>,
    /// Every row's domain (or input) back to back; row `i` ends at `ends[i]`.
    text: String,
    ends: Vec<u32>,
    /// Bit per row: the text is a domain, not an invalid input.
    valid: Vec<u64>,
    /// Rows whose text is not all lowercase (invalid inputs, mostly): the
    /// text search checks them apart.
    mixed_case: Vec<u32>,
    /// 0 for none.
    rank: Vec<u32>,
    status: Vec<u8>,
    /// 0 for none.
    provider: Vec<u16>,
    /// 0 for none.
    category: Vec<u8>,
    /// Bit `i` is `CATALOGUE[i]`.
    findings: Vec<u128>,
    mx_count: Vec<u8>,
    tiers: Vec<u8>,
    /// Rows by rank, then position; the first `ranked` have a rank.
    by_rank: Vec<u32>,
    ranked: usize,
    /// Rows by text, then position.
    by_domain: Vec<u32>,
    statuses: Vec<Box<str>>,
    /// Index 0 is the empty "none" entry, as in `categories`.
    providers: Vec<Box<str>>,
    categories: Vec<Box<str>>,
    /// Each provider id's position in name order (none last).
    provider_order: Vec<u16>,
    status_rows: Vec<usize>,
    provider_rows: Vec<usize>,
    category_rows: Vec<usize>,
    finding_rows: Vec<usize>,
    tier_rows: [usize; 5],
    unknown_findings: u64,
    /// Domains per distinct exchange, by a 64-bit hash of its name
    /// ([`exchange_key`]): 17 bytes a distinct exchange instead of the
    /// name's (a 2M-row scan has over a million distinct exchanges).
    exchanges: FxHashMap<u64, u32>,
}

/// The key of an exchange name in [`ScanIndex::prevalence`]'s counts: FNV-1a
/// over the name. Two of a million names share a 64-bit key with odds of
/// about 3 in 10^8; a count would then be the pair's.
fn exchange_key(name: &str) -> u64 {
    crate::fnv1a64(name.as_bytes())
}

/// A summary: the arrays hold millions of entries.
impl std::fmt::Debug for ScanIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanIndex")
            .field("rows", &self.rows())
            .field("sources", &self.sources)
            .field("memory_bytes", &self.memory_bytes())
            .finish_non_exhaustive()
    }
}

impl ScanIndex {
    /// Load every path: a Parquet file, or a directory (every `*.parquet`
    /// below it, as [`crate::report::parquet_files`] lists them). A file
    /// named twice is read once.
    pub fn load(paths: &[PathBuf]) -> Result<ScanIndex, IndexError> {
        let mut files: Vec<PathBuf> = Vec::new();
        for path in paths {
            for file in parquet_files(path).map_err(|e| from_report(path, e))? {
                if !files.contains(&file) {
                    files.push(file);
                }
            }
        }
        if files.is_empty() {
            return Err(IndexError::NoFiles(
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            ));
        }
        let mut loader = load::Loader::new();
        for file in &files {
            loader.load_file(file)?;
        }
        let mut index = loader.finish();
        index.sources = files;
        Ok(index)
    }

    /// Rows loaded.
    pub fn rows(&self) -> usize {
        self.ends.len()
    }

    /// The files loaded, in load order.
    pub fn sources(&self) -> &[PathBuf] {
        &self.sources
    }

    /// Finding codes read that are not in the catalogue (not indexed).
    pub fn unknown_findings(&self) -> u64 {
        self.unknown_findings
    }

    /// Heap bytes the index holds: [`ScanIndex::memory`] summed.
    pub fn memory_bytes(&self) -> usize {
        let m = self.memory();
        m.rows + m.exchanges + m.other
    }

    /// Heap bytes the index holds, by part: every array's capacity, the
    /// text, the tables, and the exchange map's buckets and keys (its bucket
    /// count estimated from its capacity, as the map does not expose it).
    /// The allocator's own overhead is not counted.
    pub fn memory(&self) -> MemoryUse {
        fn vec<T>(v: &Vec<T>) -> usize {
            v.capacity() * size_of::<T>()
        }
        fn table(t: &Vec<Box<str>>) -> usize {
            vec(t) + t.iter().map(|s| s.len()).sum::<usize>()
        }
        let files: usize = self.files.iter().map(|f| vec(&f.groups)).sum::<usize>()
            + vec(&self.files)
            + vec(&self.sources)
            + self.sources.iter().map(|p| p.as_os_str().len()).sum::<usize>();
        let rows = self.text.capacity()
            + vec(&self.ends)
            + vec(&self.valid)
            + vec(&self.mixed_case)
            + vec(&self.rank)
            + vec(&self.status)
            + vec(&self.provider)
            + vec(&self.category)
            + vec(&self.findings)
            + vec(&self.mx_count)
            + vec(&self.tiers)
            + vec(&self.by_rank)
            + vec(&self.by_domain);
        let tables = table(&self.statuses)
            + table(&self.providers)
            + table(&self.categories)
            + vec(&self.provider_order)
            + vec(&self.status_rows)
            + vec(&self.provider_rows)
            + vec(&self.category_rows)
            + vec(&self.finding_rows);
        // hashbrown: a power-of-two bucket count at most 8/7 of capacity,
        // each bucket an entry plus one control byte.
        let cap = self.exchanges.capacity();
        let buckets = if cap == 0 { 0 } else { (cap * 8 / 7).next_power_of_two() };
        let exchanges = buckets * (size_of::<(u64, u32)>() + 1);
        MemoryUse {
            rows,
            text: self.text.capacity(),
            exchanges,
            distinct_exchanges: self.exchanges.len(),
            other: tables + files,
        }
    }

    /// Filter, sort and page: `q.page_size()` rows from `q.offset`.
    pub fn query(&self, q: &Query) -> Page {
        let (total, rows) = self.select(q, q.offset, q.page_size());
        Page { total, rows: rows.into_iter().map(|r| self.summary(r as usize)).collect() }
    }

    /// The row of `domain` (or of an invalid input) read back from its file
    /// with every column, as a JSON object (timestamps as RFC 3339 text in
    /// UTC). The first row when it is listed twice; `None` when absent.
    pub fn row_json(&self, domain: &str) -> Result<Option<serde_json::Value>, IndexError> {
        let Some(row) = self.find(domain) else { return Ok(None) };
        let (file, group, in_group) = self.locate(row);
        let path = &self.sources[file];
        let parquet = |cause| IndexError::Parquet { path: path.clone(), cause };
        let changed = |what: &str| IndexError::Schema {
            path: path.clone(),
            reason: format!("changed since the index was loaded ({what}); reload the index"),
        };
        let handle = File::open(path).map_err(|cause| IndexError::Io { path: path.clone(), cause })?;
        let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
        let builder =
            ParquetRecordBatchReaderBuilder::try_new_with_options(handle, options).map_err(parquet)?;
        let metadata = builder.metadata();
        if group >= metadata.num_row_groups() || metadata.row_group(group).num_rows() <= in_group as i64 {
            return Err(changed("fewer rows"));
        }
        let selection = RowSelection::from(vec![RowSelector::skip(in_group), RowSelector::select(1)]);
        let mut reader = builder
            .with_row_groups(vec![group])
            .with_row_selection(selection)
            .with_batch_size(1)
            .build()
            .map_err(parquet)?;
        let batch =
            reader.next().transpose().map_err(|e| parquet(ParquetError::ArrowError(e.to_string())))?;
        let Some(batch) = batch.filter(|b| b.num_rows() == 1) else {
            return Err(changed("fewer rows"));
        };
        let value = arrow_json::row_object(&batch, 0);
        let key = if self.is_valid(row) { "domain" } else { "input" };
        if value.get(key).and_then(|v| v.as_str()) != Some(self.text(row)) {
            return Err(changed("another row in the place of this one"));
        }
        Ok(Some(value))
    }

    /// How common a provider, some exchanges and some findings are.
    /// `provider` may be [`NONE`]; exchanges are matched lowercase without
    /// a trailing dot.
    pub fn prevalence(&self, provider: Option<&str>, exchanges: &[&str], findings: &[&str]) -> Prevalence {
        let provider = provider.map(|p| {
            let rows = self.provider_id(p).map_or(0, |id| self.provider_rows[usize::from(id)]);
            (p.to_string(), rows)
        });
        let exchanges = exchanges
            .iter()
            .map(|e| {
                let name = normalize(e);
                let domains = self.exchanges.get(&exchange_key(&name)).map_or(0, |&n| n as usize);
                (name, domains)
            })
            .collect();
        let findings = findings
            .iter()
            .filter_map(|code| finding_bit(code))
            .map(|bit| (CATALOGUE[bit].code, self.finding_rows[bit]))
            .collect();
        Prevalence { total: self.rows(), provider, exchanges, findings }
    }

    /// Counts for the filter menus and charts.
    pub fn facets(&self) -> Facets {
        /// Non-zero counts by name; entry 0 is [`NONE`] when `has_none`.
        fn ranked(names: &[Box<str>], rows: &[usize], has_none: bool) -> Vec<(String, usize)> {
            let mut out: Vec<(String, usize)> = names
                .iter()
                .zip(rows)
                .enumerate()
                .filter(|&(_, (_, &n))| n > 0)
                .map(|(i, (name, &n))| (if i == 0 && has_none { NONE.into() } else { name.to_string() }, n))
                .collect();
            out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            out
        }
        let mut findings: Vec<(&'static str, usize)> = CATALOGUE
            .iter()
            .zip(&self.finding_rows)
            .filter(|&(_, &n)| n > 0)
            .map(|(f, &n)| (f.code, n))
            .collect();
        findings.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        Facets {
            total: self.rows(),
            status: ranked(&self.statuses, &self.status_rows, false),
            providers: ranked(&self.providers, &self.provider_rows, true),
            categories: ranked(&self.categories, &self.category_rows, true),
            findings,
            tiers: self.tier_rows,
        }
    }

    /// Every row matching `q` (its offset and limit ignored) in its order,
    /// as CSV (RFC 4180: CRLF line ends, fields with a comma, quote or line
    /// break quoted, quotes doubled) with a header line:
    /// `domain,rank,status,provider,provider_category,mx_count,tiers,findings`,
    /// findings joined by `;`. Returns the rows written, header excluded.
    pub fn export_csv(&self, q: &Query, out: &mut impl Write) -> io::Result<u64> {
        use std::fmt::Write as _;
        let (_, rows) = self.select(q, 0, usize::MAX);
        let mut buf = String::with_capacity(64 * 1024);
        buf.push_str("domain,rank,status,provider,provider_category,mx_count,tiers,findings\r\n");
        for &row in &rows {
            let i = row as usize;
            csv_field(&mut buf, self.text(i));
            buf.push(',');
            if self.rank[i] != 0 {
                let _ = write!(buf, "{}", self.rank[i]);
            }
            buf.push(',');
            csv_field(&mut buf, &self.statuses[usize::from(self.status[i])]);
            buf.push(',');
            csv_field(&mut buf, &self.providers[usize::from(self.provider[i])]);
            buf.push(',');
            csv_field(&mut buf, &self.categories[usize::from(self.category[i])]);
            let _ = write!(buf, ",{},{},", self.mx_count[i], self.tiers[i]);
            csv_field(&mut buf, &codes(self.findings[i]).join(";"));
            buf.push_str("\r\n");
            if buf.len() >= 60 * 1024 {
                out.write_all(buf.as_bytes())?;
                buf.clear();
            }
        }
        out.write_all(buf.as_bytes())?;
        Ok(rows.len() as u64)
    }

    fn text(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    fn is_valid(&self, i: usize) -> bool {
        self.valid[i / 64] >> (i % 64) & 1 == 1
    }

    /// Row `i`'s provider id and category, `None` without one (id 0).
    fn provider_of(&self, i: usize) -> Option<&str> {
        let id = usize::from(self.provider[i]);
        (id != 0).then(|| &*self.providers[id])
    }

    fn category_of(&self, i: usize) -> Option<&str> {
        let id = usize::from(self.category[i]);
        (id != 0).then(|| &*self.categories[id])
    }

    fn summary(&self, i: usize) -> RowSummary {
        RowSummary {
            domain: self.text(i).to_string(),
            valid: self.is_valid(i),
            rank: (self.rank[i] != 0).then_some(self.rank[i]),
            status: self.statuses[usize::from(self.status[i])].to_string(),
            provider: self.provider_of(i).map(String::from),
            category: self.category_of(i).map(String::from),
            mx_count: self.mx_count[i],
            tiers: self.tiers[i],
            findings: codes(self.findings[i]),
        }
    }

    fn provider_id(&self, name: &str) -> Option<u16> {
        if name == NONE {
            return Some(0);
        }
        self.providers.iter().skip(1).position(|p| &**p == name).map(|i| i as u16 + 1)
    }

    fn category_id(&self, name: &str) -> Option<u8> {
        if name == NONE {
            return Some(0);
        }
        self.categories.iter().skip(1).position(|c| &**c == name).map(|i| i as u8 + 1)
    }

    /// The first row (in load order) whose text is `domain`, or else its
    /// lowercase form without a trailing dot.
    fn find(&self, domain: &str) -> Option<usize> {
        let exact = |name: &str| {
            let at = self.by_domain.partition_point(|&r| self.text(r as usize) < name);
            self.by_domain.get(at).map(|&r| r as usize).filter(|&r| self.text(r) == name)
        };
        exact(domain).or_else(|| {
            let normal = normalize(domain);
            (normal != domain).then(|| exact(&normal)).flatten()
        })
    }

    /// (file, row group, row in the group) of row `row`.
    fn locate(&self, row: usize) -> (usize, usize, usize) {
        let row = row as u32;
        let file = self.files.partition_point(|f| f.first <= row) - 1;
        let within = row - self.files[file].first;
        let groups = &self.files[file].groups;
        let group = groups.partition_point(|&start| start <= within) - 1;
        (file, group, (within - groups[group]) as usize)
    }

    /// The matches of `q`'s filters: `None` when a filter value is unknown
    /// (nothing matches), else a bitmap (`None` inside when every row
    /// matches) and the number of matches.
    fn matches(&self, q: &Query) -> Option<(Option<Vec<u64>>, usize)> {
        let n = self.rows();
        let text = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let filtered = q.status.is_some()
            || q.provider.is_some()
            || q.category.is_some()
            || q.finding.is_some()
            || q.tiers.is_some()
            || text.is_some();
        if !filtered {
            return Some((None, n));
        }
        let mut bits = match text {
            Some(t) => self.text_bits(t),
            None => {
                let mut bits = vec![u64::MAX; n.div_ceil(64)];
                if !n.is_multiple_of(64) {
                    bits[n / 64] = (1u64 << (n % 64)) - 1;
                }
                bits
            }
        };
        if let Some(s) = &q.status {
            let id = self.statuses.iter().position(|x| **x == **s)? as u8;
            and_where(&mut bits, &self.status, |v| v == id);
        }
        if let Some(p) = &q.provider {
            let id = self.provider_id(p)?;
            and_where(&mut bits, &self.provider, |v| v == id);
        }
        if let Some(c) = &q.category {
            let id = self.category_id(c)?;
            and_where(&mut bits, &self.category, |v| v == id);
        }
        if let Some(f) = &q.finding {
            let mask = 1u128 << finding_bit(f)?;
            and_where(&mut bits, &self.findings, |v| v & mask != 0);
        }
        if let Some(t) = q.tiers {
            if t >= 4 {
                and_where(&mut bits, &self.tiers, |v| v >= 4);
            } else {
                and_where(&mut bits, &self.tiers, |v| v == t);
            }
        }
        let total = bits.iter().map(|w| w.count_ones() as usize).sum();
        Some((Some(bits), total))
    }

    /// Rows whose text contains `needle`, ignoring case: one search through
    /// the whole text buffer (a hit must lie within one row), then the rows
    /// that are not lowercase, lowercased one by one.
    fn text_bits(&self, needle: &str) -> Vec<u64> {
        let n = self.rows();
        let mut bits = vec![0u64; n.div_ceil(64)];
        let needle = needle.to_lowercase();
        let step = needle.chars().next().map_or(1, char::len_utf8);
        let (mut pos, mut row) = (0, 0);
        while let Some(found) = self.text[pos..].find(&needle) {
            let at = pos + found;
            while (self.ends[row] as usize) <= at {
                row += 1;
            }
            let end = self.ends[row] as usize;
            if at + needle.len() <= end {
                bits[row / 64] |= 1 << (row % 64);
                pos = end;
            } else {
                pos = at + step;
            }
        }
        for &r in &self.mixed_case {
            let r = r as usize;
            if bits[r / 64] >> (r % 64) & 1 == 0 && self.text(r).to_lowercase().contains(&needle) {
                bits[r / 64] |= 1 << (r % 64);
            }
        }
        bits
    }

    /// The matches of `q` in its order: their number, and `limit` of them
    /// from `offset`.
    fn select(&self, q: &Query, offset: usize, limit: usize) -> (usize, Vec<u32>) {
        let Some((bits, total)) = self.matches(q) else { return (0, Vec::new()) };
        let hit = |r: &u32| bits.as_ref().is_none_or(|b| b[*r as usize / 64] >> (*r % 64) & 1 == 1);
        let desc = q.descending;
        match q.sort {
            Sort::Rank => (total, self.by_rank_order(desc).filter(hit).skip(offset).take(limit).collect()),
            Sort::Domain => {
                let order: Box<dyn Iterator<Item = &u32>> = if desc {
                    Box::new(self.by_domain.iter().rev())
                } else {
                    Box::new(self.by_domain.iter())
                };
                (total, order.copied().filter(hit).skip(offset).take(limit).collect())
            }
            // Bucket sorts of the matches in rank order: stable, so ties
            // stay by rank, and linear in the matches.
            Sort::Provider => {
                let none = self.providers.len() - 1;
                let key = |r: u32| usize::from(self.provider_order[usize::from(self.provider[r as usize])]);
                let rows = self.by_rank_order(false).filter(hit).collect();
                (total, bucket_page(rows, key, none + 1, Some(none), desc, offset, limit))
            }
            Sort::Findings => {
                let key = |r: u32| self.findings[r as usize].count_ones() as usize;
                let rows = self.by_rank_order(false).filter(hit).collect();
                (total, bucket_page(rows, key, 129, None, desc, offset, limit))
            }
            Sort::MxCount => {
                let key = |r: u32| usize::from(self.mx_count[r as usize]);
                let rows = self.by_rank_order(false).filter(hit).collect();
                (total, bucket_page(rows, key, 256, None, desc, offset, limit))
            }
        }
    }

    /// Rows by rank (reversed if `desc`), then the rows without a rank.
    fn by_rank_order(&self, desc: bool) -> impl Iterator<Item = u32> + '_ {
        let (ranked, unranked) = self.by_rank.split_at(self.ranked);
        let head: Box<dyn Iterator<Item = &u32>> =
            if desc { Box::new(ranked.iter().rev()) } else { Box::new(ranked.iter()) };
        head.chain(unranked).copied()
    }
}

/// `bits &= (pred(values[i]) for every row i)`, a word at a time.
fn and_where<T: Copy>(bits: &mut [u64], values: &[T], pred: impl Fn(T) -> bool) {
    for (word, chunk) in bits.iter_mut().zip(values.chunks(64)) {
        if *word == 0 {
            continue;
        }
        let mut m = 0u64;
        for (j, &v) in chunk.iter().enumerate() {
            m |= u64::from(pred(v)) << j;
        }
        *word &= m;
    }
}

/// `limit` rows from `offset` of `rows` stably sorted by `key` (below
/// `buckets`); descending reverses the keys, but bucket `last` stays last.
fn bucket_page(
    rows: Vec<u32>,
    key: impl Fn(u32) -> usize,
    buckets: usize,
    last: Option<usize>,
    desc: bool,
    offset: usize,
    limit: usize,
) -> Vec<u32> {
    let mut counts = vec![0usize; buckets];
    for &r in &rows {
        counts[key(r)] += 1;
    }
    let mut sequence: Vec<usize> = (0..buckets).filter(|&b| Some(b) != last).collect();
    if desc {
        sequence.reverse();
    }
    sequence.extend(last);
    let mut next = vec![0usize; buckets];
    let mut at = 0;
    for b in sequence {
        next[b] = at;
        at += counts[b];
    }
    let start = offset.min(rows.len());
    let end = start.saturating_add(limit).min(rows.len());
    let mut page = vec![0u32; end - start];
    for r in rows {
        let k = key(r);
        let to = next[k];
        next[k] += 1;
        if (start..end).contains(&to) {
            page[to - start] = r;
        }
    }
    page
}

/// The catalogue codes of a findings bitset, sorted (as the `findings`
/// column lists them).
fn codes(bits: u128) -> Vec<&'static str> {
    let mut out = Vec::with_capacity(bits.count_ones() as usize);
    let mut rest = bits;
    while rest != 0 {
        let bit = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        if let Some(f) = CATALOGUE.get(bit) {
            out.push(f.code);
        }
    }
    out.sort_unstable();
    out
}

/// The catalogue index of `code`.
fn finding_bit(code: &str) -> Option<usize> {
    CATALOGUE.iter().position(|f| f.code == code)
}

/// An exchange or domain as the output spells it: lowercase, no trailing dot.
fn normalize(name: &str) -> String {
    let name = name.trim();
    let name = name.strip_suffix('.').filter(|n| !n.is_empty()).unwrap_or(name);
    name.to_lowercase()
}

/// One CSV field (RFC 4180). A field a spreadsheet would run as a formula
/// (it starts with `=`, `+`, `-`, `@`, a tab or a CR: only an invalid
/// line's raw input can) gets a leading `'`, so Excel and LibreOffice show
/// it as text (OWASP's CSV injection advice).
fn csv_field(buf: &mut String, s: &str) {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula || s.contains([',', '"', '\r', '\n']) {
        buf.push('"');
        if formula {
            buf.push('\'');
        }
        for c in s.chars() {
            if c == '"' {
                buf.push('"');
            }
            buf.push(c);
        }
        buf.push('"');
    } else {
        buf.push_str(s);
    }
}

fn from_report(path: &Path, e: ReportError) -> IndexError {
    match e {
        ReportError::Io { path, cause } => IndexError::Io { path: path.into(), cause },
        ReportError::NoFiles(dir) => IndexError::NoFiles(dir),
        other => IndexError::Schema { path: path.to_path_buf(), reason: other.to_string() },
    }
}
