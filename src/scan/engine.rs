//! The event loop: moves bytes between the UDP sockets, TCP tasks and the
//! sans-IO [`ScanCore`], under the rate limit and the concurrency bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::Counters;
use crate::dns::ratelimit::RateLimit;
use crate::dns::socket::{BATCH, RecvBatch, UdpPool};
use crate::dns::tcp::{TcpError, TcpPool};
use crate::input::Item;
use crate::policy::fetch::{FetchOutcome, Fetcher};
use crate::record::DomainRecord;
use crate::resolve::core::{CoreEvent, CoreStats, ScanCore};
use crate::resolve::policy::FetchResult;

/// Rows handed to the writer but not yet written, past which no new domain
/// is admitted: a slow disk must slow the scan, not fill memory.
const WRITER_BACKLOG: u64 = 32_768;
/// Rows per chunk to the writer.
const ROW_CHUNK: usize = 256;
/// A partial chunk waits at most this long (so a slow scan still streams).
const ROW_LINGER: Duration = Duration::from_millis(50);

/// Knobs of the loop (the core has its own).
#[derive(Debug, Clone)]
pub(crate) struct LoopConfig {
    pub(crate) concurrency: usize,
    /// The global rate limit, shared by every engine thread.
    pub(crate) limiter: Arc<RateLimit>,
    pub(crate) tcp_timeout: Duration,
    /// The MTA-STS policy fetcher, when the policy stage runs.
    pub(crate) fetcher: Option<Fetcher>,
}

/// What tells a loop to stop: the user (Ctrl-C) and the other engine
/// threads (one of them stopped the scan).
pub(crate) struct Signals {
    pub(crate) interrupts: super::Interrupts,
    pub(crate) abort: tokio::sync::watch::Receiver<bool>,
}

/// Why the loop stopped early.
#[derive(Debug, Clone)]
pub(crate) enum Stop {
    /// The writer has gone away (it failed; its error is reported by the caller).
    OutputClosed,
    /// A UDP socket failed while waiting or receiving (the error's text):
    /// not one resolver's trouble but the scan's.
    Socket(String),
    /// No usable resolver answers.
    ResolversDead(String),
    /// Ctrl-C: `finished` when the domains in flight were completed.
    Interrupted {
        /// Whether the domains in flight were finished.
        finished: bool,
    },
    /// Another engine thread stopped the scan (its reason is the one
    /// reported).
    Aborted,
}

use Stop::OutputClosed;

type TcpResult = (u64, Result<Vec<u8>, TcpError>);
type FetchDone = (u32, FetchOutcome);

struct Engine {
    cfg: LoopConfig,
    core: ScanCore,
    pool: UdpPool,
    counters: Arc<Counters>,
    /// The core's counters as last added to `counters` (several engines add
    /// to the same ones).
    published: CoreStats,
    input: mpsc::Receiver<Vec<Item>>,
    items: std::vec::IntoIter<Item>,
    input_done: bool,
    output: mpsc::UnboundedSender<Vec<DomainRecord>>,
    rows: Vec<DomainRecord>,
    rows_since: Option<Instant>,
    tcp: Arc<TcpPool>,
    tcp_tx: mpsc::UnboundedSender<TcpResult>,
    tcp_open: usize,
    fetch_tx: mpsc::UnboundedSender<FetchDone>,
    fetch_open: usize,
    outbox: Vec<Vec<(SocketAddr, Vec<u8>)>>,
    spare: Vec<Vec<u8>>,
    blocked_socket: Option<usize>,
    /// Datagrams the kernel would not send, and ICMP errors it reported on
    /// a send (see [`UdpPool::send_batch`]).
    send_errors: u64,
}

/// Run until the input is exhausted and every domain is finished.
pub(crate) async fn run(
    cfg: LoopConfig,
    core: ScanCore,
    pool: UdpPool,
    input: mpsc::Receiver<Vec<Item>>,
    output: mpsc::UnboundedSender<Vec<DomainRecord>>,
    counters: Arc<Counters>,
    signals: Signals,
) -> Result<(CoreStats, Vec<SocketAddr>), Stop> {
    let Signals { mut interrupts, mut abort } = signals;
    let (tcp_tx, mut tcp_rx) = mpsc::unbounded_channel::<TcpResult>();
    let (fetch_tx, mut fetch_rx) = mpsc::unbounded_channel::<FetchDone>();
    let tcp_timeout = cfg.tcp_timeout;
    let mut engine = Engine {
        published: CoreStats::default(),
        outbox: vec![Vec::new(); pool.len()],
        cfg,
        core,
        pool,
        counters,
        input,
        items: Vec::new().into_iter(),
        input_done: false,
        output,
        rows: Vec::with_capacity(ROW_CHUNK),
        rows_since: None,
        tcp: Arc::new(TcpPool::new(tcp_timeout)),
        tcp_tx,
        tcp_open: 0,
        fetch_tx,
        fetch_open: 0,
        spare: Vec::new(),
        blocked_socket: None,
        send_errors: 0,
    };
    let mut recv = RecvBatch::default();

    loop {
        let now = Instant::now();
        engine.core.handle_timeout(now);
        engine.admit_buffered(now)?;
        engine.spawn_tcp();
        engine.spawn_fetches();
        let rate_wait = engine.transmit(now);
        engine.collect_rows(now)?;
        if let Err(stop) = engine.report_health() {
            // Keep every row finished so far.
            engine.flush_rows()?;
            return Err(stop);
        }

        if *abort.borrow() {
            engine.flush_rows()?;
            return Err(Stop::Aborted);
        }
        let interrupted = *interrupts.borrow();
        if interrupted >= 2 {
            engine.flush_rows()?;
            return Err(Stop::Interrupted { finished: false });
        }
        if interrupted == 1 && !engine.input_done {
            // Take no more domains; finish the ones in flight.
            engine.input_done = true;
            engine.items = Vec::new().into_iter();
        }
        if engine.input_done
            && engine.items.len() == 0
            && engine.core.is_idle()
            && engine.tcp_open == 0
            && engine.fetch_open == 0
        {
            engine.flush_rows()?;
            if interrupted == 1 {
                return Err(Stop::Interrupted { finished: true });
            }
            let mut stats = engine.core.stats();
            stats.tcp_connections = engine.tcp.counters.connections.load(Relaxed);
            stats.send_errors = engine.send_errors;
            return Ok((stats, engine.core.sidelined()));
        }

        // Sleep until something happens.
        let mut wake = engine.core.poll_timeout();
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        if let Some(wait) = rate_wait {
            at(now + wait);
        }
        if let Some(since) = engine.rows_since {
            at(since + ROW_LINGER);
        }
        let want_input = !engine.input_done && engine.items.len() == 0 && engine.has_room();
        if !engine.input_done && !engine.has_room() && engine.core.is_idle() {
            // Held back only by the writer: look again shortly.
            at(now + Duration::from_millis(5));
        }
        let blocked = engine.blocked_socket;
        let step: Result<(), Stop> = tokio::select! {
            biased;
            ready = engine.pool.readable() => match ready {
                Ok(first) => engine.receive(first, &mut recv),
                Err(e) => Err(socket_stop(e)),
            },
            Some((token, result)) = tcp_rx.recv() => {
                engine.tcp_open -= 1;
                engine.core.handle_tcp(token, result, Instant::now());
                Ok(())
            }
            Some((handle, outcome)) = fetch_rx.recv() => {
                engine.fetch_open -= 1;
                let result = FetchResult {
                    body: outcome.result.map_err(|e| e.to_string()),
                    cert_not_after_ms: outcome.cert_not_after,
                };
                engine.core.handle_fetch(handle, result);
                Ok(())
            }
            ready = async { engine.pool.writable(blocked.unwrap_or(0)).await }, if blocked.is_some() => {
                ready.map(|()| engine.blocked_socket = engine.flush_outbox()).map_err(socket_stop)
            }
            chunk = engine.input.recv(), if want_input => {
                match chunk {
                    Some(chunk) => engine.items = chunk.into_iter(),
                    None => engine.input_done = true,
                }
                Ok(())
            }
            _ = interrupts.changed() => Ok(()),
            _ = abort.changed() => Ok(()),
            _ = sleep_until(wake), if wake.is_some() => Ok(()),
        };
        if let Err(stop) = step {
            // Keep every row finished so far.
            engine.flush_rows()?;
            return Err(stop);
        }
        engine.publish_counters();
    }
}

/// A socket error stops the scan as what it is (never as "the writer stopped").
fn socket_stop(e: std::io::Error) -> Stop {
    Stop::Socket(e.to_string())
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

impl Engine {
    /// Tell the user about sidelined resolvers; stop when none answers.
    fn report_health(&mut self) -> Result<(), Stop> {
        while let Some(event) = self.core.poll_event() {
            match event {
                CoreEvent::Sidelined { resolver, reason } => {
                    eprintln!("mxscan: warning: resolver {resolver} sidelined: {reason}");
                }
            }
        }
        match self.core.fatal() {
            Some(reason) => Err(Stop::ResolversDead(reason.to_string())),
            None => Ok(()),
        }
    }

    fn has_room(&self) -> bool {
        self.core.active_domains() < self.cfg.concurrency
            && self.core.wants_domains()
            && self.counters.handed.load(Relaxed).saturating_sub(self.counters.written.load(Relaxed))
                < WRITER_BACKLOG
    }

    /// Admit buffered items (then whole chunks already queued) while there
    /// is room.
    fn admit_buffered(&mut self, now: Instant) -> Result<(), Stop> {
        while self.has_room() {
            let item = match self.items.next() {
                Some(item) => item,
                None if self.input_done => break,
                None => match self.input.try_recv() {
                    Ok(chunk) => {
                        self.items = chunk.into_iter();
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        self.input_done = true;
                        break;
                    }
                },
            };
            match item {
                Item::Target(target) => self.core.admit(target, now),
                Item::Invalid { input, rank, reason, line } => {
                    let row = DomainRecord { line, ..DomainRecord::invalid(input, rank, reason) };
                    self.push_row(row, now)?;
                }
            }
        }
        Ok(())
    }

    /// Truncated answers go to TCP tasks.
    fn spawn_tcp(&mut self) {
        while let Some(q) = self.core.poll_tcp() {
            self.tcp_open += 1;
            let (tcp, tx) = (Arc::clone(&self.tcp), self.tcp_tx.clone());
            tokio::spawn(async move {
                let result = tcp.query(q.dest, &q.query).await;
                let _ = tx.send((q.token, result));
            });
        }
    }

    /// Policy fetches go to tasks of their own (the fetcher bounds how many
    /// connect at once).
    fn spawn_fetches(&mut self) {
        while let Some((handle, request)) = self.core.poll_fetch() {
            // Fetches run as tasks of their own, so a slow policy host never
            // holds up DNS work.
            let Some(fetcher) = self.cfg.fetcher.clone() else {
                // The core asks for fetches only when the policy stage runs,
                // and then there is a fetcher; answer rather than hang.
                let body = Err("no policy fetcher".to_string());
                self.core.handle_fetch(handle, FetchResult { body, cert_not_after_ms: None });
                continue;
            };
            self.fetch_open += 1;
            let tx = self.fetch_tx.clone();
            tokio::spawn(async move {
                let outcome = fetcher.fetch(&request.domain, &request.addrs).await;
                let _ = tx.send((handle, outcome));
            });
        }
    }

    /// Send what the core wants sent, within the rate and in-flight bounds.
    /// Returns how long to wait for the rate limit, if it stopped us.
    fn transmit(&mut self, now: Instant) -> Option<Duration> {
        if self.blocked_socket.is_some() {
            return None;
        }
        let mut rate_wait = None;
        loop {
            // The core's windows decide how much may be in flight.
            let want = self.core.sendable().min(BATCH * self.pool.len());
            if want == 0 {
                break;
            }
            let n = match self.cfg.limiter.take(want) {
                Ok(n) => n,
                Err(wait) => {
                    rate_wait = Some(wait);
                    break;
                }
            };
            for _ in 0..n {
                let mut buf = self.spare.pop().unwrap_or_default();
                match self.core.poll_transmit(now, &mut buf) {
                    Some(t) => self.outbox[t.socket as usize].push((t.dest, buf)),
                    None => break,
                }
            }
            self.blocked_socket = self.flush_outbox();
            if self.blocked_socket.is_some() {
                break;
            }
        }
        rate_wait
    }

    /// Send every socket's queued datagrams. Returns the first socket whose
    /// buffer is full (its remaining datagrams stay queued, in order).
    fn flush_outbox(&mut self) -> Option<usize> {
        let mut blocked = None;
        for (i, queue) in self.outbox.iter_mut().enumerate() {
            if queue.is_empty() {
                continue;
            }
            let packets: Vec<(SocketAddr, &[u8])> = queue.iter().map(|(a, b)| (*a, b.as_slice())).collect();
            // A datagram the kernel would not send (e.g. no route) is lost
            // alone, like one dropped on the way: its attempt times out and
            // is retried. A refusal (a closed port reported by ICMP on a
            // connected socket) is the resolver's trouble, which its
            // timeouts tell the core; neither stops the scan.
            let report = self.pool.send_batch(i, &packets);
            drop(packets);
            if let Some((k, e)) = report.failed.first()
                && self.send_errors == 0
            {
                eprintln!("mxscan: warning: cannot send to {}: {e} (counted, not repeated)", queue[*k].0);
            }
            self.send_errors += (report.failed.len() + report.refused.len()) as u64;
            self.spare.extend(queue.drain(..report.done).map(|(_, b)| b));
            if !queue.is_empty() && blocked.is_none() {
                blocked = Some(i);
            }
        }
        blocked
    }

    /// Drain the sockets, starting with the one that woke us.
    fn receive(&mut self, first: usize, recv: &mut RecvBatch) -> Result<(), Stop> {
        let now = Instant::now();
        let sockets = self.pool.len();
        for k in 0..sockets {
            let i = (first + k) % sockets;
            // Bounded per wake-up so timers and sends keep their turn.
            for _ in 0..16 {
                let n = self.pool.recv_batch(i, recv).map_err(socket_stop)?;
                for j in 0..n {
                    if let Some((src, data)) = recv.get(j) {
                        self.core.handle_datagram(i as u16, src, data, now);
                    }
                }
                if n < BATCH {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Add what the core counted since the last call to the shared
    /// counters (the progress bar's).
    fn publish_counters(&mut self) {
        let now = self.core.stats();
        let last = std::mem::replace(&mut self.published, now);
        self.counters.sent.fetch_add(now.sent - last.sent, Relaxed);
        self.counters.answers.fetch_add(now.answers - last.answers, Relaxed);
        self.counters.timeouts.fetch_add(now.timeouts - last.timeouts, Relaxed);
    }

    fn collect_rows(&mut self, now: Instant) -> Result<(), Stop> {
        while let Some(row) = self.core.poll_completed() {
            self.counters.done.fetch_add(1, Relaxed);
            self.push_row(row, now)?;
        }
        if self.rows_since.is_some_and(|t| now >= t + ROW_LINGER) {
            self.flush_rows()?;
        }
        Ok(())
    }

    fn push_row(&mut self, row: DomainRecord, now: Instant) -> Result<(), Stop> {
        self.rows.push(row);
        self.counters.handed.fetch_add(1, Relaxed);
        self.rows_since.get_or_insert(now);
        if self.rows.len() >= ROW_CHUNK {
            self.flush_rows()?;
        }
        Ok(())
    }

    fn flush_rows(&mut self) -> Result<(), Stop> {
        self.rows_since = None;
        if self.rows.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.rows, Vec::with_capacity(ROW_CHUNK));
        self.output.send(chunk).map_err(|_| OutputClosed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_errors_stop_as_socket_errors() {
        let stop = socket_stop(std::io::Error::from_raw_os_error(libc::EBADF));
        let Stop::Socket(text) = stop else { panic!("{stop:?}") };
        assert!(text.contains("Bad file descriptor"), "{text}");
        let err = crate::scan::ScanError::SocketFailed { reason: text, rows: 3 };
        let shown = err.to_string();
        assert!(shown.contains("UDP socket error") && !shown.contains("writer"), "{shown}");
    }
}
