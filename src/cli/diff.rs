//! `mxscan diff`: sides from the command line, the output file created
//! before anything is read, the summary printed.

use std::process::ExitCode;

use anyhow::{Context, Result};
use mxscan::diff::{self, ChangeWriter, DiffOptions, Side};

use super::args::DiffArgs;

pub(crate) fn run(args: DiffArgs) -> Result<ExitCode> {
    let (old, new) = match (&args.dates, &args.new) {
        (Some(dates), _) => {
            (Side::open(&args.old, Some(&dates[0]))?, Side::open(&args.old, Some(&dates[1]))?)
        }
        (None, Some(new)) => (Side::open(&args.old, None)?, Side::open(new, None)?),
        (None, None) => unreachable!("clap requires NEW or --dates"),
    };
    // Fail on an unwritable output before reading tens of millions of rows.
    let writer = args
        .output
        .as_deref()
        .map(|path| {
            let metadata = vec![
                ("mxscan.diff.old".to_string(), old.label.clone()),
                ("mxscan.diff.new".to_string(), new.label.clone()),
            ];
            ChangeWriter::create(path, metadata)
        })
        .transpose()?;
    if let Some(path) = &args.html {
        std::fs::write(path, "").with_context(|| format!("cannot write {}", path.display()))?;
    }
    let opts = DiffOptions {
        top: args.top,
        work_dir: args.work_dir.clone().unwrap_or_else(std::env::temp_dir),
        bucket_rows: args.bucket_rows.max(1),
    };
    let summary = diff::diff(&old, &new, writer, &opts)?;
    if let Some(path) = &args.html {
        std::fs::write(path, diff::html(&summary))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    super::print(&if args.json { diff::json(&summary) + "\n" } else { diff::text(&summary) })
}
