//! Writing rows: Parquet (zstd, row groups of 64k rows, written as the scan
//! goes) or JSON lines with the same fields.

pub mod arrow;
pub mod dataset;
pub mod jsonl;
#[cfg(feature = "s3")]
pub mod lease;
mod policy;
#[cfg(feature = "s3")]
pub mod remote;

/// Whether `output` names a dataset in S3 (`s3://BUCKET/PREFIX/`).
pub fn is_s3(output: &str) -> bool {
    output.starts_with("s3://")
}

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::record::DomainRecord;
use crate::scan::cpu::StageClock;

/// Rows per Parquet row group (the contract's "~64k").
pub const ROW_GROUP: usize = 65536;
/// Columns whose values are (nearly) all distinct: no dictionary encoding.
const UNIQUE_COLUMNS: &[&str] = &["domain", "input", "rank", "elapsed_ms", "scanned_at"];
/// Rows converted to Arrow at a time: small enough to keep memory flat.
pub(crate) const BATCH: usize = 8192;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// One JSON object per line.
    Jsonl,
}

/// Why output cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The file cannot be created.
    #[error("cannot create {path}")]
    Create {
        /// The path given.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Writing failed.
    #[error("cannot write the output")]
    Write(#[from] io::Error),
    /// Parquet encoding failed.
    #[error("cannot write Parquet")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow conversion failed.
    #[error("cannot build an Arrow batch")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// Parquet needs a file.
    #[error("Parquet cannot be written to stdout; use --format jsonl with -o -")]
    ParquetToStdout,
    /// The reader of the output went away (EPIPE: `mxscan scan -o - | head`).
    /// Not a failure: the reader has all it wanted, so the scan just stops.
    #[error("the reader of the output has closed it")]
    ReaderGone,
    /// A dataset directory cannot be used as asked.
    #[error("{path}: {reason}")]
    Dataset {
        /// The directory.
        path: String,
        /// Why not.
        reason: String,
    },
}

/// The key-value metadata of every Parquet file's footer: what produced
/// it, so that a file found months later says which program, tables and
/// flags its rows came from (and how to run the scan again).
///
/// Keys: `mxscan.version`, `mxscan.providers_version`,
/// `mxscan.findings_version`, `mxscan.args` (JSON array of the command-line
/// arguments after the program name), `mxscan.resolvers` (JSON array of
/// `ip:port`).
pub fn provenance(
    args: &[String],
    resolvers: &[std::net::SocketAddr],
    providers: &crate::analyze::providers::ProviderTable,
) -> Vec<(String, String)> {
    let resolvers: Vec<String> = resolvers.iter().map(ToString::to_string).collect();
    vec![
        ("mxscan.version".into(), env!("CARGO_PKG_VERSION").into()),
        ("mxscan.providers_version".into(), providers.version()),
        ("mxscan.findings_version".into(), crate::analyze::findings::catalogue_version()),
        ("mxscan.args".into(), serde_json::Value::from(args.to_vec()).to_string()),
        ("mxscan.resolvers".into(), serde_json::Value::from(resolvers).to_string()),
    ]
}

/// Where rows go.
pub trait RowSink: Send {
    /// Add one row.
    fn write(&mut self, row: DomainRecord) -> Result<(), OutputError>;
    /// Flush everything, close, and give the output its final name: the
    /// output is complete after this.
    fn finish(self: Box<Self>) -> Result<(), OutputError>;
    /// The scan stopped before the end of its input (the input broke part
    /// way, every resolver died): flush and close what was written so that
    /// it stays readable, but never under the name that means complete.
    fn abandon(self: Box<Self>) -> Result<(), OutputError>;
    /// Count the CPU of building batches and encoding them on `clock`
    /// (the scan's per-stage counters); sinks without those stages ignore it.
    fn attach_clock(&mut self, _clock: Arc<StageClock>) {}
}

/// The hidden name a single-file output is written under until it is
/// complete: `dir/.NAME.partial` for `dir/NAME`.
pub fn partial_path(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{name}.partial"))
}

/// A single output file written under its partial name and renamed to the
/// final one only when complete, so that a file with the final name is
/// always whole (a `kill -9`, a broken input or a dead resolver set leave
/// only the partial one).
#[derive(Debug)]
pub(crate) struct Rename {
    partial: PathBuf,
    target: PathBuf,
}

impl Rename {
    /// Rename and make the rename durable.
    fn commit(self) -> io::Result<()> {
        std::fs::rename(&self.partial, &self.target)?;
        sync_dir(self.target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")))
    }
}

/// The zstd level Parquet files are written with unless told otherwise:
/// the writer shares two cores with the query engine and the resolver, and
/// level 1 gave the best CPU for the size (README, "Output": the trade-off).
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// How Parquet files are written.
#[derive(Debug, Clone)]
pub struct ParquetSettings {
    /// Key-value metadata of every footer: what produced the file.
    pub metadata: Vec<(String, String)>,
    /// zstd level, 1 (fastest) to 22 (smallest).
    pub zstd_level: i32,
}

impl Default for ParquetSettings {
    fn default() -> Self {
        Self { metadata: Vec::new(), zstd_level: DEFAULT_ZSTD_LEVEL }
    }
}

/// Open the output `path` (`-` for stdout). Fails before any row if it
/// cannot be created. A Parquet file is written with `settings`.
pub fn open(path: &str, format: Format, settings: &ParquetSettings) -> Result<Box<dyn RowSink>, OutputError> {
    let create =
        |at: &Path| File::create(at).map_err(|source| OutputError::Create { path: path.into(), source });
    if path == "-" {
        return match format {
            Format::Parquet => Err(OutputError::ParquetToStdout),
            Format::Jsonl => Ok(Box::new(jsonl::JsonlSink::new(Box::new(io::stdout()), None))),
        };
    }
    let target = Path::new(path);
    // Written under a hidden name and renamed when complete, so that a file
    // with the given name is always whole. A FIFO or device is written
    // directly: it cannot be renamed, and its reader sees the stream anyway.
    let (file, rename) = if target.exists() && !target.is_file() {
        (create(target)?, None)
    } else {
        let partial = partial_path(target);
        (create(&partial)?, Some(Rename { partial, target: target.to_path_buf() }))
    };
    Ok(match format {
        Format::Parquet => {
            let mut sink = ParquetSink::new(file, settings)?;
            sink.rename = rename;
            Box::new(sink)
        }
        Format::Jsonl => {
            let rename = match rename {
                Some(rename) => Some((file.try_clone()?, rename)),
                None => None,
            };
            Box::new(jsonl::JsonlSink::new(Box::new(file), rename))
        }
    })
}

/// Parquet output through Arrow.
pub(crate) struct ParquetSink {
    writer: ArrowWriter<File>,
    pending: Vec<DomainRecord>,
    /// Renamed to the final name when finished.
    rename: Option<Rename>,
    /// Where the Arrow and Parquet stages' CPU is counted.
    clock: Arc<StageClock>,
}

impl ParquetSink {
    pub(crate) fn new(file: File, settings: &ParquetSettings) -> Result<Self, OutputError> {
        let metadata = &settings.metadata;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(settings.zstd_level)?))
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_created_by(format!("mxscan {}", env!("CARGO_PKG_VERSION")))
            // What produced the file (versions, flags, resolvers): a Parquet
            // file found later must say how to read and reproduce it.
            .set_key_value_metadata(Some(
                metadata.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect(),
            ));
        // Columns unique per row gain nothing from a dictionary but pay for
        // hashing every value into one (perf: a tenth of the writer's time).
        for column in UNIQUE_COLUMNS {
            props = props.set_column_dictionary_enabled(ColumnPath::from(*column), false);
        }
        let props = props.build();
        let writer = ArrowWriter::try_new(file, arrow::SCHEMA.clone(), Some(props))?;
        Ok(Self { writer, pending: Vec::with_capacity(BATCH), rename: None, clock: Arc::default() })
    }

    pub(crate) fn set_clock(&mut self, clock: Arc<StageClock>) {
        self.clock = clock;
    }

    fn flush_batch(&mut self) -> Result<(), OutputError> {
        if !self.pending.is_empty() {
            let batch = self.clock.arrow(|| arrow::to_batch(&self.pending))?;
            self.clock.parquet(|| self.writer.write(&batch))?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Write the footer and sync: the file is complete and durable.
    pub(crate) fn close(mut self) -> Result<File, OutputError> {
        self.flush_batch()?;
        let clock = Arc::clone(&self.clock);
        let file = clock.parquet(|| self.writer.into_inner())?;
        file.sync_all()?;
        Ok(file)
    }
}

impl RowSink for ParquetSink {
    fn write(&mut self, row: DomainRecord) -> Result<(), OutputError> {
        self.pending.push(row);
        if self.pending.len() >= BATCH {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), OutputError> {
        let rename = self.rename.take();
        self.close()?;
        if let Some(rename) = rename {
            rename.commit()?;
        }
        Ok(())
    }

    fn abandon(mut self: Box<Self>) -> Result<(), OutputError> {
        // A footer makes the partial file readable (the rows so far), but it
        // keeps its partial name: the final name means complete.
        self.rename = None;
        self.close()?;
        Ok(())
    }

    fn attach_clock(&mut self, clock: Arc<StageClock>) {
        self.set_clock(clock);
    }
}

/// Make a rename durable: fsync the directory that holds the entry.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A buffered writer for JSON lines.
fn buffered(out: Box<dyn Write + Send>) -> BufWriter<Box<dyn Write + Send>> {
    BufWriter::with_capacity(256 * 1024, out)
}

/// A write error, with EPIPE told apart: the reader went away (`| head`),
/// which ends the scan quietly instead of failing it.
fn write_error(e: io::Error) -> OutputError {
    if e.kind() == io::ErrorKind::BrokenPipe { OutputError::ReaderGone } else { OutputError::Write(e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mxscan-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn row() -> DomainRecord {
        DomainRecord::invalid("bad line".into(), None, "test".into())
    }

    /// The final name means complete: `finish` gives it, `abandon` never does
    /// (but leaves the rows readable under the partial name).
    #[test]
    fn only_a_finished_output_gets_its_name() {
        let dir = scratch("names");
        for format in [Format::Parquet, Format::Jsonl] {
            for complete in [true, false] {
                let target = dir.join(format!("out-{complete}.{format:?}"));
                let mut sink = open(target.to_str().unwrap(), format, &ParquetSettings::default()).unwrap();
                sink.write(row()).unwrap();
                assert!(!target.exists() && partial_path(&target).exists());
                if complete {
                    sink.finish().unwrap()
                } else {
                    sink.abandon().unwrap()
                }
                assert_eq!(target.exists(), complete, "{format:?}");
                assert_eq!(partial_path(&target).exists(), !complete, "{format:?}");
                let left = if complete { target } else { partial_path(&target) };
                let bytes = std::fs::read(&left).unwrap();
                match format {
                    Format::Parquet => assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1")),
                    Format::Jsonl => assert!(bytes.ends_with(b"}\n")),
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn partial_names() {
        assert_eq!(partial_path(Path::new("a/mx.parquet")), Path::new("a/.mx.parquet.partial"));
        assert_eq!(partial_path(Path::new("mx.jsonl")), Path::new(".mx.jsonl.partial"));
    }
}
