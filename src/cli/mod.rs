//! The command line's edge: flags to configuration, one-line errors,
//! progress, and the human-readable views.

mod args;
mod diff;
mod lookup;
mod progress;
mod remote;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;

use args::{Cli, Command, FormatArg, ReportArgs, ResolverArgs, ScanArgs};
use mxscan::analyze::findings::CATALOGUE;
use mxscan::analyze::providers::ProviderTable;
use mxscan::input::ListReader;
use mxscan::output::dataset::{Dataset, Manifest};
use mxscan::output::is_s3;
use mxscan::output::{self, Format};
use mxscan::policy::fetch::FetchConfig;
use mxscan::scan::{self, Counters, PolicyConfig, ScanConfig, Source};
use remote::{RemoteOutput, open_remote};

pub(crate) fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Scan(args) => scan_command(args),
        Command::Lookup(args) => lookup::run(args),
        Command::Report(args) => report_command(args),
        Command::Diff(args) => diff::run(args),
        Command::Serve(args) => serve_command(args),
        Command::Findings => print(&findings_table()),
    }
}

/// `mxscan serve`: the lookup page, until interrupted.
fn serve_command(args: args::ServeArgs) -> Result<ExitCode> {
    let scan = ScanConfig {
        resolvers: resolvers(&args.resolver)?,
        // A lookup is some twenty queries: at the scan's default rate they
        // go out within ~20 ms (at 100/s, paced 10 ms apart, a lookup took
        // 180 ms). The guard's lookups per minute bound the total.
        rate: 1000,
        concurrency: 64,
        timeout: args.resolver.timeout,
        retries: args.resolver.retries,
        sockets: 1,
        engines: 1,
        providers: Arc::new(provider_table(&args.resolver)?),
        policy: Some(policy_config(&args.policy_options)?),
        ..ScanConfig::default()
    };
    let limits = mxscan::serve::Limits {
        per_minute: args.lookups_per_minute,
        per_client_per_minute: args.client_lookups_per_minute,
        ..mxscan::serve::Limits::default()
    };
    let index = if args.scans.is_empty() {
        None
    } else {
        let started = std::time::Instant::now();
        let index = mxscan::serve::index::ScanIndex::load(&args.scans)?;
        eprintln!(
            "mxscan: loaded {} rows from {} file(s) in {:.1}s; index {:.1} MiB",
            index.rows(),
            index.sources().len(),
            started.elapsed().as_secs_f64(),
            index.memory_bytes() as f64 / f64::from(1 << 20)
        );
        Some(Arc::new(index))
    };
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    listener.set_nonblocking(true)?;
    let listen = listener.local_addr()?;
    if !listen.ip().is_loopback() {
        eprintln!(
            "mxscan: warning: listening on {listen}, not loopback: anyone who can reach it can make this machine \
             send DNS queries (lookups are rate limited)"
        );
    }
    eprintln!("mxscan: serving http://{listen}/ (Ctrl-C stops)");
    let cfg = mxscan::serve::ServeConfig { scan, listen, allowed_hosts: args.allowed_hosts, limits, index };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::select! {
            served = mxscan::serve::serve(listener, cfg) => served,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `mxscan report`: text or JSON on stdout, optionally an HTML page.
fn report_command(args: ReportArgs) -> Result<ExitCode> {
    if args.by.is_some() {
        let reports = mxscan::report::summarize_by_date(&args.out, args.top)?;
        let text = if args.json {
            mxscan::report::trend_json(&reports) + "\n"
        } else {
            mxscan::report::trend_text(&reports)
        };
        return print(&text);
    }
    let report = mxscan::report::summarize(&args.out, args.top)?;
    if let Some(path) = &args.html {
        std::fs::write(path, mxscan::report::html(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let text = if args.json { mxscan::report::json(&report) + "\n" } else { mxscan::report::text(&report) };
    print(&text)
}

/// Print `text` to stdout; a reader that went away (`| head`) is not an
/// error.
fn print(text: &str) -> Result<ExitCode> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => other.map(|()| ExitCode::SUCCESS).context("cannot write to stdout"),
    }
}

fn scan_command(args: ScanArgs) -> Result<ExitCode> {
    if args.scan_date.is_some() && args.dataset_root.is_none() {
        eprintln!("mxscan: --scan-date goes with --dataset-root");
        return Ok(ExitCode::from(2));
    }
    // `--dataset-root ROOT` is `-o ROOT/scan_date=…/shard=K/`.
    let output_path: String = match (&args.output, &args.dataset_root) {
        (Some(output), _) => output.clone(),
        (None, Some(root)) => {
            let date = args.scan_date.clone().unwrap_or_else(output::dataset::today_utc);
            output::dataset::hive_dir(root, &date, args.shard.map_or(0, |s| s.index))
        }
        (None, None) => unreachable!("clap requires -o or --dataset-root"),
    };
    let format = match args.format {
        Some(FormatArg::Parquet) => Some(Format::Parquet),
        Some(FormatArg::Jsonl) => Some(Format::Jsonl),
        Some(FormatArg::Dataset) => None,
        _ if is_s3(&output_path) => None,
        None if output_path.ends_with('/') || std::path::Path::new(&output_path).is_dir() => None,
        None if output_path == "-" || output_path.ends_with(".jsonl") => Some(Format::Jsonl),
        None => Some(Format::Parquet),
    };
    if is_s3(&output_path) && format.is_some() {
        eprintln!(
            "mxscan: an s3:// output is a dataset (s3://BUCKET/PREFIX/); --format parquet and jsonl write local files"
        );
        return Ok(ExitCode::from(2));
    }
    let cfg = ScanConfig {
        resolvers: resolvers(&args.resolver)?,
        rate: args.rate,
        concurrency: args.concurrency,
        timeout: args.resolver.timeout,
        retries: args.resolver.retries,
        mx_only: args.mx_only,
        sockets: usize::from(args.sockets),
        providers: Arc::new(provider_table(&args.resolver)?),
        randomize_case: args.randomize_case,
        policy: None,
        engines: usize::from(args.engine_threads),
        ..ScanConfig::default()
    };
    let options = &args.policy_options;
    if !args.policy && (options.dkim || options.dkim_selectors.is_some() || options.ca_file.is_some()) {
        eprintln!("mxscan: --dkim, --dkim-selectors and --ca-file need --policy");
        return Ok(ExitCode::from(2));
    }
    let cfg = ScanConfig { policy: args.policy.then(|| policy_config(options)).transpose()?, ..cfg };
    if let Err(e) = cfg.check() {
        eprintln!("mxscan: {e}");
        return Ok(ExitCode::from(2));
    }
    // Both ends are opened before any query is sent: a typo in a path is a
    // one-line error, not a wasted scan.
    let mut list = ListReader::open(&args.input)?;
    if let Some(shard) = args.shard {
        list.set_shard(shard);
    }
    if let Some(path) = &args.stats {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            bail!("cannot write --stats {}: no directory {}", path.display(), dir.display());
        }
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let metadata = output::provenance(&argv, &cfg.resolvers, &cfg.providers);
    let parquet = output::ParquetSettings { metadata, zstd_level: args.zstd_level };
    let mut total = progress::estimate_lines(&args.input).map(|t| t / args.shard.map_or(1, |s| s.count));
    let mut remote: Option<RemoteOutput> = None;
    let sink = match format {
        Some(format) => {
            if args.resume {
                bail!("--resume needs a dataset directory as output (-o DIR/), not a single file");
            }
            output::open(&output_path, format, &parquet)?
        }
        None => {
            let manifest = Manifest {
                shard: args.shard.map(|s| s.to_string()),
                ..Manifest::for_input(&args.input, args.mx_only, args.policy)
            };
            let dataset = if is_s3(&output_path) {
                let (dataset, bucket) =
                    open_remote(&output_path, args.spool.as_deref(), manifest, args.resume)?;
                remote = Some(bucket);
                dataset
            } else {
                Dataset::open(std::path::Path::new(&output_path), manifest, args.resume)?
            };
            if dataset.parts() > 0 && !args.quiet {
                eprintln!(
                    "mxscan: resuming {}: {} line(s) already in {} part file(s)",
                    output_path,
                    dataset.done().len(),
                    dataset.parts()
                );
            }
            total = total.map(|t| t.saturating_sub(dataset.done().len()));
            list.skip_lines(dataset.done().clone());
            let mut sink = dataset.into_sink(args.part_rows, parquet)?;
            if let Some(remote) = &remote {
                remote.attach(&mut sink);
            }
            Box::new(sink)
        }
    };
    let counters = Arc::new(Counters::default());
    let bar = (!args.quiet).then(|| progress::Bar::start(Arc::clone(&counters), total)).flatten();

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        let (interrupt_tx, interrupts) = tokio::sync::watch::channel(0u8);
        tokio::spawn(count_interrupts(interrupt_tx));
        scan::run(&cfg, Source::List(list), sink, counters, interrupts).await
    });
    if let Some(bar) = bar {
        bar.finish();
    }
    let summary = match result {
        Err(err @ scan::ScanError::Interrupted { .. }) => {
            eprintln!("mxscan: {err}");
            return Ok(ExitCode::from(130));
        }
        // EPIPE on stdout (`-o - | head`): the reader has what it wanted;
        // stop without a word, like any Unix filter.
        Err(scan::ScanError::Output(output::OutputError::ReaderGone)) => return Ok(ExitCode::SUCCESS),
        Err(err @ (scan::ScanError::Input(_) | scan::ScanError::ResolversDead { .. })) => {
            // The output was left under its partial name: say where.
            let left = match format {
                Some(_) if output_path != "-" => {
                    format!(
                        "; the incomplete output is {}",
                        output::partial_path(Path::new(&output_path)).display()
                    )
                }
                Some(_) => String::new(),
                None => format!("; {} is incomplete (--resume continues it)", output_path),
            };
            bail!("{:#}{left}", anyhow::Error::new(err));
        }
        other => other?,
    };
    if !args.quiet {
        eprintln!("mxscan: {}", summary.line());
    }
    let stats = serde_json::to_string_pretty(&summary.to_json())? + "\n";
    if let Some(path) = &args.stats {
        write_whole(path, &stats)?;
    }
    if let Some(remote) = remote {
        remote.complete(&stats)?;
    } else if format.is_none() {
        // In a dataset directory, _stats.json then _SUCCESS mark a complete
        // scan (a single file's mark is its final name).
        write_whole(&Path::new(&output_path).join(output::dataset::STATS), &stats)?;
        write_whole(&Path::new(&output_path).join(output::dataset::SUCCESS), "")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Write `text` to `path` under the partial name first, so that `path`
/// never holds half a file.
fn write_whole(path: &Path, text: &str) -> Result<()> {
    let partial = output::partial_path(path);
    std::fs::write(&partial, text).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot rename to {}", path.display()))?;
    Ok(())
}

/// Ctrl-C, and SIGTERM as well: what Slurm (scancel, the time limit,
/// preemption) and Kubernetes (eviction, deletion) send before SIGKILL. The
/// first finishes the domains in flight and seals the part being written,
/// so a resumed task redoes nothing; the second stops at once.
async fn count_interrupts(tx: tokio::sync::watch::Sender<u8>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    for n in 1..=2u8 {
        let sigterm = async {
            match term.as_mut() {
                Some(t) => t.recv().await,
                None => std::future::pending().await,
            }
        };
        let what = tokio::select! {
            r = tokio::signal::ctrl_c() => match r {
                Ok(()) => "interrupted",
                Err(_) => return,
            },
            _ = sigterm => "terminated (SIGTERM)",
        };
        if n == 1 {
            eprintln!("mxscan: {what}: finishing the domains in flight (again to stop now)");
        }
        let _ = tx.send(n);
    }
}

/// The embedded provider table, plus `--providers FILE`.
/// The policy stage's configuration; a bad `--ca-file` or selector is a
/// one-line error here, before any output is opened or query sent.
pub(crate) fn policy_config(options: &args::PolicyOptions) -> Result<PolicyConfig> {
    let selectors: Vec<String> = match &options.dkim_selectors {
        Some(list) => list.iter().map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect(),
        None if options.dkim => {
            mxscan::policy::dkim::DEFAULT_SELECTORS.iter().map(|s| s.to_string()).collect()
        }
        None => Vec::new(),
    };
    for selector in &selectors {
        // RFC 6376 §3.1: a selector is one or more labels (letters, digits,
        // hyphens; underscores occur in practice).
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !selector.split('.').all(label_ok) {
            bail!(
                "--dkim-selectors: {selector:?} is not a selector (labels of letters, digits, '-' and '_')"
            );
        }
    }
    let fetch = FetchConfig { ca_file: options.ca_file.clone(), ..FetchConfig::default() };
    Ok(PolicyConfig::new(selectors, fetch)?)
}

pub(crate) fn provider_table(args: &ResolverArgs) -> Result<ProviderTable> {
    let mut table = ProviderTable::embedded();
    if let Some(path) = &args.providers {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        table.merge_toml(&text).with_context(|| format!("in {}", path.display()))?;
    }
    Ok(table)
}

/// The resolvers to ask: the flags, the file, or /etc/resolv.conf.
pub(crate) fn resolvers(args: &ResolverArgs) -> Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for r in &args.resolvers {
        out.push(parse_resolver(r)?);
    }
    if let Some(path) = &args.resolvers_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        for line in text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()) {
            out.push(parse_resolver(line).with_context(|| format!("in {}", path.display()))?);
        }
    }
    if out.is_empty() {
        let text = std::fs::read_to_string("/etc/resolv.conf")
            .context("no --resolver given and /etc/resolv.conf cannot be read")?;
        out = resolv_conf_nameservers(&text);
        if out.is_empty() {
            bail!("no --resolver given and /etc/resolv.conf lists no nameserver");
        }
    }
    out.dedup();
    if out.len() > scan::MAX_RESOLVERS {
        bail!(scan::ConfigError::TooManyResolvers(out.len()));
    }
    Ok(out)
}

/// `ADDR`, `ADDR:PORT`, `[V6]:PORT`, or a bare IPv6 address; port 53 by
/// default.
fn parse_resolver(s: &str) -> Result<SocketAddr> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    bail!("not a resolver address: {s:?} (want ADDR or ADDR:PORT)")
}

fn resolv_conf_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next())
        // A scoped link-local (fe80::1%eth0) cannot be parsed portably; skip it.
        .filter_map(|addr| addr.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

fn findings_table() -> String {
    use std::fmt::Write;
    let mut s = format!("{:<28} {:<8} {:<24} summary\n", "code", "severity", "reference");
    for f in CATALOGUE {
        let _ = writeln!(s, "{:<28} {:<8} {:<24} {}", f.code, f.severity.as_str(), f.reference, f.summary);
        let _ = writeln!(s, "{:<28} {:<8} {:<24} fix: {}", "", "", "", f.fix);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_forms() {
        assert_eq!(parse_resolver("127.0.0.1").unwrap(), "127.0.0.1:53".parse().unwrap());
        assert_eq!(parse_resolver("127.0.0.1:5353").unwrap(), "127.0.0.1:5353".parse().unwrap());
        assert_eq!(parse_resolver("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(parse_resolver("[::1]:8053").unwrap(), "[::1]:8053".parse().unwrap());
        assert!(parse_resolver("resolver.example").is_err());
        let conf = "# x\nnameserver 127.0.0.53\noptions edns0\nnameserver ::1\nnameserver fe80::1%eth0\n";
        assert_eq!(
            resolv_conf_nameservers(conf),
            vec!["127.0.0.53:53".parse::<SocketAddr>().unwrap(), "[::1]:53".parse().unwrap()]
        );
    }
}
