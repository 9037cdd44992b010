//! `mxscan diff OLD NEW`: what changed between two scans, per domain.
//!
//! Both sides may hold tens of millions of rows, so memory must not grow
//! with them. When a side is larger than one bucket, both are first
//! partitioned to disk by the shard hash (the MD5 rule of `--shard`), into
//! the same number of buckets; a domain lands in the same bucket on both
//! sides, so the join runs bucket by bucket, holding one bucket of the old
//! side in a hash map while the new side's bucket streams past it.
//! Changed domains go to Parquet; the counts go to a [`DiffSummary`].

mod changes;
mod render;
mod snapshot;
mod write;

use std::borrow::Borrow;
use std::cell::Cell;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rustc_hash::FxHashSet;

pub use changes::{Change, ChangeKind, PolicyChange, Tally};
pub use render::{DiffSummary, RowCounts, html, json, text};
pub use snapshot::{POLICY_FIELDS, Snapshot};
pub use write::{ChangeWriter, schema};

use crate::input::shard::shard_key;
use crate::report::{ReportError, for_each_batch, parquet_files, schema_error};

/// Old-side rows held in memory at once: one bucket's.
pub const BUCKET_ROWS: u64 = 250_000;
/// Buckets at most (each is a file open while a side is partitioned).
const MAX_BUCKETS: u64 = 512;

/// Why a diff cannot be made. Each message is one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// A side cannot be listed or read (not Parquet, not the output schema).
    #[error(transparent)]
    Source(#[from] ReportError),
    /// A file (a side's, a spill file, the output) cannot be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        cause: io::Error,
    },
    /// The changes file cannot be written.
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        cause: parquet::errors::ParquetError,
    },
    /// A side is ambiguous (a dataset root with several dates) or missing.
    #[error("{0}")]
    Side(String),
}

/// One side of a diff: a label and its Parquet files.
#[derive(Debug, Clone)]
pub struct Side {
    /// What the user named (a file, a dataset, `ROOT` at a date).
    pub label: String,
    /// Its Parquet files.
    pub files: Vec<PathBuf>,
}

/// The `scan_date=…` values of the directories between `root` and `file`.
fn scan_date_of(root: &Path, file: &Path) -> Option<String> {
    file.strip_prefix(root)
        .ok()?
        .components()
        .find_map(|c| c.as_os_str().to_str().and_then(|s| s.strip_prefix("scan_date=")).map(String::from))
}

impl Side {
    /// `path` (a Parquet file, a dataset directory, or a dataset root holding
    /// one date), or, with `date`, the `scan_date=DATE` partition of root `path`.
    pub fn open(path: &Path, date: Option<&str>) -> Result<Self, DiffError> {
        let (dir, label) = match date {
            Some(d) => {
                let dir = path.join(format!("scan_date={d}"));
                if !dir.is_dir() {
                    return Err(DiffError::Side(format!(
                        "{} has no scan_date={d} partition",
                        path.display()
                    )));
                }
                (dir, format!("{} scan_date={d}", path.display()))
            }
            None => (path.to_path_buf(), path.display().to_string()),
        };
        let files = parquet_files(&dir)?;
        let mut dates: Vec<String> = files.iter().filter_map(|f| scan_date_of(&dir, f)).collect();
        dates.sort();
        dates.dedup();
        if dates.len() > 1 {
            return Err(DiffError::Side(format!(
                "{} holds {} scan dates ({}): name two with --dates, or point at ROOT/scan_date=…",
                dir.display(),
                dates.len(),
                dates.join(", ")
            )));
        }
        Ok(Self { label, files })
    }

    /// Rows over all files, from their footers.
    fn rows(&self) -> Result<u64, DiffError> {
        let mut rows = 0;
        for f in &self.files {
            let file = open(f)?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err(f))?;
            rows += builder.metadata().file_metadata().num_rows().max(0) as u64;
        }
        Ok(rows)
    }
}

fn open(path: &Path) -> Result<File, DiffError> {
    File::open(path).map_err(|cause| DiffError::Io { path: path.display().to_string(), cause })
}

fn parquet_err(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> DiffError + '_ {
    move |cause| ReportError::Parquet { path: path.display().to_string(), cause }.into()
}

/// A leaf's path without the list levels: `mx.list.element.exchange` → `mx.exchange`.
fn leaf_name(parts: &[String]) -> String {
    parts
        .iter()
        .filter(|p| !matches!(p.as_str(), "list" | "element" | "item"))
        .cloned()
        .collect::<Vec<_>>()
        .join(".")
}

/// Every row of `side`'s files, in file order, to `each`.
fn read_side(side: &Side, each: &mut Each<'_>) -> Result<(), DiffError> {
    for path in &side.files {
        for_each_batch(
            path,
            |parts| snapshot::reads(&leaf_name(parts)),
            |batch| {
                let snaps = snapshot::from_batch(batch).map_err(|cause| schema_error(path, cause))?;
                snaps.into_iter().try_for_each(&mut *each)
            },
        )?;
    }
    Ok(())
}

/// How the diff runs.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Rows listed in the summary's tables.
    pub top: usize,
    /// Where buckets are spilled (a fresh directory below it, removed after).
    pub work_dir: PathBuf,
    /// Old-side rows per bucket.
    pub bucket_rows: u64,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self { top: 20, work_dir: std::env::temp_dir(), bucket_rows: BUCKET_ROWS }
    }
}

/// A directory of spill files, removed when dropped.
struct SpillDir(PathBuf);

impl SpillDir {
    fn create(below: &Path) -> Result<Self, DiffError> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = below.join(format!(".mxscan-diff-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|cause| DiffError::Io { path: dir.display().to_string(), cause })?;
        Ok(Self(dir))
    }

    fn bucket(&self, side: &str, b: u64) -> PathBuf {
        self.0.join(format!("{side}-{b:04}.bin"))
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Write every row of `side` into its bucket file.
fn partition(side: &Side, spill: &SpillDir, name: &str, buckets: u64) -> Result<(), DiffError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |cause| DiffError::Io { path, cause }
    };
    let mut files = Vec::with_capacity(buckets as usize);
    for b in 0..buckets {
        let path = spill.bucket(name, b);
        files.push(BufWriter::with_capacity(64 * 1024, File::create(&path).map_err(io(&path))?));
    }
    let mut buf = Vec::new();
    read_side(side, &mut |snap| {
        let b = shard_key(&snap.key) % buckets;
        snapshot::write_frame(&mut files[b as usize], &snap, &mut buf).map_err(io(&spill.bucket(name, b)))
    })?;
    for (b, mut f) in files.into_iter().enumerate() {
        f.flush().map_err(io(&spill.bucket(name, b as u64)))?;
    }
    Ok(())
}

fn read_bucket(
    path: &Path,
    each: &mut dyn FnMut(Snapshot) -> Result<(), DiffError>,
) -> Result<(), DiffError> {
    let io = |cause| DiffError::Io { path: path.display().to_string(), cause };
    let mut input = BufReader::with_capacity(256 * 1024, open(path)?);
    let mut buf = Vec::new();
    while let Some(snap) = snapshot::read_frame(&mut input, &mut buf).map_err(io)? {
        each(snap)?;
    }
    Ok(())
}

/// Takes each row of a source.
type Each<'a> = dyn FnMut(Snapshot) -> Result<(), DiffError> + 'a;
/// Feeds every row of a source (a side's files, or a bucket) to an [`Each`].
type Source<'a> = dyn FnMut(&mut Each<'_>) -> Result<(), DiffError> + 'a;

/// An old-side row in the join's table, keyed by its domain (no second
/// copy of the key), with whether the new side has met it.
struct Entry {
    snap: Snapshot,
    met: Cell<bool>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.snap.key == other.snap.key
    }
}

impl Eq for Entry {}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.snap.key.hash(state);
    }
}

impl Borrow<str> for Entry {
    fn borrow(&self) -> &str {
        &self.snap.key
    }
}

/// Join one bucket: the old side into a table, the new side streamed past
/// it. The changes, sorted by domain.
fn join(
    old: &mut Source<'_>,
    new: &mut Source<'_>,
    expected: usize,
    rows: &mut RowCounts,
) -> Result<Vec<Change>, DiffError> {
    // `met` is not part of an entry's hash or equality (the key is).
    #[allow(clippy::mutable_key_type)]
    let mut before: FxHashSet<Entry> = FxHashSet::with_capacity_and_hasher(expected, Default::default());
    old(&mut |snap| {
        rows.old += 1;
        // A dataset holds each name once; another writer's file might not.
        // The last row wins, as it would in a table keyed by domain.
        if before.replace(Entry { snap, met: Cell::new(false) }).is_some() {
            rows.duplicates_old += 1;
        }
        Ok(())
    })?;
    // Domains only the new side has (usually few): to tell a repeat.
    let mut appeared: FxHashSet<Box<str>> = FxHashSet::default();
    let mut found = Vec::new();
    new(&mut |s| {
        rows.new += 1;
        let old = before.get(&*s.key);
        let first = match old {
            Some(e) => !e.met.replace(true),
            None => appeared.insert(s.key.clone()),
        };
        if !first {
            rows.duplicates_new += 1;
            return Ok(());
        }
        rows.in_both += u64::from(old.is_some());
        if let Some(c) = changes::compare(old.map(|e| &e.snap), Some(&s)) {
            found.push(c);
        }
        Ok(())
    })?;
    // What the new side did not meet is gone.
    for e in before.iter().filter(|e| !e.met.get()) {
        found.extend(changes::compare(Some(&e.snap), None));
    }
    found.sort_unstable_by(|a, b| a.domain.cmp(&b.domain));
    Ok(found)
}

/// Join bucket `b` of the spill, then delete its files.
fn join_bucket(spill: &SpillDir, b: u64, expected: usize) -> Result<(Vec<Change>, RowCounts), DiffError> {
    let (o, n) = (spill.bucket("old", b), spill.bucket("new", b));
    let mut rows = RowCounts::default();
    let found =
        join(&mut |each| read_bucket(&o, each), &mut |each| read_bucket(&n, each), expected, &mut rows)?;
    // Spill files are done with as soon as their bucket is.
    let _ = std::fs::remove_file(&o);
    let _ = std::fs::remove_file(&n);
    Ok((found, rows))
}

/// Compare `old` with `new`: every changed domain to `out` (if given), and
/// the summary.
pub fn diff(
    old: &Side,
    new: &Side,
    mut out: Option<ChangeWriter>,
    opts: &DiffOptions,
) -> Result<DiffSummary, DiffError> {
    let old_rows = old.rows()?;
    let largest = old_rows.max(new.rows()?);
    let buckets = largest.div_ceil(opts.bucket_rows.max(1)).clamp(1, MAX_BUCKETS);
    let mut tally = Tally::new(opts.top);
    let mut rows = RowCounts::default();
    let mut emit = |c: Change| {
        tally.add(&c);
        match &mut out {
            Some(w) => w.push(c),
            None => Ok(()),
        }
    };
    // The old side's rows per bucket, to size the table once.
    let expected = usize::try_from(old_rows.div_ceil(buckets)).unwrap_or(usize::MAX).min(1 << 24);
    if buckets == 1 {
        let found =
            join(&mut |each| read_side(old, each), &mut |each| read_side(new, each), expected, &mut rows)?;
        found.into_iter().try_for_each(&mut emit)?;
    } else {
        let spill = SpillDir::create(&opts.work_dir)?;
        // Two threads: the sides are partitioned at once, then buckets are
        // joined two at a time (memory: two buckets of the old side).
        std::thread::scope(|scope| {
            let other = scope.spawn(|| partition(new, &spill, "new", buckets));
            let mine = partition(old, &spill, "old", buckets);
            other.join().expect("the partitioning thread does not panic").and(mine)
        })?;
        let expected = expected + expected / 8;
        for b in (0..buckets).step_by(2) {
            let (first, second) = std::thread::scope(|scope| {
                let second = (b + 1 < buckets).then(|| scope.spawn(|| join_bucket(&spill, b + 1, expected)));
                let first = join_bucket(&spill, b, expected);
                (first, second.map(|t| t.join().expect("the joining thread does not panic")))
            });
            for (found, counts) in std::iter::once(first).chain(second).collect::<Result<Vec<_>, _>>()? {
                rows += counts;
                found.into_iter().try_for_each(&mut emit)?;
            }
        }
    }
    let written = out.map(ChangeWriter::finish).transpose()?;
    tally.trim();
    Ok(DiffSummary::new(old, new, rows, buckets, written, &tally, opts.top))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_levels_are_left_out_of_leaf_names() {
        let parts = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(leaf_name(&parts("mx.list.element.exchange")), "mx.exchange");
        assert_eq!(leaf_name(&parts("findings.list.item")), "findings");
        assert_eq!(leaf_name(&parts("mx.list.element.tlsa.list.element.usage")), "mx.tlsa.usage");
    }

    #[test]
    fn the_scan_date_comes_from_below_the_root() {
        let root = Path::new("/data/scan_date=2026-01-01/x");
        assert_eq!(scan_date_of(Path::new("/data"), &root.join("p.parquet")).as_deref(), Some("2026-01-01"));
        assert_eq!(scan_date_of(root, &root.join("p.parquet")), None);
    }
}
