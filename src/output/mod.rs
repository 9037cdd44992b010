//! Writing rows: Parquet (zstd, row groups of 64k rows, written as the scan
//! goes) or JSON lines with the same fields.

pub mod arrow;
pub mod dataset;
pub mod jsonl;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::record::DomainRecord;

/// Rows per Parquet row group (the contract's "~64k").
pub const ROW_GROUP: usize = 65536;
/// Columns whose values are (nearly) all distinct: no dictionary encoding.
const UNIQUE_COLUMNS: &[&str] = &["domain", "input", "rank", "elapsed_ms", "scanned_at"];
/// Rows converted to Arrow at a time: small enough to keep memory flat.
const BATCH: usize = 8192;

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
    /// A dataset directory cannot be used as asked.
    #[error("{path}: {reason}")]
    Dataset {
        /// The directory.
        path: String,
        /// Why not.
        reason: String,
    },
}

/// Where rows go.
pub trait RowSink: Send {
    /// Add one row.
    fn write(&mut self, row: DomainRecord) -> Result<(), OutputError>;
    /// Flush everything and close; the output is complete after this.
    fn finish(self: Box<Self>) -> Result<(), OutputError>;
}

/// Open the output `path` (`-` for stdout). Fails before any row if it
/// cannot be created.
pub fn open(path: &str, format: Format) -> Result<Box<dyn RowSink>, OutputError> {
    let create =
        |at: &Path| File::create(at).map_err(|source| OutputError::Create { path: path.into(), source });
    match (format, path) {
        (Format::Parquet, "-") => Err(OutputError::ParquetToStdout),
        (Format::Parquet, _) => {
            let target = Path::new(path);
            // Written under a hidden name and renamed when complete, so that
            // a file with the given name is always a whole Parquet file (a
            // kill -9 leaves only the partial one). A FIFO or device is
            // written directly.
            if target.exists() && !target.is_file() {
                return Ok(Box::new(ParquetSink::new(create(target)?)?));
            }
            let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let partial = target.with_file_name(format!(".{name}.partial"));
            let mut sink = ParquetSink::new(create(&partial)?)?;
            sink.rename = Some((partial, target.to_path_buf()));
            Ok(Box::new(sink))
        }
        (Format::Jsonl, "-") => Ok(Box::new(jsonl::JsonlSink::new(Box::new(io::stdout())))),
        (Format::Jsonl, _) => Ok(Box::new(jsonl::JsonlSink::new(Box::new(create(Path::new(path))?)))),
    }
}

/// Parquet output through Arrow.
pub(crate) struct ParquetSink {
    writer: ArrowWriter<File>,
    pending: Vec<DomainRecord>,
    /// (partial, final): renamed when finished.
    rename: Option<(PathBuf, PathBuf)>,
}

impl ParquetSink {
    pub(crate) fn new(file: File) -> Result<Self, OutputError> {
        let mut props = WriterProperties::builder()
            // Level 1: the writer shares two cores with the query engine and
            // the resolver; level 3 cost more CPU for a few % of file size.
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_created_by(format!("mxscan {}", env!("CARGO_PKG_VERSION")));
        // Columns unique per row gain nothing from a dictionary but pay for
        // hashing every value into one (perf: a tenth of the writer's time).
        for column in UNIQUE_COLUMNS {
            props = props.set_column_dictionary_enabled(ColumnPath::from(*column), false);
        }
        let props = props.build();
        let writer = ArrowWriter::try_new(file, arrow::SCHEMA.clone(), Some(props))?;
        Ok(Self { writer, pending: Vec::with_capacity(BATCH), rename: None })
    }

    fn flush_batch(&mut self) -> Result<(), OutputError> {
        if !self.pending.is_empty() {
            let batch = arrow::to_batch(&self.pending)?;
            self.writer.write(&batch)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Write the footer and sync: the file is complete and durable.
    pub(crate) fn close(mut self) -> Result<File, OutputError> {
        self.flush_batch()?;
        let file = self.writer.into_inner()?;
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
        if let Some((partial, target)) = rename {
            std::fs::rename(&partial, &target)?;
            sync_dir(target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
        }
        Ok(())
    }
}

/// Make a rename durable: fsync the directory that holds the entry.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A buffered writer that reports a closed stdout (`| head`) as an error
/// the CLI can recognise.
fn buffered(out: Box<dyn Write + Send>) -> BufWriter<Box<dyn Write + Send>> {
    BufWriter::with_capacity(256 * 1024, out)
}
