//! A whole scan: the input thread, the query engine, the writer thread.
//!
//! ```text
//! ListReader ──items──▶ engine (ScanCore + sockets) ──rows──▶ RowSink
//!   (thread)              (tokio, current task)           (thread)
//! ```
//!
//! Every item becomes exactly one row; errors that stop the scan (the
//! output fails, the input breaks) come back as [`ScanError`].

pub mod cpu;
mod engine;
mod threads;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::analyze::{Analyzer, providers::ProviderTable};
use crate::dns::ids::IdSource;
use crate::dns::ratelimit::RateLimit;
use crate::dns::socket::UnregisteredPool;
use crate::input::{InputError, InputStats, Item, ListReader};
use crate::output::{OutputError, RowSink};
use crate::policy::fetch::{FetchConfig, FetchSetupError, Fetcher};
use crate::record::{DomainRecord, Status};
use crate::resolve::core::{CoreConfig, CoreStats, ScanCore};

/// Items per chunk from the input thread.
const ITEM_CHUNK: usize = 512;

/// Everything a scan needs to know.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Recursive resolvers.
    pub resolvers: Vec<SocketAddr>,
    /// Queries per second over all resolvers; 0 = unlimited.
    pub rate: u32,
    /// Queries in flight at most: the ceiling of the adaptive windows (and
    /// domains open at most).
    pub concurrency: usize,
    /// Wait for one attempt.
    pub timeout: Duration,
    /// Further attempts after a failure.
    pub retries: u8,
    /// Ask MX only.
    pub mx_only: bool,
    /// UDP sockets (source ports).
    pub sockets: usize,
    /// Exchange outcomes cached for reuse.
    pub cache_capacity: usize,
    /// Provider fingerprints for the analysis stage.
    pub providers: Arc<ProviderTable>,
    /// 0x20 case randomisation of query names.
    pub randomize_case: bool,
    /// The mail policy stage (`--policy`); `None` to skip it.
    pub policy: Option<PolicyConfig>,
    /// Engine threads (`--engine-threads`), each with its own sockets, core
    /// and share of the domains and of `concurrency`; 0 = automatic
    /// ([`ScanConfig::engine_threads`]).
    pub engines: usize,
}

/// The policy stage's settings.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// DKIM selectors to probe at `<selector>._domainkey.<domain>` (empty
    /// without `--dkim`).
    pub dkim_selectors: Vec<String>,
    /// The MTA-STS policy fetcher (its TLS setup, `--ca-file` included, is
    /// checked when it is built: before anything is opened or sent).
    pub fetcher: Fetcher,
}

/// Policy fetches in flight at most: each is one TLS connection, and a slow
/// policy host must not hold many (RFC 8461 §3.3 fetches are rare: one per
/// MTA-STS domain).
pub const MAX_POLICY_FETCHES: usize = 64;

impl PolicyConfig {
    /// The policy stage probing `dkim_selectors`, fetching with `fetch`.
    pub fn new(dkim_selectors: Vec<String>, fetch: FetchConfig) -> Result<Self, FetchSetupError> {
        Ok(Self { dkim_selectors, fetcher: Fetcher::new(fetch, MAX_POLICY_FETCHES)? })
    }
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            resolvers: Vec::new(),
            rate: 1000,
            concurrency: 1000,
            timeout: Duration::from_secs(2),
            retries: 2,
            mx_only: false,
            sockets: 4,
            cache_capacity: 65_536,
            providers: Arc::new(ProviderTable::embedded()),
            randomize_case: false,
            policy: None,
            engines: 0,
        }
    }
}

/// Resolvers at most: the core numbers them with a `u16`.
pub const MAX_RESOLVERS: usize = u16::MAX as usize;
/// `--retries` at most: the attempt counter is a `u8`, and past a few
/// dozen attempts a question is not coming back anyway.
pub const MAX_RETRIES: u8 = 20;

/// Engine threads at most.
pub const MAX_ENGINE_THREADS: usize = 16;
/// Under this `--rate` one engine thread has time to spare (one thread
/// answers over 100,000 queries a second on a 2-core machine; `scripts/bench`),
/// so the automatic choice stays at one.
const ONE_ENGINE_RATE: u32 = 50_000;

/// A setting out of its bounds: refused before any query is sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `--engine-threads` past [`MAX_ENGINE_THREADS`].
    #[error("--engine-threads {0} is too many (at most {MAX_ENGINE_THREADS})")]
    TooManyEngines(usize),
    /// Too many resolvers.
    #[error("{0} resolvers given; at most {MAX_RESOLVERS} are supported")]
    TooManyResolvers(usize),
    /// `--retries` past [`MAX_RETRIES`].
    #[error("--retries {0} is too many (at most {MAX_RETRIES})")]
    TooManyRetries(u8),
    /// `--concurrency 0`.
    #[error("--concurrency must be at least 1")]
    NoConcurrency,
    /// More attempts could be outstanding than the sockets have query ids.
    #[error(
        "--concurrency {concurrency} with --retries {retries} can keep {needed} attempts waiting, more than \
         half the query ids of --sockets {sockets} ({available}); raise --sockets or lower --concurrency"
    )]
    NotEnoughIds {
        /// `--concurrency`.
        concurrency: usize,
        /// `--retries`.
        retries: u8,
        /// `--sockets`.
        sockets: usize,
        /// Attempts that may wait at once.
        needed: usize,
        /// Half the ids of the sockets.
        available: usize,
    },
}

impl ScanConfig {
    /// The engine threads this scan runs: `engines` when set; otherwise one,
    /// unless the rate is unlimited or high and every resolver is elsewhere,
    /// then one per core (at most 4). A resolver on this machine (loopback)
    /// needs the cores itself: a second engine thread would take them from it.
    pub fn engine_threads(&self) -> usize {
        let wanted = if self.engines > 0 {
            self.engines
        } else if (self.rate != 0 && self.rate <= ONE_ENGINE_RATE)
            || self.resolvers.iter().any(|r| r.ip().is_loopback())
        {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
        };
        wanted.clamp(1, MAX_ENGINE_THREADS).min(self.concurrency.max(1))
    }

    /// Check the knobs against what the engine can do. Every attempt keeps
    /// its (socket, id) pair until `--timeout` (a late answer is still
    /// taken), so up to `concurrency × (retries + 1)` may wait at once; ids
    /// are drawn at random, which stays quick while at most half of each
    /// socket's 65,536 are taken.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.resolvers.len() > MAX_RESOLVERS {
            return Err(ConfigError::TooManyResolvers(self.resolvers.len()));
        }
        if self.retries > MAX_RETRIES {
            return Err(ConfigError::TooManyRetries(self.retries));
        }
        if self.concurrency == 0 {
            return Err(ConfigError::NoConcurrency);
        }
        if self.engines > MAX_ENGINE_THREADS {
            return Err(ConfigError::TooManyEngines(self.engines));
        }
        let needed = self.concurrency.saturating_mul(usize::from(self.retries) + 1);
        let available = self.sockets.max(1) * (crate::dns::inflight::InflightTable::IDS_PER_SOCKET / 2);
        if needed > available {
            return Err(ConfigError::NotEnoughIds {
                concurrency: self.concurrency,
                retries: self.retries,
                sockets: self.sockets,
                needed,
                available,
            });
        }
        Ok(())
    }
}

/// Live counters, read by the progress bar while the scan runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// Domains finished (invalid lines not included).
    pub done: AtomicU64,
    /// Rows written.
    pub written: AtomicU64,
    /// Rows handed to the writer (by every engine thread): the writer's
    /// backlog is `handed - written`.
    pub handed: AtomicU64,
    /// UDP queries sent.
    pub sent: AtomicU64,
    /// Answers accepted.
    pub answers: AtomicU64,
    /// Attempts timed out.
    pub timeouts: AtomicU64,
}

/// What a finished scan reports.
#[derive(Debug, Clone, Default)]
pub struct ScanSummary {
    /// Rows by status, in [`Status::ALL`] order.
    pub by_status: [u64; 7],
    /// Engine counters.
    pub core: CoreStats,
    /// Input counters.
    pub input: InputStats,
    /// Wall time.
    pub wall: Duration,
    /// Resolvers that stopped getting queries.
    pub sidelined: Vec<SocketAddr>,
    /// Every resolver the scan was given.
    pub resolvers: Vec<SocketAddr>,
    /// CPU by stage.
    pub cpu: cpu::StageCpu,
}

impl ScanSummary {
    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.by_status.iter().sum()
    }

    /// The summary's counters as one JSON object (`--stats FILE`, and a
    /// dataset's `_stats.json`): the same numbers as [`Self::line`], for
    /// programs.
    pub fn to_json(&self) -> serde_json::Value {
        let secs = self.wall.as_secs_f64();
        let per_second = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let by_status: serde_json::Map<String, serde_json::Value> =
            Status::ALL.iter().zip(self.by_status).map(|(s, n)| (s.as_str().to_string(), n.into())).collect();
        let addrs = |list: &[SocketAddr]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        serde_json::json!({
            "rows": self.rows(),
            "rows_by_status": by_status,
            "queries_sent": self.core.sent,
            "answers": self.core.answers,
            "timeouts": self.core.timeouts,
            "retries": self.core.retries,
            "retransmits": self.core.retransmits,
            "window_cuts": self.core.window_cuts,
            "send_errors": self.core.send_errors,
            "tcp_fallbacks": self.core.tcp,
            "tcp_connections": self.core.tcp_connections,
            "unmatched": self.core.unmatched,
            "late": self.core.late,
            "malformed": self.core.malformed,
            "input_lines": self.input.lines,
            "duplicate_lines": self.input.duplicates,
            "resumed_lines": self.input.resumed,
            "other_shard_lines": self.input.other_shards,
            "elapsed_seconds": secs,
            "domains_per_second": per_second(self.rows()),
            "queries_per_second": per_second(self.core.sent),
            "resolvers": addrs(&self.resolvers),
            "sidelined_resolvers": addrs(&self.sidelined),
            "cpu_seconds": {
                "input": self.cpu.input.as_secs_f64(),
                "engine": self.cpu.engine.as_secs_f64(),
                "analysis": self.cpu.analysis.as_secs_f64(),
                "arrow": self.cpu.arrow.as_secs_f64(),
                "parquet": self.cpu.parquet.as_secs_f64(),
                "writer_other": self.cpu.writer_other.as_secs_f64(),
            },
        })
    }

    /// The one-line summary printed at the end.
    pub fn line(&self) -> String {
        let statuses: Vec<String> = Status::ALL
            .iter()
            .zip(self.by_status)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        let secs = self.wall.as_secs_f64().max(1e-9);
        format!(
            "{} rows ({}) in {:.1}s, {:.0} domains/s; {} queries ({:.0}/s), {} answers, {} timeouts, {} TCP ({} connections); \
             {} answers dropped as invalid ({} unmatched, {} malformed); {} late answers ignored; {} duplicate lines skipped{}{}",
            self.rows(),
            if statuses.is_empty() { "none".to_string() } else { statuses.join(", ") },
            secs,
            self.rows() as f64 / secs,
            self.core.sent,
            self.core.sent as f64 / secs,
            self.core.answers,
            self.core.timeouts,
            self.core.tcp,
            self.core.tcp_connections,
            self.core.unmatched + self.core.malformed,
            self.core.unmatched,
            self.core.malformed,
            self.core.late,
            self.input.duplicates,
            if self.input.resumed > 0 {
                format!("; {} lines already in the dataset", self.input.resumed)
            } else {
                String::new()
            } + &if self.input.other_shards > 0 {
                format!("; {} lines of other shards", self.input.other_shards)
            } else {
                String::new()
            },
            if self.sidelined.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = self.sidelined.iter().map(ToString::to_string).collect();
                format!("; sidelined resolvers: {}", list.join(", "))
            },
        )
    }
}

/// Why a scan stopped before the end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The input broke part way.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The output failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Sockets could not be set up.
    #[error("cannot open UDP sockets")]
    Socket(#[source] std::io::Error),
    /// A UDP socket failed during the scan. Rows written so far are kept.
    #[error("scan stopped after {rows} row(s): UDP socket error: {reason}")]
    SocketFailed {
        /// The socket error.
        reason: String,
        /// Rows written before stopping.
        rows: u64,
    },
    /// No resolver to ask.
    #[error("no resolver given")]
    NoResolver,
    /// A knob out of bounds.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Interrupted (Ctrl-C); the rows finished before are written.
    #[error("interrupted: {rows} row(s) written{}", if *.finished { " (domains in flight finished)" } else { "" })]
    Interrupted {
        /// Rows written.
        rows: u64,
        /// The domains in flight were finished (one Ctrl-C) or dropped (two).
        finished: bool,
    },
    /// Every resolver stopped answering: the scan stopped rather than time
    /// out every remaining domain. Rows written so far are kept.
    #[error("scan stopped after {rows} row(s): {reason}")]
    ResolversDead {
        /// Why.
        reason: String,
        /// Rows written before stopping.
        rows: u64,
    },
}

/// Where items come from: a list file, or names given on a command line.
pub enum Source {
    /// A list being read.
    List(ListReader),
    /// Items already in memory.
    Items(Vec<Item>),
}

/// Interruptions so far (Ctrl-C): 1 = finish the domains in flight, take
/// no more; 2 = stop at once. Rows already finished are always written.
pub type Interrupts = tokio::sync::watch::Receiver<u8>;

/// Run a scan from `source` into `sink`. Must be called inside a tokio
/// runtime (the engine's sockets register with it).
pub async fn run(
    cfg: &ScanConfig,
    source: Source,
    sink: Box<dyn RowSink>,
    counters: Arc<Counters>,
    interrupts: Interrupts,
) -> Result<ScanSummary, ScanError> {
    if cfg.resolvers.is_empty() {
        return Err(ScanError::NoResolver);
    }
    cfg.check()?;
    let started = Instant::now();
    let cpu_at_start = cpu::process_cpu();
    // Every engine's sockets are bound before anything is sent; each engine
    // takes an equal share of the concurrency (the share of the last ones
    // rounded down, so the sum is `concurrency`).
    let engines = cfg.engine_threads();
    let limiter = Arc::new(RateLimit::new(cfg.rate));
    let dkim_selectors: Option<Arc<[String]>> =
        cfg.policy.as_ref().map(|p| Arc::from(p.dkim_selectors.clone()));
    let mut item_txs = Vec::with_capacity(engines);
    let mut parts = Vec::with_capacity(engines);
    for i in 0..engines {
        let pool = UnregisteredPool::bind(cfg.sockets, &cfg.resolvers).map_err(ScanError::Socket)?;
        let concurrency = cfg.concurrency / engines + usize::from(i < cfg.concurrency % engines);
        let core = ScanCore::new(
            CoreConfig {
                resolvers: cfg.resolvers.clone(),
                sockets: pool.len() as u16,
                timeout: cfg.timeout,
                retries: cfg.retries,
                concurrency,
                mx_only: cfg.mx_only,
                cache_capacity: cfg.cache_capacity,
                randomize_case: cfg.randomize_case,
                policy: dkim_selectors.clone(),
            },
            IdSource::os(),
        );
        let loop_cfg = engine::LoopConfig {
            concurrency,
            limiter: Arc::clone(&limiter),
            tcp_timeout: cfg.timeout * 2,
            fetcher: cfg.policy.as_ref().map(|p| p.fetcher.clone()),
        };
        // Items and rows cross threads in chunks: one wake-up per chunk, not
        // per domain (a futex wake per row cost more than the DNS work).
        let (item_tx, item_rx) = mpsc::channel::<Vec<Item>>(8);
        item_txs.push(item_tx);
        parts.push(threads::EnginePart { cfg: loop_cfg, core, pool, input: item_rx });
    }
    let mut dispatch = threads::Dispatch::new(item_txs);
    let reader = std::thread::Builder::new()
        .name("mxscan-input".into())
        .spawn(move || -> (Result<InputStats, InputError>, Duration) {
            let read = || match source {
                Source::Items(items) => {
                    dispatch.send(items);
                    Ok(InputStats::default())
                }
                Source::List(mut list) => {
                    let mut chunk = Vec::with_capacity(ITEM_CHUNK);
                    while let Some(item) = list.next_item()? {
                        chunk.push(item);
                        if chunk.len() == ITEM_CHUNK {
                            let full = std::mem::replace(&mut chunk, Vec::with_capacity(ITEM_CHUNK));
                            if !dispatch.send(full) {
                                return Ok(list.stats());
                            }
                        }
                    }
                    if !chunk.is_empty() {
                        dispatch.send(chunk);
                    }
                    Ok(list.stats())
                }
            };
            let result = read();
            (result, cpu::thread_cpu())
        })
        .expect("spawn input thread");

    let (row_tx, mut row_rx) = mpsc::unbounded_channel::<Vec<DomainRecord>>();
    let writer_counters = Arc::clone(&counters);
    let mut analyzer = Analyzer::new(Arc::clone(&cfg.providers));
    let clock = Arc::new(cpu::StageClock::default());
    let writer_clock = Arc::clone(&clock);
    let mut sink = sink;
    sink.attach_clock(Arc::clone(&clock));
    // The writer hands the sink back unfinished: only once the input and the
    // engine have both ended well may the output get its final name.
    type Written = (Box<dyn RowSink>, [u64; 7], Duration);
    let writer = std::thread::Builder::new()
        .name("mxscan-writer".into())
        .spawn(move || -> Result<Written, OutputError> {
            let mut sink = sink;
            let mut by_status = [0u64; 7];
            while let Some(mut rows) = row_rx.blocking_recv() {
                let n = rows.len() as u64;
                // Analysis runs here, off the query engine's thread.
                writer_clock.analysis(|| rows.iter_mut().for_each(|row| analyzer.analyze(row)));
                for row in rows {
                    by_status[Status::ALL.iter().position(|s| *s == row.status).expect("known status")] += 1;
                    sink.write(row)?;
                }
                writer_counters.written.fetch_add(n, Relaxed);
            }
            Ok((sink, by_status, cpu::thread_cpu()))
        })
        .expect("spawn writer thread");

    let engine_result = threads::run(parts, row_tx, Arc::clone(&counters), interrupts).await;

    // The writer's error explains an engine stop, so it is checked first
    // (its sink is dropped unfinished: the partial file stays partial).
    let (sink, by_status, writer_cpu) = writer.join().expect("writer thread")?;
    let rows = by_status.iter().sum();
    // On an early stop the input thread may be blocked on a full channel;
    // dropping nothing more is needed: its receiver is gone with the engine.
    let (input, input_cpu) = reader.join().expect("input thread");
    let input = match input {
        Ok(input) => input,
        Err(err) => {
            // The list broke part way (a damaged gzip, a read error): the
            // rows cover only part of it, so the output must not look whole.
            sink.abandon()?;
            return Err(err.into());
        }
    };
    match engine_result {
        Ok((core, sidelined)) => {
            let finish_started = cpu::thread_cpu();
            sink.finish()?;
            let finish_cpu = cpu::thread_cpu().saturating_sub(finish_started);
            let total = cpu::process_cpu().saturating_sub(cpu_at_start);
            let (analysis, arrow, parquet) = clock.read();
            let writer_total = writer_cpu + finish_cpu;
            let cpu = cpu::StageCpu {
                input: input_cpu,
                engine: total.saturating_sub(input_cpu + writer_total),
                analysis,
                arrow,
                parquet,
                writer_other: writer_total.saturating_sub(analysis + arrow + parquet),
            };
            let resolvers = cfg.resolvers.clone();
            Ok(ScanSummary { by_status, core, input, wall: started.elapsed(), sidelined, resolvers, cpu })
        }
        Err(engine::Stop::Socket(reason)) => {
            // The sockets failed part way: the rest was never asked.
            sink.abandon()?;
            Err(ScanError::SocketFailed { reason, rows })
        }
        Err(engine::Stop::OutputClosed | engine::Stop::Aborted) => {
            Err(ScanError::Output(OutputError::Write(std::io::Error::other("the writer stopped early"))))
        }
        Err(engine::Stop::ResolversDead(reason)) => {
            // The rest of the list was never asked: incomplete.
            sink.abandon()?;
            Err(ScanError::ResolversDead { reason, rows })
        }
        Err(engine::Stop::Interrupted { finished }) => {
            // Ctrl-C is the user's own choice to stop: the rows so far are
            // the output they asked for (README, "Ctrl-C").
            sink.finish()?;
            Err(ScanError::Interrupted { rows, finished })
        }
    }
}

/// A sink that keeps rows in memory (for `mxscan lookup` and tests).
#[derive(Debug, Clone, Default)]
pub struct Collect(pub Arc<std::sync::Mutex<Vec<DomainRecord>>>);

impl RowSink for Collect {
    fn write(&mut self, row: DomainRecord) -> Result<(), OutputError> {
        self.0.lock().expect("not poisoned").push(row);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), OutputError> {
        Ok(())
    }

    fn abandon(self: Box<Self>) -> Result<(), OutputError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(resolver: &str, rate: u32, engines: usize) -> ScanConfig {
        ScanConfig {
            resolvers: vec![resolver.parse().expect("addr")],
            rate,
            engines,
            ..ScanConfig::default()
        }
    }

    #[test]
    fn one_engine_thread_unless_the_rate_is_high_and_the_resolver_elsewhere() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        // The default rate: one thread has time to spare.
        assert_eq!(cfg("192.0.2.1:53", 1000, 0).engine_threads(), 1);
        // A resolver on this machine needs the cores itself.
        assert_eq!(cfg("127.0.0.1:53", 0, 0).engine_threads(), 1);
        assert_eq!(cfg("[::1]:53", 0, 0).engine_threads(), 1);
        assert_eq!(cfg("192.0.2.1:53", 0, 0).engine_threads(), cores);
        assert_eq!(cfg("192.0.2.1:53", 100_000, 0).engine_threads(), cores);
        // Asked for: given, but never more threads than domains in flight.
        assert_eq!(cfg("127.0.0.1:53", 1000, 3).engine_threads(), 3);
        assert_eq!(ScanConfig { concurrency: 2, ..cfg("127.0.0.1:53", 0, 8) }.engine_threads(), 2);
        assert_eq!(
            cfg("127.0.0.1:53", 0, MAX_ENGINE_THREADS + 1).check(),
            Err(ConfigError::TooManyEngines(17))
        );
    }
}
