//! Command-line flags, as close to what the user types as possible; turned
//! into a validated [`mxscan::scan::ScanConfig`] in `cli::mod`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Map the mail infrastructure of many domains: MX records, exchanger
/// addresses, and what is broken or risky, one row per domain.
#[derive(Debug, Parser)]
#[command(name = "mxscan", version, about, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 done (per-domain failures are data, not errors), 1 error, 2 usage, 130 interrupted (Ctrl-C).";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Scan a list of domains into Parquet or JSON lines.
    Scan(ScanArgs),
    /// Look up a few domains and print what was found, for people.
    Lookup(LookupArgs),
    /// Print the findings catalogue: code, severity, rule.
    Findings,
    /// Summarise a scan's Parquet output: status, MX adoption, providers,
    /// gateways, findings, shared exchangers (text, JSON or an HTML page).
    #[command(after_long_help = mxscan::report::JSON_HELP)]
    Report(ReportArgs),
    /// What changed between two scans, per domain: appeared and vanished,
    /// status, MX exchanges, provider migrations, findings, policy.
    Diff(DiffArgs),
    /// Serve the lookup page on loopback: type a domain, see its exchangers,
    /// providers, findings and mail policy (also as JSON).
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    Parquet,
    Jsonl,
    /// A directory of Parquet part files plus a journal (resumable).
    Dataset,
}

/// Where queries go and how hard to push.
#[derive(Debug, Args)]
pub(crate) struct ResolverArgs {
    /// Recursive resolver, ADDR or ADDR:PORT ([v6]:PORT); repeatable.
    /// Default: the nameservers of /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "ADDR[:PORT]")]
    pub(crate) resolvers: Vec<String>,
    /// File with one resolver per line (`#` comments allowed).
    #[arg(long = "resolvers", value_name = "FILE")]
    pub(crate) resolvers_file: Option<PathBuf>,
    /// Extra provider fingerprints (TOML, the format of data/providers.toml):
    /// added to the embedded table; an id already there is replaced.
    #[arg(long, value_name = "FILE")]
    pub(crate) providers: Option<PathBuf>,
    /// Wait for one attempt: `2s`, `500ms`, or seconds as a number.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) timeout: std::time::Duration,
    /// Further attempts after SERVFAIL, REFUSED or a timeout, each on the
    /// next resolver (NXDOMAIN and NODATA are answers); 0 to 20.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=i64::from(mxscan::scan::MAX_RETRIES)))]
    pub(crate) retries: u8,
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Domain list: one name per line, or `rank,domain` CSV (Tranco,
    /// Umbrella); gzip is detected; `-` reads stdin.
    pub(crate) input: String,
    /// Output file, `-` for stdout (JSON lines only), or a dataset
    /// directory (`DIR/`: Parquet part files plus a journal; resumable), or
    /// a dataset in S3 (`s3://BUCKET/PREFIX/`; credentials, region and
    /// endpoint from the AWS environment variables).
    #[arg(
        short,
        long,
        value_name = "PATH",
        required_unless_present = "dataset_root",
        conflicts_with = "dataset_root"
    )]
    pub(crate) output: Option<String>,
    /// Write a dataset directory under ROOT, hive-partitioned:
    /// ROOT/scan_date=YYYY-MM-DD/shard=K/ (K of --shard, 0 without it), so
    /// that DuckDB, pyarrow and Spark read every date and shard as one table.
    /// ROOT may be `s3://BUCKET/PREFIX`.
    #[arg(long, value_name = "ROOT")]
    pub(crate) dataset_root: Option<String>,
    /// The scan_date of --dataset-root (default: today, UTC). Give every task
    /// of one sharded run the same date: tasks that start after midnight
    /// would otherwise land in the next day's partition.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_scan_date)]
    pub(crate) scan_date: Option<String>,
    /// With an s3:// output: the local directory where parts are written
    /// and sealed before upload (default: below the system's temporary
    /// directory, named after the URL). Holds at most a part or two.
    #[arg(long, value_name = "DIR")]
    pub(crate) spool: Option<PathBuf>,
    /// Output format [default: dataset when the output ends in `/` or is a
    /// directory; jsonl when it ends in `.jsonl` or is `-`; else parquet].
    #[arg(long, value_enum)]
    pub(crate) format: Option<FormatArg>,
    /// Continue the scan in the dataset directory: lines already in its
    /// part files are skipped, the rest are scanned into new parts. Needs
    /// the same input and flags; without an earlier scan, starts one.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Rows per dataset part file (a part is also sealed after 60 s); a
    /// `kill -9` loses at most the part being written, which --resume redoes.
    #[arg(long, value_name = "N", default_value_t = mxscan::output::dataset::DEFAULT_PART_ROWS,
          value_parser = parse_part_rows)]
    pub(crate) part_rows: usize,
    #[command(flatten)]
    pub(crate) resolver: ResolverArgs,
    /// Queries per second over all resolvers; 0 = unlimited (only for
    /// resolvers you run yourself).
    #[arg(long, default_value_t = 1000)]
    pub(crate) rate: u32,
    /// Queries in flight at most: the ceiling of the window, which adapts to
    /// each resolver on its own (it starts small, grows while answers come
    /// back and shrinks on loss).
    #[arg(long, default_value_t = 1000, value_parser = parse_concurrency)]
    pub(crate) concurrency: usize,
    /// UDP sockets (source ports) to spread queries over, per engine thread.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) sockets: u16,
    /// Engine threads, each with its own sockets and share of the domains
    /// and of --concurrency. 0 = automatic: one, unless --rate is 0 or above
    /// 50000 and no resolver is on this machine (loopback), then one per
    /// core (at most 4).
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u16).range(0..=mxscan::scan::MAX_ENGINE_THREADS as i64))]
    pub(crate) engine_threads: u16,
    /// Scan only shard K of N of the list: the domains whose MD5 (of the
    /// normalised name; first 8 bytes, big-endian) is K mod N. Run K = 0..N-1
    /// anywhere (a Slurm array, a Kubernetes Indexed Job) and the pieces add
    /// up to the whole list, each name in exactly one.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<mxscan::input::Shard>,
    /// Ask MX only: no exchanger addresses, no implicit-MX lookups (a quick
    /// survey).
    #[arg(long)]
    pub(crate) mx_only: bool,
    /// 0x20: send query names in random letter case and accept only answers
    /// that echo it (harder to spoof; a resolver that lowercases names will
    /// then look dead).
    #[arg(long)]
    pub(crate) randomize_case: bool,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Also write the end-of-scan summary's counters to FILE as one JSON
    /// object (only when the scan completes).
    #[arg(long, value_name = "FILE")]
    pub(crate) stats: Option<PathBuf>,
    /// zstd level of Parquet output: 1 is the fastest, 22 the smallest.
    #[arg(long, value_name = "N", default_value_t = mxscan::output::DEFAULT_ZSTD_LEVEL,
          value_parser = clap::value_parser!(i32).range(1..=22))]
    pub(crate) zstd_level: i32,
    /// Also check each domain's mail policy: SPF, DMARC, MTA-STS (its policy
    /// fetched over HTTPS and its `mx` patterns matched against the MX
    /// hosts), TLS-RPT and DANE (TLSA per exchange). About five more queries
    /// a domain and one HTTPS fetch per MTA-STS domain.
    #[arg(long)]
    pub(crate) policy: bool,
    #[command(flatten)]
    pub(crate) policy_options: PolicyOptions,
}

/// The policy stage's options (`scan --policy`; `lookup` always runs it).
#[derive(Debug, Args)]
pub(crate) struct PolicyOptions {
    /// With the policy stage, probe DKIM keys at `<selector>._domainkey.<domain>`
    /// for the built-in list of common selectors (one query each).
    #[arg(long)]
    pub(crate) dkim: bool,
    /// The DKIM selectors to probe instead of the built-in list
    /// (comma-separated); implies --dkim.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub(crate) dkim_selectors: Option<Vec<String>>,
    /// Extra trust anchors (PEM) for MTA-STS policy hosts' certificates,
    /// beside the built-in web PKI roots (e.g. a private or test CA).
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct LookupArgs {
    /// Domains to look up.
    #[arg(required = true)]
    pub(crate) domains: Vec<String>,
    #[command(flatten)]
    pub(crate) resolver: ResolverArgs,
    /// Print JSON lines (the scan's row format) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) policy_options: PolicyOptions,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on. Loopback by default: anyone who can reach the
    /// page can make this machine send DNS queries.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// A scan to browse on /scan: a Parquet file written by `mxscan scan`, or
    /// a dataset directory (every *.parquet below it); repeatable (the scans
    /// are browsed as one table). Loaded into memory at start.
    #[arg(long = "scan", value_name = "PATH")]
    pub(crate) scans: Vec<PathBuf>,
    /// Another host name the page may be reached by (the Host header is
    /// checked against DNS rebinding); repeatable.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub(crate) allowed_hosts: Vec<String>,
    /// Domains looked up per minute by the whole server.
    #[arg(long, value_name = "N", default_value_t = 240, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) lookups_per_minute: u32,
    /// Domains looked up per minute by one client address.
    #[arg(long, value_name = "N", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) client_lookups_per_minute: u32,
    #[command(flatten)]
    pub(crate) resolver: ResolverArgs,
    #[command(flatten)]
    pub(crate) policy_options: PolicyOptions,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// A Parquet file written by `mxscan scan`, or a directory: every
    /// `*.parquet` below it.
    pub(crate) out: PathBuf,
    /// Print one JSON object instead of text (keys: see --help).
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write the report as one self-contained HTML page with bar charts.
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Providers listed in the provider share.
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub(crate) top: usize,
    /// One report per partition of a dataset root: `scan_date` (the
    /// `scan_date=…` directories of `--dataset-root`), printed as a table of
    /// the key shares by date (with --json, every date's full report).
    #[arg(long, value_name = "PARTITION", value_parser = ["scan_date"], conflicts_with = "html")]
    pub(crate) by: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The old scan: a Parquet file, a dataset directory, or a dataset root
    /// (with --dates, the root holding both dates).
    pub(crate) old: PathBuf,
    /// The new scan (not with --dates).
    #[arg(required_unless_present = "dates", conflicts_with = "dates")]
    pub(crate) new: Option<PathBuf>,
    /// Compare two `scan_date` partitions of the dataset root OLD.
    #[arg(long, num_args = 2, value_names = ["OLD_DATE", "NEW_DATE"], value_parser = parse_scan_date)]
    pub(crate) dates: Option<Vec<String>>,
    /// Write one row per changed domain to this Parquet file.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Print the summary as one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write the summary as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Rows listed in the summary's tables.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) top: usize,
    /// Where the sides are partitioned when they are larger than one
    /// bucket (a directory is made below it and removed after).
    #[arg(long, value_name = "DIR")]
    pub(crate) work_dir: Option<PathBuf>,
    /// Old-side rows per bucket: memory holds about this many rows at once.
    #[arg(long, value_name = "N", default_value_t = mxscan::diff::BUCKET_ROWS, hide = true)]
    pub(crate) bucket_rows: u64,
}

fn parse_part_rows(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1 << 24).contains(&n) => Ok(n),
        _ => Err(format!("not a row count from 1 to {}: {s:?}", 1 << 24)),
    }
}

fn parse_scan_date(s: &str) -> Result<String, String> {
    if mxscan::output::dataset::is_date(s) {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a date as YYYY-MM-DD"))
    }
}

fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("not a query count of 1 or more: {s:?}")),
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (number, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(secs) = s.strip_suffix('s') {
        (secs, 1.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("not a duration: {s:?} (try 2s or 500ms)"))?;
    if !(value.is_finite() && value > 0.0 && value * scale <= 3600.0) {
        return Err(format!("duration out of range: {s:?}"));
    }
    Ok(std::time::Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
