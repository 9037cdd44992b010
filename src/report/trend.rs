//! `mxscan report ROOT --by scan_date`: one report per `scan_date=…`
//! partition of a dataset root (`--dataset-root`), and a table of how the
//! key shares moved from date to date.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::{Report, ReportError, Summary, parquet_files, read_file};

/// The `scan_date` partition value in `path`'s directories, if any.
fn scan_date(path: &Path) -> Option<String> {
    path.components()
        .rev()
        .find_map(|c| c.as_os_str().to_str().and_then(|s| s.strip_prefix("scan_date=")).map(String::from))
}

/// A report per scan date under `root`, oldest first.
pub fn summarize_by_date(root: &Path, top: usize) -> Result<Vec<(String, Report)>, ReportError> {
    let mut by_date: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for file in parquet_files(root)? {
        let date = scan_date(file.strip_prefix(root).unwrap_or(&file)).ok_or_else(|| {
            ReportError::NoFiles(format!(
                "{} (no scan_date=… directory above {})",
                root.display(),
                file.display()
            ))
        })?;
        by_date.entry(date).or_default().push(file);
    }
    by_date
        .into_iter()
        .map(|(date, files)| {
            let mut summary = Summary::new();
            for file in &files {
                read_file(file, &mut summary)?;
            }
            let mut report = summary.report(top);
            report.source = root.join(format!("scan_date={date}")).display().to_string();
            report.files = files.len() as u64;
            Ok((date, report))
        })
        .collect()
}

/// The reports by date as one JSON object: `{"by": "scan_date", "dates":
/// [{"scan_date": …, "report": {…}}, …]}`.
pub fn trend_json(reports: &[(String, Report)]) -> String {
    let dates: Vec<serde_json::Value> = reports
        .iter()
        .map(|(date, report)| serde_json::json!({ "scan_date": date, "report": report }))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "by": "scan_date", "dates": dates }))
        .expect("reports serialise")
}

/// A table, a row per date: rows, the share of `ok`, MX adoption, the
/// leading providers' shares and error findings.
pub fn trend_text(reports: &[(String, Report)]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<12} {:>10} {:>7} {:>8} {:>8} {:>9} {:>13}  leading providers (% of domains with MX)",
        "scan_date", "rows", "ok %", "MX %", "null MX", "implicit", "error finds"
    );
    for (date, r) in reports {
        let ok = r.status.iter().find(|s| s.status == "ok").map_or(0.0, |s| s.pct);
        let errors: u64 = r.findings.iter().filter(|f| f.severity == "error").map(|f| f.count).sum();
        let leading = r.providers.as_ref().map_or_else(String::new, |p| {
            p.top
                .iter()
                .take(3)
                .map(|row| format!("{} {:.1}", row.provider, row.pct))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let _ = writeln!(
            s,
            "{date:<12} {:>10} {ok:>7.2} {:>8.2} {:>8.2} {:>9.2} {errors:>13}  {leading}",
            r.rows, r.mx_adoption.has_mx.pct, r.mx_adoption.null_mx_only.pct, r.mx_adoption.implicit_mx.pct,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_value_comes_from_the_path() {
        assert_eq!(
            scan_date(Path::new("scan_date=2026-11-29/shard=3/part-000000.parquet")).as_deref(),
            Some("2026-11-29")
        );
        assert_eq!(scan_date(Path::new("x/part-000000.parquet")), None);
    }
}
