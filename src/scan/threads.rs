//! Several engine threads: each runs [`engine::run`] on a runtime of its own
//! with its own sockets and [`ScanCore`], takes chunks of the input as they
//! come, and sends its rows to the one writer. They share the rate limit,
//! the counters and an abort signal: when one stops the scan, the others
//! stop too, and the first reason is the one reported.
//!
//! A resolver far away leaves this machine's cores to mxscan, and one engine
//! thread (receive, parse, state machines, send) is then the bound; with
//! more threads the cores share that work (`scripts/bench`, "mxscan has both
//! cores").

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::engine::{self, LoopConfig, Signals, Stop};
use super::{Counters, Interrupts};
use crate::dns::socket::UnregisteredPool;
use crate::input::Item;
use crate::record::DomainRecord;
use crate::resolve::core::{CoreStats, ScanCore};

/// One engine's parts, made before anything is sent.
pub(super) struct EnginePart {
    pub(super) cfg: LoopConfig,
    pub(super) core: ScanCore,
    pub(super) pool: UnregisteredPool,
    pub(super) input: mpsc::Receiver<Vec<Item>>,
}

/// What the engines did together: summed counters and every sidelined
/// resolver, or the scan's stop.
pub(super) type Outcome = Result<(CoreStats, Vec<SocketAddr>), Stop>;

/// Run every engine until all have ended; the first on this task (inside
/// the caller's runtime), the others on threads of their own.
pub(super) async fn run(
    parts: Vec<EnginePart>,
    output: mpsc::UnboundedSender<Vec<DomainRecord>>,
    counters: Arc<Counters>,
    interrupts: Interrupts,
) -> Outcome {
    let (abort_tx, abort_rx) = watch::channel(false);
    let abort_tx = Arc::new(abort_tx);
    let mut parts = parts.into_iter();
    let first = parts.next().expect("at least one engine");
    let threads: Vec<_> = parts
        .enumerate()
        .map(|(i, part)| {
            let (output, counters, interrupts) = (output.clone(), Arc::clone(&counters), interrupts.clone());
            let (abort_tx, abort_rx) = (Arc::clone(&abort_tx), abort_rx.clone());
            std::thread::Builder::new()
                .name(format!("mxscan-engine-{}", i + 1))
                .spawn(move || -> Outcome {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| Stop::Socket(e.to_string()))?;
                    let result = runtime.block_on(one(part, output, counters, interrupts, abort_rx));
                    if result.is_err() {
                        abort_tx.send_replace(true);
                    }
                    result
                })
                .expect("spawn engine thread")
        })
        .collect();
    let result = one(first, output, counters, interrupts, abort_rx).await;
    if result.is_err() {
        abort_tx.send_replace(true);
    }
    let mut results = vec![result];
    // The first engine is done; the others finish their share (or stop on
    // the abort), so waiting on them here holds up nothing of this one's.
    results.extend(threads.into_iter().map(|t| t.join().expect("engine thread")));
    merge(results)
}

async fn one(
    part: EnginePart,
    output: mpsc::UnboundedSender<Vec<DomainRecord>>,
    counters: Arc<Counters>,
    interrupts: Interrupts,
    abort: watch::Receiver<bool>,
) -> Outcome {
    let pool = part.pool.register().map_err(|e| Stop::Socket(e.to_string()))?;
    engine::run(part.cfg, part.core, pool, part.input, output, counters, Signals { interrupts, abort }).await
}

/// The engines' outcomes as one: the first real stop (not another engine's
/// abort) wins; then an interruption (finished only if every engine
/// finished its domains); else the counters summed.
fn merge(results: Vec<Outcome>) -> Outcome {
    let mut stats = CoreStats::default();
    let mut sidelined: Vec<SocketAddr> = Vec::new();
    let mut interrupted: Option<bool> = None;
    let mut aborted = false;
    for result in &results {
        match result {
            Ok((s, side)) => {
                stats += *s;
                for r in side {
                    if !sidelined.contains(r) {
                        sidelined.push(*r);
                    }
                }
            }
            Err(Stop::Interrupted { finished }) => {
                interrupted = Some(interrupted.unwrap_or(true) && *finished);
            }
            Err(Stop::Aborted) => aborted = true,
            Err(stop) => return Err(stop.clone()),
        }
    }
    match (interrupted, aborted) {
        (Some(finished), _) => Err(Stop::Interrupted { finished }),
        // Aborted with no reason of its own cannot happen (an abort follows
        // another engine's stop), but must not read as success.
        (None, true) => Err(Stop::Aborted),
        (None, false) => Ok((stats, sidelined)),
    }
}

/// Hands the input's chunks to the engines: to the next one in turn with
/// room, so a busy engine does not hold up the others; when every queue is
/// full, it waits on the next in turn.
pub(super) struct Dispatch {
    senders: Vec<mpsc::Sender<Vec<Item>>>,
    next: usize,
}

impl Dispatch {
    pub(super) fn new(senders: Vec<mpsc::Sender<Vec<Item>>>) -> Self {
        Self { senders, next: 0 }
    }

    /// Send `chunk` to an engine; false when the engines have gone away
    /// (the scan stopped early).
    pub(super) fn send(&mut self, mut chunk: Vec<Item>) -> bool {
        let n = self.senders.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            match self.senders[i].try_send(chunk) {
                Ok(()) => {
                    self.next = (i + 1) % n;
                    return true;
                }
                Err(mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c)) => chunk = c,
            }
        }
        let i = self.next;
        self.next = (i + 1) % n;
        self.senders[i].blocking_send(chunk).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sent: u64, sidelined: &[&str]) -> Outcome {
        let stats = CoreStats { sent, ..CoreStats::default() };
        Ok((stats, sidelined.iter().map(|s| s.parse().expect("addr")).collect()))
    }

    #[test]
    fn merged_counters_are_sums_and_sidelined_resolvers_appear_once() {
        let (stats, side) = merge(vec![ok(3, &["127.0.0.1:53"]), ok(4, &["127.0.0.1:53", "127.0.0.2:53"])])
            .expect("both ended well");
        assert_eq!(stats.sent, 7);
        assert_eq!(side.len(), 2);
    }

    #[test]
    fn the_first_real_stop_wins_over_aborts_and_interruptions() {
        let merged = merge(vec![
            Err(Stop::Aborted),
            Err(Stop::Interrupted { finished: true }),
            Err(Stop::ResolversDead("all dead".into())),
        ]);
        assert!(matches!(merged, Err(Stop::ResolversDead(ref r)) if r == "all dead"), "{merged:?}");
    }

    #[test]
    fn an_interruption_is_finished_only_if_every_engine_finished() {
        let merged = merge(vec![Err(Stop::Interrupted { finished: true }), ok(1, &[])]);
        assert!(matches!(merged, Err(Stop::Interrupted { finished: true })), "{merged:?}");
        let merged = merge(vec![
            Err(Stop::Interrupted { finished: true }),
            Err(Stop::Interrupted { finished: false }),
        ]);
        assert!(matches!(merged, Err(Stop::Interrupted { finished: false })), "{merged:?}");
    }

    #[test]
    fn dispatch_spreads_chunks_and_skips_full_queues() {
        let (a_tx, mut a_rx) = mpsc::channel::<Vec<Item>>(1);
        let (b_tx, mut b_rx) = mpsc::channel::<Vec<Item>>(4);
        let mut dispatch = Dispatch::new(vec![a_tx, b_tx]);
        for _ in 0..4 {
            assert!(dispatch.send(Vec::new()));
        }
        // a holds one chunk; the rest went to b, which had room.
        let count = |rx: &mut mpsc::Receiver<Vec<Item>>| std::iter::from_fn(|| rx.try_recv().ok()).count();
        assert_eq!((count(&mut a_rx), count(&mut b_rx)), (1, 3));
        drop((a_rx, b_rx));
        assert!(!dispatch.send(Vec::new()), "no engine left");
    }
}
