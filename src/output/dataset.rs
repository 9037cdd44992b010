//! A dataset directory: finalised Parquet part files plus a journal of the
//! input lines each part holds. It is what makes `--resume` lose nothing.
//!
//! ```text
//! DIR/_journal.jsonl                 manifest line, then one line per part
//! DIR/part-000000.parquet            finalised parts (any reader can glob them)
//! DIR/.part-000001.parquet.partial   the part being written (not a part yet)
//! DIR/_stats.json, DIR/_SUCCESS      written last, when the scan is complete
//! ```
//!
//! Everything but the parts starts with `_` or `.`, which Spark, Hive and
//! pyarrow skip: a tree of such directories (`ROOT/scan_date=…/shard=…/`,
//! [`hive_dir`]) reads as one table with its partition values from the path.
//!
//! Sealing a part, in this order: write its footer and fsync it; append its
//! journal line (name, rows, line ranges) and fsync the journal; rename the
//! partial file to its final name; fsync the directory. A part counts as done
//! only when both its journal line and its final file exist, so a `kill -9`
//! at any point leaves either a whole part or none: a journal line without a
//! file (killed before the rename) or a partial file is dropped on resume,
//! and its lines are scanned again. A part file that exists is always a
//! complete Parquet file, because it got its name only after its footer.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{OutputError, ParquetSettings, ParquetSink, RowSink, sync_dir};
use crate::input::LineSet;
use crate::record::DomainRecord;
use crate::scan::cpu::StageClock;

/// The journal's file name.
pub const JOURNAL: &str = "_journal.jsonl";
/// The journal's name before datasets were hive partitions (a reader of
/// `*.jsonl`-blind globs was fine, `spark.read.parquet` was not): renamed on
/// `--resume`.
const LEGACY_JOURNAL: &str = "journal.jsonl";
/// The end-of-scan counters, written only when a scan is complete.
pub const STATS: &str = "_stats.json";
const LEGACY_STATS: &str = "stats.json";
/// Written last, empty, when a scan is complete: the mark Hadoop-style
/// readers and schedulers look for (a single file's mark is its final name).
pub const SUCCESS: &str = "_SUCCESS";

/// The directory of one shard of one day's scan under a dataset root:
/// `ROOT/scan_date=YYYY-MM-DD/shard=K/` (`--dataset-root`). `shard` is K of
/// `--shard K/N`, 0 without it. ROOT is a directory or an `s3://` URL,
/// hence text.
pub fn hive_dir(root: &str, scan_date: &str, shard: u64) -> String {
    format!("{}/scan_date={scan_date}/shard={shard}/", root.trim_end_matches('/'))
}

/// Today's date in UTC as `YYYY-MM-DD`.
pub fn today_utc() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (y, m, d) = super::jsonl::civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Whether `s` is a `YYYY-MM-DD` date (a `--scan-date`).
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0))
}
/// Rows per part file by default: one Parquet row group.
pub const DEFAULT_PART_ROWS: usize = super::ROW_GROUP;
/// A part is sealed after this long even if not full, so a slow scan that
/// is killed loses at most this much work.
const PART_MAX_AGE: Duration = Duration::from_secs(60);
/// Journal format version.
const VERSION: u32 = 1;

/// What the dataset was scanned from: a resume must read the same input
/// with the same settings, or line numbers would mean other domains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version of the journal.
    pub mxscan_dataset: u32,
    /// The input path as given (`-` for stdin).
    pub input: String,
    /// Its size in bytes (`None` for stdin).
    pub input_bytes: Option<u64>,
    /// Its modification time, ms since the epoch (`None` for stdin).
    pub input_modified_ms: Option<i64>,
    /// Whether the scan asks MX only (rows would differ in shape).
    pub mx_only: bool,
    /// Whether the policy stage runs (`--policy`; journals written before
    /// it existed read as `false`).
    #[serde(default)]
    pub policy: bool,
    /// `--shard K/N` as given (`None`: the whole list). Partition values
    /// live in the path; this only guards `--resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

impl Manifest {
    /// The manifest for scanning `input` (metadata read now).
    pub fn for_input(input: &str, mx_only: bool, policy: bool) -> Self {
        let meta = (input != "-").then(|| fs::metadata(input).ok()).flatten();
        let modified = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_millis() as i64));
        Self {
            mxscan_dataset: VERSION,
            input: input.to_string(),
            input_bytes: meta.map(|m| m.len()),
            input_modified_ms: modified,
            mx_only,
            policy,
            shard: None,
        }
    }

    /// Why `self` (the journal's) does not match `now` (this run's).
    pub fn mismatch(&self, now: &Manifest) -> Option<String> {
        if self.mx_only != now.mx_only {
            return Some(format!(
                "was scanned {} --mx-only; resume with the same flags",
                if self.mx_only { "with" } else { "without" }
            ));
        }
        if self.policy != now.policy {
            return Some(format!(
                "was scanned {} --policy; resume with the same flags",
                if self.policy { "with" } else { "without" }
            ));
        }
        if self.shard != now.shard {
            let name = |s: &Option<String>| {
                s.as_ref().map_or("without --shard".to_string(), |s| format!("as --shard {s}"))
            };
            return Some(format!("was scanned {}; resume {}", name(&self.shard), name(&self.shard)));
        }
        // Stdin cannot be checked: the user vouches for it.
        if now.input == "-" || self.input == "-" {
            return None;
        }
        if (self.input_bytes, self.input_modified_ms) != (now.input_bytes, now.input_modified_ms) {
            return Some(format!(
                "was scanned from {} ({} bytes), and {} is not that file now ({} bytes, other modification time); \
                 resume needs the same input",
                self.input,
                self.input_bytes.unwrap_or(0),
                now.input,
                now.input_bytes.unwrap_or(0),
            ));
        }
        None
    }
}

/// One sealed part, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// Its file name.
    pub part: String,
    /// Its rows.
    pub rows: u64,
    /// The input lines it holds, as ranges.
    pub lines: Vec<(u64, u64)>,
}

/// Where a sealed part goes next (an S3 upload): told after the part has
/// its final name in the directory.
pub trait Uploader: Send + Sync {
    /// `file` was sealed as `entry`.
    fn sealed(&self, file: &Path, entry: &PartEntry) -> Result<(), OutputError>;
}

/// An opened dataset directory: what is done, and where the next part goes.
#[derive(Debug)]
pub struct Dataset {
    dir: PathBuf,
    lock: File,
    manifest: Manifest,
    entries: Vec<PartEntry>,
    done: LineSet,
    next_part: u64,
}

impl Dataset {
    /// Open `dir` for a scan described by `manifest`. Without `resume` the
    /// directory must be new, empty or free of any earlier scan; with it, an
    /// earlier scan of the same input is taken up (or a new one started if
    /// there is none). Checked before any query is sent.
    pub fn open(dir: &Path, manifest: Manifest, resume: bool) -> Result<Self, OutputError> {
        let fail = |reason: String| OutputError::Dataset { path: dir.display().to_string(), reason };
        let io_fail = |what: &str, e: io::Error| fail(format!("cannot {what}: {e}"));
        if dir.exists() && !dir.is_dir() {
            return Err(fail("exists and is not a directory".into()));
        }
        fs::create_dir_all(dir).map_err(|e| io_fail("create the directory", e))?;
        let lock = lock_dir(dir).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => fail("another mxscan is writing into it".into()),
            _ => io_fail("lock the directory", e),
        })?;
        let journal = dir.join(JOURNAL);
        let legacy = dir.join(LEGACY_JOURNAL);
        if resume && !journal.exists() && legacy.exists() {
            fs::rename(&legacy, &journal)
                .map_err(|e| io_fail("rename journal.jsonl to _journal.jsonl", e))?;
        }
        let mut dataset = Self {
            dir: dir.to_path_buf(),
            lock,
            manifest,
            entries: Vec::new(),
            done: LineSet::default(),
            next_part: 0,
        };
        if journal.exists() || legacy.exists() {
            if !resume {
                return Err(fail(format!(
                    "holds an earlier scan ({JOURNAL}); add --resume to continue it, or choose another directory"
                )));
            }
            let (old, entries) = read_journal(&journal).map_err(|e| fail(format!("{JOURNAL}: {e}")))?;
            if let Some(why) = old.mismatch(&dataset.manifest) {
                return Err(fail(why));
            }
            // Keep the original identity: a resumed resume compares with the first run.
            dataset.manifest = old;
            // A run is starting: until it completes, the dataset is not complete.
            for mark in [SUCCESS, STATS, LEGACY_STATS] {
                match fs::remove_file(dir.join(mark)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(io_fail(&format!("remove {mark}"), e));
                    }
                    _ => {}
                }
            }
            dataset.take_up(entries).map_err(|e| fail(e.to_string()))?;
        } else if let Some(name) = parquet_files(dir).map_err(|e| io_fail("list the directory", e))?.first() {
            return Err(fail(format!(
                "already holds Parquet files ({name}) but no {JOURNAL}; choose another directory"
            )));
        }
        dataset.rewrite_journal().map_err(|e| io_fail("write the journal", e))?;
        Ok(dataset)
    }

    /// Open `dir` as the spool of a remote dataset whose journal holds
    /// `entries` (their files are in the bucket, not here). Whatever else
    /// the spool holds has been uploaded or is dropped, so it is cleared.
    pub fn open_spool(dir: &Path, manifest: Manifest, entries: Vec<PartEntry>) -> Result<Self, OutputError> {
        let fail = |reason: String| OutputError::Dataset { path: dir.display().to_string(), reason };
        fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create the spool directory: {e}")))?;
        let lock = lock_dir(dir).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => fail("another mxscan is using this spool directory".into()),
            _ => fail(format!("cannot lock the spool directory: {e}")),
        })?;
        for name in list_dir(dir).map_err(|e| fail(e.to_string()))? {
            if name.ends_with(".partial") || part_number(&name).is_some() {
                fs::remove_file(dir.join(&name)).map_err(|e| fail(format!("cannot clear {name}: {e}")))?;
            }
        }
        let done = lines_of(&entries);
        let next_part = entries.iter().filter_map(|e| part_number(&e.part)).max().map_or(0, |n| n + 1);
        let dataset = Self { dir: dir.to_path_buf(), lock, manifest, entries, done, next_part };
        dataset.rewrite_journal().map_err(|e| fail(format!("cannot write the spool's journal: {e}")))?;
        Ok(dataset)
    }

    /// Keep the journal entries whose part file is complete; remove every
    /// other part or partial file (their lines will be scanned again).
    fn take_up(&mut self, entries: Vec<PartEntry>) -> io::Result<()> {
        for entry in entries {
            let lines = LineSet::from_ranges(entry.lines.clone());
            if !is_complete_parquet(&self.dir.join(&entry.part)) {
                continue;
            }
            if lines.len() != entry.rows || self.done.overlaps(&lines) {
                return Err(io::Error::other(format!(
                    "{JOURNAL} is inconsistent at {} (rows and lines disagree); \
                     it was not written by this version of mxscan",
                    entry.part
                )));
            }
            self.done.extend(&lines);
            self.entries.push(entry);
        }
        let kept: Vec<&str> = self.entries.iter().map(|e| e.part.as_str()).collect();
        for name in list_dir(&self.dir)? {
            let stray = name.ends_with(".partial")
                || (part_number(&name).is_some() && !kept.contains(&name.as_str()));
            if stray {
                fs::remove_file(self.dir.join(&name))?;
            }
        }
        self.next_part = self.entries.iter().filter_map(|e| part_number(&e.part)).max().map_or(0, |n| n + 1);
        Ok(())
    }

    /// Write the journal afresh (manifest and kept entries), atomically.
    fn rewrite_journal(&self) -> io::Result<()> {
        let tmp = super::partial_path(&self.dir.join(JOURNAL));
        let mut out = File::create(&tmp)?;
        out.write_all(&journal_text(&self.manifest, &self.entries))?;
        out.sync_all()?;
        fs::rename(&tmp, self.dir.join(JOURNAL))?;
        sync_dir(&self.dir)
    }

    /// Input lines already in finished parts.
    pub fn done(&self) -> &LineSet {
        &self.done
    }

    /// Finished parts.
    pub fn parts(&self) -> usize {
        self.entries.len()
    }

    /// The sink that adds parts of at most `part_rows` rows, each written
    /// with `settings` (its footer says what produced it).
    pub fn into_sink(self, part_rows: usize, settings: ParquetSettings) -> Result<DatasetSink, OutputError> {
        let journal = OpenOptions::new().append(true).open(self.dir.join(JOURNAL))?;
        Ok(DatasetSink {
            dir: self.dir,
            _lock: self.lock,
            journal,
            next_part: self.next_part,
            part_rows: part_rows.max(1),
            settings,
            open: None,
            clock: Arc::default(),
            uploader: None,
        })
    }
}

/// Writes rows into part files, sealing each when full or old.
pub struct DatasetSink {
    dir: PathBuf,
    /// Held until the scan ends (the kernel drops it on kill -9 too).
    _lock: File,
    journal: File,
    next_part: u64,
    part_rows: usize,
    /// How every part is written (its footer's metadata included).
    settings: ParquetSettings,
    open: Option<OpenPart>,
    /// Where the parts' Arrow and Parquet CPU is counted.
    clock: Arc<StageClock>,
    /// Where sealed parts go next, if anywhere.
    uploader: Option<Arc<dyn Uploader>>,
}

struct OpenPart {
    writer: ParquetSink,
    name: String,
    partial: PathBuf,
    lines: Vec<u64>,
    opened: Instant,
}

impl DatasetSink {
    /// Hand every sealed part to `uploader` (after its rename).
    pub fn set_uploader(&mut self, uploader: Arc<dyn Uploader>) {
        self.uploader = Some(uploader);
    }

    fn start_part(&mut self) -> Result<&mut OpenPart, OutputError> {
        let name = format!("part-{:06}.parquet", self.next_part);
        self.next_part += 1;
        let partial = super::partial_path(&self.dir.join(&name));
        let file = File::create(&partial)
            .map_err(|source| OutputError::Create { path: partial.display().to_string(), source })?;
        let mut writer = ParquetSink::new(file, &self.settings)?;
        writer.set_clock(Arc::clone(&self.clock));
        Ok(self.open.insert(OpenPart { writer, name, partial, lines: Vec::new(), opened: Instant::now() }))
    }

    /// Footer and fsync, journal line and fsync, rename, directory fsync:
    /// see the module comment for why in this order.
    fn seal(&mut self) -> Result<(), OutputError> {
        let Some(part) = self.open.take() else { return Ok(()) };
        part.writer.close()?;
        let lines = LineSet::from_lines(&part.lines);
        let entry =
            PartEntry { part: part.name, rows: part.lines.len() as u64, lines: lines.ranges().to_vec() };
        let mut text = serde_json::to_vec(&entry).map_err(io::Error::from)?;
        text.push(b'\n');
        self.journal.write_all(&text)?;
        self.journal.sync_data()?;
        let file = self.dir.join(&entry.part);
        fs::rename(&part.partial, &file)?;
        sync_dir(&self.dir)?;
        match &self.uploader {
            Some(uploader) => uploader.sealed(&file, &entry),
            None => Ok(()),
        }
    }
}

impl RowSink for DatasetSink {
    fn write(&mut self, row: DomainRecord) -> Result<(), OutputError> {
        let part_rows = self.part_rows;
        let part = match self.open {
            Some(ref mut part) => part,
            None => self.start_part()?,
        };
        part.lines.push(row.line);
        part.writer.write(row)?;
        if part.lines.len() >= part_rows || part.opened.elapsed() >= PART_MAX_AGE {
            self.seal()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), OutputError> {
        self.seal()
    }

    fn attach_clock(&mut self, clock: Arc<StageClock>) {
        if let Some(part) = self.open.as_mut() {
            part.writer.set_clock(Arc::clone(&clock));
        }
        self.clock = clock;
    }

    fn abandon(mut self: Box<Self>) -> Result<(), OutputError> {
        // Unlike a single file, a sealed part claims only the lines its
        // journal entry names, so sealing the rows so far is honest: what is
        // missing is what `--resume` scans. (The CLI writes `_stats.json`
        // and `_SUCCESS` only after a complete scan.)
        self.seal()
    }
}

/// The input lines that `entries` hold.
pub fn lines_of(entries: &[PartEntry]) -> LineSet {
    let mut done = LineSet::default();
    for e in entries {
        done.extend(&LineSet::from_ranges(e.lines.clone()));
    }
    done
}

/// The journal's text: the manifest line, then a line per entry.
pub fn journal_text(manifest: &Manifest, entries: &[PartEntry]) -> Vec<u8> {
    let mut out = serde_json::to_vec(manifest).expect("the manifest serialises");
    out.push(b'\n');
    for entry in entries {
        serde_json::to_writer(&mut out, entry).expect("an entry serialises");
        out.push(b'\n');
    }
    out
}

/// The parts sealed in a spool directory by an earlier run of the scan
/// `manifest` describes, with their files (complete ones only).
pub fn spool_parts(spool: &Path, manifest: &Manifest) -> io::Result<Vec<(PartEntry, PathBuf)>> {
    let journal = spool.join(JOURNAL);
    if !journal.exists() {
        return Ok(Vec::new());
    }
    let (old, entries) = read_journal(&journal).map_err(|e| io::Error::other(format!("{JOURNAL}: {e}")))?;
    if let Some(why) = old.mismatch(manifest) {
        return Err(io::Error::other(format!(
            "the spool holds another scan ({why}); choose another --spool"
        )));
    }
    Ok(entries
        .into_iter()
        .map(|e| {
            let file = spool.join(&e.part);
            (e, file)
        })
        .filter(|(_, file)| is_complete_parquet(file))
        .collect())
}

/// Remove a spool's journal and lock once its scan is complete and
/// uploaded, and the directory if nothing else is in it.
pub fn clear_spool(spool: &Path) -> io::Result<()> {
    for name in [JOURNAL, ".lock"] {
        match fs::remove_file(spool.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let _ = fs::remove_dir(spool);
    Ok(())
}

/// Read the manifest and the part entries. A torn last line (killed while
/// appending) is ignored; damage anywhere else is an error.
fn read_journal(path: &Path) -> io::Result<(Manifest, Vec<PartEntry>)> {
    let mut text = String::new();
    File::open(path)?.read_to_string(&mut text)?;
    parse_journal(&text)
}

/// [`read_journal`] of a journal's text (a bucket's).
pub fn parse_journal(text: &str) -> io::Result<(Manifest, Vec<PartEntry>)> {
    let lines: Vec<&str> = text.lines().collect();
    let bad = |n: usize, e: serde_json::Error| io::Error::other(format!("line {}: {e}", n + 1));
    let first = lines.first().ok_or_else(|| io::Error::other("empty"))?;
    let manifest: Manifest = serde_json::from_str(first).map_err(|e| bad(0, e))?;
    if manifest.mxscan_dataset != VERSION {
        return Err(io::Error::other(format!(
            "journal version {} is not {VERSION}",
            manifest.mxscan_dataset
        )));
    }
    let mut entries = Vec::new();
    for (n, line) in lines.iter().enumerate().skip(1) {
        match serde_json::from_str::<PartEntry>(line) {
            Ok(entry) => entries.push(entry),
            Err(_) if n + 1 == lines.len() => {}
            Err(e) => return Err(bad(n, e)),
        }
    }
    Ok((manifest, entries))
}

/// A file that starts and ends with Parquet's magic and has room for a
/// footer length: what a sealed part always is.
fn is_complete_parquet(path: &Path) -> bool {
    let check = || -> io::Result<bool> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        if len < 12 {
            return Ok(false);
        }
        let (mut head, mut tail) = ([0u8; 4], [0u8; 4]);
        file.read_exact(&mut head)?;
        file.seek(SeekFrom::End(-4))?;
        file.read_exact(&mut tail)?;
        Ok(&head == b"PAR1" && &tail == b"PAR1")
    };
    check().unwrap_or(false)
}

/// `part-000042.parquet` → 42.
fn part_number(name: &str) -> Option<u64> {
    name.strip_prefix("part-")?.strip_suffix(".parquet")?.parse().ok()
}

fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn parquet_files(dir: &Path) -> io::Result<Vec<String>> {
    Ok(list_dir(dir)?.into_iter().filter(|n| n.ends_with(".parquet")).collect())
}

/// An exclusive lock on `DIR/.lock`, so that two scans cannot write into
/// one dataset (their parts and journal lines would interleave). `flock`
/// locks vanish with the process, whatever way it ends.
fn lock_dir(dir: &Path) -> io::Result<File> {
    use std::os::fd::AsRawFd;
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(".lock"))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

#[cfg(test)]
mod tests;
