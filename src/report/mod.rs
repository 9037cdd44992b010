//! `mxscan report`: what a scan found, for people. Reads a scan's Parquet
//! output (one file, or a dataset directory of part files) batch by batch
//! into a [`Summary`] of counts, then renders its [`Report`] as aligned
//! text, JSON, or one self-contained HTML page with bar charts.
//!
//! Only the columns the report needs are decoded (for `mx`, just `exchange`
//! and `provider`), and memory holds counts, not rows.

mod chart;
mod exchangers;
mod html;
mod model;
mod policy;
mod summary;
mod text;
mod trend;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};

pub(crate) use html::esc;
/// The page's parts, for other pages of the same look (`mxscan diff`).
pub(crate) mod html_parts {
    pub(crate) use super::html::{Col, card, data, esc, page_start, section, table};
}
pub use html::render as html;
pub use model::{
    CategoryRow, Count, ExchangerRow, FindingRow, GatewayShare, JSON_HELP, MxAdoption, ProviderCount,
    ProviderRow, ProviderShare, RankBucket, Report, StatusRow,
};
pub use policy::{PolicySection, ValueCount};
pub use summary::{BUCKET_TOP, EXCHANGERS_TOP, RANK_BUCKETS, Summary};
/// Typed access to the output's columns, for other readers (`mxscan diff`).
pub(crate) mod columns {
    pub(crate) use super::summary::{ints, list, mismatch, strings, text};
}
pub use text::render as text;
pub use trend::{summarize_by_date, trend_json, trend_text};

/// Rows decoded at a time.
const BATCH_ROWS: usize = 8192;

/// Why a report cannot be made. Each message is one line and carries its
/// cause (so the cause is not also chained as a `source`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The path cannot be opened or listed.
    #[error("cannot read {path}: {cause}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        cause: io::Error,
    },
    /// Not a Parquet file, or a damaged one.
    #[error("cannot read {path} as Parquet: {cause}")]
    Parquet {
        /// The file.
        path: String,
        /// The cause.
        cause: parquet::errors::ParquetError,
    },
    /// Parquet, but not the output schema.
    #[error("{path}: {cause}")]
    Schema {
        /// The file.
        path: String,
        /// The cause.
        cause: arrow_schema::ArrowError,
    },
    /// A directory without Parquet files.
    #[error("no *.parquet file under {0}")]
    NoFiles(String),
}

/// The report on `path` (a Parquet file or a directory of them), with
/// `top` providers in the provider share.
pub fn summarize(path: &Path, top: usize) -> Result<Report, ReportError> {
    let files = parquet_files(path)?;
    let mut summary = Summary::new();
    for file in &files {
        read_file(file, &mut summary)?;
    }
    let mut report = summary.report(top);
    report.source = path.display().to_string();
    report.files = files.len() as u64;
    Ok(report)
}

/// `path` itself if it is a file; for a directory every `*.parquet` below
/// it (hidden names skipped, symbolic links to directories not followed),
/// in path order.
pub fn parquet_files(path: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let io_err = |p: &Path| {
        let path = p.display().to_string();
        move |cause| ReportError::Io { path, cause }
    };
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let kind = entry.file_type().map_err(io_err(&entry.path()))?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if name.ends_with(".parquet") {
                out.push(entry.path());
            }
        }
    }
    if out.is_empty() {
        return Err(ReportError::NoFiles(path.display().to_string()));
    }
    out.sort();
    Ok(out)
}

/// Stream one Parquet file into `summary`.
pub fn read_file(path: &Path, summary: &mut Summary) -> Result<(), ReportError> {
    for_each_batch(
        path,
        |parts| {
            let root = parts[0].as_str();
            (summary::COLUMNS.contains(&root) || policy::COLUMNS.contains(&root))
                && (root != "mx" || parts.last().is_some_and(|f| summary::MX_FIELDS.contains(&f.as_str())))
        },
        |batch| summary.add_batch(batch).map_err(|cause| schema_error(path, cause)),
    )
}

/// `path` is Parquet, but not the output schema.
pub(crate) fn schema_error(path: &Path, cause: arrow_schema::ArrowError) -> ReportError {
    ReportError::Schema { path: path.display().to_string(), cause }
}

/// Decode the leaves of `path` whose column path `keep` wants, a batch at
/// a time, into `each`. Types come from the Parquet schema itself, not an
/// embedded Arrow schema: files rewritten by other tools (DuckDB, Spark)
/// then decode the same way.
pub(crate) fn for_each_batch<E: From<ReportError>>(
    path: &Path,
    keep: impl Fn(&[String]) -> bool,
    mut each: impl FnMut(&arrow_array::RecordBatch) -> Result<(), E>,
) -> Result<(), E> {
    let name = || path.display().to_string();
    let parquet = |cause| ReportError::Parquet { path: name(), cause };
    let file = File::open(path).map_err(|cause| ReportError::Io { path: name(), cause })?;
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).map_err(parquet)?;
    let leaves: Vec<usize> = builder
        .parquet_schema()
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| keep(c.path().parts()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::leaves(builder.parquet_schema(), leaves);
    let reader = builder.with_projection(mask).with_batch_size(BATCH_ROWS).build().map_err(parquet)?;
    for batch in reader {
        each(&batch.map_err(|cause| schema_error(path, cause))?)?;
    }
    Ok(())
}

/// The report as one pretty-printed JSON object (keys in [`JSON_HELP`]).
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("the report serialises (strings and numbers only)")
}

/// Group digits in threes: `12345` → `12,345`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 domain`, `12,345 domains`.
fn domains(n: u64) -> String {
    if n == 1 { "1 domain".into() } else { format!("{} domains", thousands(n)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_groups() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
