//! The event loop: moves bytes between the UDP sockets, TCP tasks and the
//! sans-IO [`ScanCore`], under the rate limit and the concurrency bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};

use super::Counters;
use crate::dns::ratelimit::RateLimit;
use crate::dns::socket::{BATCH, RecvBatch, UdpPool};
use crate::dns::tcp;
use crate::input::Item;
use crate::record::DomainRecord;
use crate::resolve::core::{CoreStats, ScanCore};

/// Rows handed to the writer but not yet written, past which no new domain
/// is admitted: a slow disk must slow the scan, not fill memory.
const WRITER_BACKLOG: u64 = 32_768;

/// Knobs of the loop (the core has its own).
#[derive(Debug, Clone)]
pub(crate) struct LoopConfig {
    pub(crate) concurrency: usize,
    pub(crate) rate: u32,
    pub(crate) tcp_timeout: Duration,
}

/// Run until the input is exhausted and every domain is finished.
pub(crate) async fn run(
    cfg: LoopConfig,
    mut core: ScanCore,
    pool: UdpPool,
    mut input: mpsc::Receiver<Item>,
    output: mpsc::UnboundedSender<DomainRecord>,
    counters: Arc<Counters>,
) -> Result<CoreStats, OutputClosed> {
    let limiter = RateLimit::new(cfg.rate);
    let tcp_slots = Arc::new(Semaphore::new(tcp::MAX_CONNECTIONS));
    let (tcp_tx, mut tcp_rx) = mpsc::unbounded_channel::<(u64, Result<Vec<u8>, String>)>();
    let mut tcp_open = 0usize;
    let mut input_done = false;
    let mut rows_sent = 0u64;
    let mut recv = RecvBatch::default();
    let mut outbox: Vec<Vec<(SocketAddr, Vec<u8>)>> = vec![Vec::new(); pool.len()];
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut blocked_socket: Option<usize> = None;

    loop {
        let now = Instant::now();
        core.handle_timeout(now);

        // Admit domains while there is room.
        let room = |core: &ScanCore, rows_sent: u64| {
            core.active_domains() < cfg.concurrency
                && rows_sent - counters.written.load(Relaxed) < WRITER_BACKLOG
        };
        while !input_done && room(&core, rows_sent) {
            match input.try_recv() {
                Ok(item) => admit(&mut core, item, now, &output, &mut rows_sent)?,
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => input_done = true,
            }
        }

        // Truncated answers go to TCP tasks.
        while let Some(q) = core.poll_tcp() {
            tcp_open += 1;
            let (slots, tx, timeout) = (Arc::clone(&tcp_slots), tcp_tx.clone(), cfg.tcp_timeout);
            tokio::spawn(async move {
                let _permit = slots.acquire_owned().await;
                let result = tcp::query(q.dest, &q.query, timeout).await.map_err(|e| format!("TCP: {e}"));
                let _ = tx.send((q.token, result));
            });
        }

        // Send what the core wants sent, within the rate and in-flight bounds.
        let mut rate_wait = None;
        if blocked_socket.is_none() {
            loop {
                let room = cfg.concurrency.saturating_sub(core.in_flight());
                let want = core.queued().min(room).min(BATCH * pool.len());
                if want == 0 {
                    break;
                }
                let n = match limiter.take(want) {
                    Ok(n) => n,
                    Err(wait) => {
                        rate_wait = Some(wait);
                        break;
                    }
                };
                for _ in 0..n {
                    let mut buf = spare.pop().unwrap_or_default();
                    match core.poll_transmit(now, &mut buf) {
                        Some(t) => outbox[t.socket as usize].push((t.dest, buf)),
                        None => break,
                    }
                }
                if let Some(i) = flush(&pool, &mut outbox, &mut spare) {
                    blocked_socket = Some(i);
                    break;
                }
            }
        }
        counters.sent.store(core.stats().sent, Relaxed);

        while let Some(row) = core.poll_completed() {
            counters.done.fetch_add(1, Relaxed);
            send_row(&output, row, &mut rows_sent)?;
        }

        if input_done && core.is_idle() && tcp_open == 0 {
            return Ok(core.stats());
        }

        // Sleep until something happens.
        let mut wake = core.poll_timeout();
        if let Some(wait) = rate_wait {
            wake = Some(wake.map_or(now + wait, |w| w.min(now + wait)));
        }
        let admit_now = !input_done && room(&core, rows_sent);
        if !input_done && !admit_now && core.is_idle() {
            // Held back only by the writer: look again shortly.
            wake = Some(now + Duration::from_millis(5));
        }
        tokio::select! {
            biased;
            ready = pool.readable() => {
                let first = ready.map_err(|_| OutputClosed)?;
                let now = Instant::now();
                for k in 0..pool.len() {
                    let i = (first + k) % pool.len();
                    // Bounded per wake-up so timers and sends keep their turn.
                    for _ in 0..16 {
                        let n = pool.recv_batch(i, &mut recv).unwrap_or(0);
                        for j in 0..n {
                            if let Some((src, data)) = recv.get(j) {
                                core.handle_datagram(i as u16, src, data, now);
                            }
                        }
                        if n < BATCH {
                            break;
                        }
                    }
                }
                counters.answers.store(core.stats().answers, Relaxed);
            }
            Some((token, result)) = tcp_rx.recv() => {
                tcp_open -= 1;
                core.handle_tcp(token, result, Instant::now());
            }
            _ = async { pool.writable(blocked_socket.unwrap_or(0)).await }, if blocked_socket.is_some() => {
                blocked_socket = None;
                if let Some(i) = flush(&pool, &mut outbox, &mut spare) {
                    blocked_socket = Some(i);
                }
            }
            item = input.recv(), if admit_now => match item {
                Some(item) => admit(&mut core, item, Instant::now(), &output, &mut rows_sent)?,
                None => input_done = true,
            },
            _ = sleep_until(wake), if wake.is_some() => {}
        }
        counters.timeouts.store(core.stats().timeouts, Relaxed);
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// The writer has gone away (it failed; its error is reported by the caller).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputClosed;

fn admit(
    core: &mut ScanCore,
    item: Item,
    now: Instant,
    output: &mpsc::UnboundedSender<DomainRecord>,
    rows_sent: &mut u64,
) -> Result<(), OutputClosed> {
    match item {
        Item::Target(target) => core.admit(target, now),
        Item::Invalid { input, rank, reason } => {
            send_row(output, DomainRecord::invalid(input, rank, reason), rows_sent)?
        }
    }
    Ok(())
}

fn send_row(
    output: &mpsc::UnboundedSender<DomainRecord>,
    row: DomainRecord,
    rows_sent: &mut u64,
) -> Result<(), OutputClosed> {
    *rows_sent += 1;
    output.send(row).map_err(|_| OutputClosed)
}

/// Send every socket's queued datagrams. Returns the first socket whose
/// buffer is full (its remaining datagrams stay queued, in order).
fn flush(
    pool: &UdpPool,
    outbox: &mut [Vec<(SocketAddr, Vec<u8>)>],
    spare: &mut Vec<Vec<u8>>,
) -> Option<usize> {
    let mut blocked = None;
    for (i, queue) in outbox.iter_mut().enumerate() {
        if queue.is_empty() {
            continue;
        }
        let packets: Vec<(SocketAddr, &[u8])> = queue.iter().map(|(a, b)| (*a, b.as_slice())).collect();
        // A send error other than a full buffer (e.g. no route) loses these
        // datagrams; their attempts time out and are retried.
        let sent = pool.send_batch(i, &packets).unwrap_or(packets.len());
        drop(packets);
        spare.extend(queue.drain(..sent).map(|(_, b)| b));
        if !queue.is_empty() && blocked.is_none() {
            blocked = Some(i);
        }
    }
    blocked
}
