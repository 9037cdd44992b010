//! The scan core: runs many [`DomainScan`]s over shared lookups, without
//! sockets or clocks (the quinn-proto pattern).
//!
//! The driver feeds it datagrams (`handle_datagram`), TCP results
//! (`handle_tcp`) and the time (`handle_timeout`), and drains what it wants
//! sent (`poll_transmit`, `poll_tcp`) and the finished rows
//! (`poll_completed`). Everything it decides (ids, windows, retransmission
//! timers, retries, resolver rotation, TC→TCP, caching) is therefore
//! testable in memory, in simulated time.
//!
//! The parts: [`lookups`] (the table of questions in progress),
//! [`pacing`] (each resolver's window and retransmission timeout),
//! [`validate`] (what an answer's header and RCODE mean), [`tcp`] (the
//! hand-off of truncated answers).
//!
//! An attempt lives in the in-flight table until `--timeout` after it was
//! sent, so a slow answer is still taken; its resolver's retransmission
//! timeout (much shorter once round trips are measured) decides when the
//! next attempt goes out. A lookup fails when its attempts are used up and
//! none of them was answered in time.

mod lookups;
pub mod pacing;
mod tcp;
mod validate;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::lookups::{Lookup, Lookups, Slab};
use self::pacing::Pacing;
pub use self::tcp::TcpQuery;
use self::tcp::{TcpHandoff, TcpWaiter};
use self::validate::{Recursion, mix_case};
use super::cache::HostCache;
use super::domain::{DomainScan, Need};
use super::health::{Observed, ResolverHealth, Verdict};
use super::policy::{FetchRequest, FetchResult};
use super::{LookupStatus, Outcome};
use crate::dns::ids::IdSource;
use crate::dns::inflight::{InflightTable, Pending, Slot};
use crate::dns::tcp::TcpError;
use crate::dns::wire::{self, Answer, WireError, rtype};
use crate::input::Target;
use crate::record::DomainRecord;

/// How the core behaves.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Recursive resolvers, asked in rotation.
    pub resolvers: Vec<SocketAddr>,
    /// UDP sockets the driver has (ids are drawn per socket).
    pub sockets: u16,
    /// How long one attempt may take to be answered; also the ceiling and
    /// first value of the retransmission timeout.
    pub timeout: Duration,
    /// Further attempts after the first, on SERVFAIL, REFUSED, other
    /// failing RCODEs and timeouts (never on NXDOMAIN or NODATA).
    pub retries: u8,
    /// Queries in flight at most, over all resolvers: the ceiling of the
    /// adaptive windows.
    pub concurrency: usize,
    /// Ask MX only.
    pub mx_only: bool,
    /// Exchange outcomes kept for reuse.
    pub cache_capacity: usize,
    /// 0x20: send query names in random letter case and accept only answers
    /// that echo it exactly (draft-vixie-dnsext-dns0x20): about one more bit
    /// of entropy per letter for a spoofer to guess.
    pub randomize_case: bool,
    /// Run the policy stage (`--policy`), probing these DKIM selectors
    /// (empty without `--dkim`). MX, TXT and TLSA queries then carry the DO
    /// bit, so that a validating resolver reports AD (RFC 6840 §5.8).
    pub policy: Option<Arc<[String]>>,
}

/// A datagram to send: the payload is in the buffer given to
/// [`ScanCore::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Socket index to send from.
    pub socket: u16,
    /// Resolver to send to.
    pub dest: SocketAddr,
}

/// Counters for the summary and the progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// UDP queries sent, retries included.
    pub sent: u64,
    /// Answers accepted (UDP and TCP).
    pub answers: u64,
    /// Datagrams that matched no outstanding query (wrong id, source or
    /// question, or not a response): duplicated, forged, or later than the
    /// id's linger (twice `--timeout`, at least 4 s).
    pub unmatched: u64,
    /// Answers from the resolver asked to an attempt that had left without
    /// its answer (timed out, or another attempt of its lookup was answered
    /// first): ours, but no longer wanted, and ignored.
    pub late: u64,
    /// Datagrams that could not be parsed.
    pub malformed: u64,
    /// Attempts that got no answer within `--timeout`.
    pub timeouts: u64,
    /// Attempts repeated after a failure or a retransmission timeout.
    pub retries: u64,
    /// Retransmission timeouts that fired (an attempt was sent again before
    /// its own `--timeout` was over).
    pub retransmits: u64,
    /// Times a resolver's window was cut after loss.
    pub window_cuts: u64,
    /// Queries repeated over TCP.
    pub tcp: u64,
    /// TCP connections opened for them (filled in by the I/O loop, which
    /// owns the connections; pooled, so usually far fewer than `tcp`).
    pub tcp_connections: u64,
    /// Datagrams the kernel refused to send (filled in by the I/O loop);
    /// their attempts time out and are retried.
    pub send_errors: u64,
}

impl std::ops::AddAssign for CoreStats {
    /// Sums two engines' counters (a scan with several engine threads).
    fn add_assign(&mut self, other: Self) {
        let Self {
            sent,
            answers,
            unmatched,
            late,
            malformed,
            timeouts,
            retries,
            retransmits,
            window_cuts,
            tcp,
            tcp_connections,
            send_errors,
        } = other;
        self.sent += sent;
        self.answers += answers;
        self.unmatched += unmatched;
        self.late += late;
        self.malformed += malformed;
        self.timeouts += timeouts;
        self.retries += retries;
        self.retransmits += retransmits;
        self.window_cuts += window_cuts;
        self.tcp += tcp;
        self.tcp_connections += tcp_connections;
        self.send_errors += send_errors;
    }
}

#[derive(Debug)]
struct ActiveDomain {
    scan: DomainScan,
    queries: u16,
    first_sent: Option<Instant>,
    last_answer: Option<Instant>,
}

/// Whether queries of `qtype` carry the DO bit: with the policy stage, the
/// answers whose authentication it reports (MX, TLSA) and its TXT.
fn dnssec_ok(cfg: &CoreConfig, qtype: u16) -> bool {
    cfg.policy.is_some() && matches!(qtype, rtype::MX | rtype::TXT | rtype::TLSA)
}

/// A lookup waiting to be sent: its handle and serial (a queued entry whose
/// lookup finished meanwhile is recognised and skipped).
type Queued = (u32, u64);

/// See the module docs.
#[derive(Debug)]
pub struct ScanCore {
    cfg: CoreConfig,
    domains: Slab<ActiveDomain>,
    lookups: Lookups,
    cache: HostCache,
    inflight: InflightTable,
    pacing: Vec<Pacing>,
    recursion: Vec<Recursion>,
    /// Retransmission timers: (when, attempt seq, socket, id).
    rto_timers: BinaryHeap<Reverse<(Instant, u64, u16, u16)>>,
    /// Lookups of domains already under way (follow-ups and retries):
    /// sent before any new domain's first query, so that under a rate limit
    /// open domains finish first instead of all waiting behind new ones.
    send_queue: VecDeque<Queued>,
    /// First lookups of newly admitted domains.
    fresh_queue: VecDeque<Queued>,
    backoff: BinaryHeap<Reverse<(Instant, u32, u64)>>,
    tcp: TcpHandoff,
    completed: VecDeque<DomainRecord>,
    next_resolver: u16,
    health: ResolverHealth,
    events: VecDeque<CoreEvent>,
    fatal: Option<String>,
    /// Secret for the 0x20 case pattern of each attempt.
    case_key: u64,
    /// Policy fetches due, by domain handle.
    fetches: VecDeque<(u32, FetchRequest)>,
    /// Each resolver's `ip:port`, formatted once: every row names the one
    /// that answered its MX question.
    resolver_names: Vec<Arc<str>>,
    stats: CoreStats,
}

/// Something the driver should tell the user about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEvent {
    /// A resolver gets no more queries.
    Sidelined {
        /// Its address.
        resolver: SocketAddr,
        /// Why.
        reason: String,
    },
}

impl ScanCore {
    /// A core for `cfg`; `ids` draws query ids and secrets.
    pub fn new(cfg: CoreConfig, ids: IdSource) -> Self {
        assert!(!cfg.resolvers.is_empty(), "at least one resolver");
        // A retired id stays out of use long enough for the answer a
        // resolver still sends after our timeout to be known as late.
        let linger = (cfg.timeout * 2).max(Duration::from_secs(4));
        let mut inflight = InflightTable::new(cfg.sockets, ids, linger);
        // Silence long enough to be no lossy burst: several timeouts.
        let health = ResolverHealth::new(cfg.resolvers.len(), (cfg.timeout * 5).max(Duration::from_secs(2)));
        let pacing = vec![Pacing::new(cfg.concurrency, cfg.timeout); cfg.resolvers.len()];
        let case_key = inflight.ids().next_u64();
        let resolver_names = cfg.resolvers.iter().map(|r| Arc::from(r.to_string())).collect();
        Self {
            cache: HostCache::new(cfg.cache_capacity),
            recursion: vec![Recursion::default(); cfg.resolvers.len()],
            pacing,
            cfg,
            domains: Slab::default(),
            lookups: Lookups::default(),
            inflight,
            rto_timers: BinaryHeap::new(),
            send_queue: VecDeque::new(),
            fresh_queue: VecDeque::new(),
            backoff: BinaryHeap::new(),
            tcp: TcpHandoff::default(),
            completed: VecDeque::new(),
            next_resolver: 0,
            health,
            events: VecDeque::new(),
            fatal: None,
            case_key,
            fetches: VecDeque::new(),
            resolver_names,
            stats: CoreStats::default(),
        }
    }

    /// Start scanning a domain.
    pub fn admit(&mut self, target: Target, now: Instant) {
        let mut scan = DomainScan::new(target, self.cfg.mx_only);
        if let Some(selectors) = &self.cfg.policy {
            scan = scan.with_policy(Arc::clone(selectors));
        }
        let need = scan.start();
        let d = self.domains.insert(ActiveDomain { scan, queries: 0, first_sent: None, last_answer: None });
        self.request(d, need, true, now);
    }

    /// Domains not finished yet.
    pub fn active_domains(&self) -> usize {
        self.domains.len()
    }

    /// UDP attempts that may still be answered (including those whose
    /// retransmission timer fired).
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Queries ready to send.
    pub fn queued(&self) -> usize {
        self.send_queue.len() + self.fresh_queue.len()
    }

    /// Queries the windows let out now.
    pub fn window_room(&self) -> usize {
        let counted: u32 = self.pacing.iter().map(Pacing::in_flight).sum();
        let total = self.cfg.concurrency.saturating_sub(counted as usize);
        let open: u32 = (0..self.pacing.len() as u16)
            .filter(|&r| self.health.usable(r))
            .map(|r| self.pacing[r as usize].room())
            .sum();
        total.min(open as usize)
    }

    /// How many datagrams `poll_transmit` would give now.
    pub fn sendable(&self) -> usize {
        self.queued().min(self.window_room())
    }

    /// Whether a new domain should be admitted: only while the windows have
    /// room its first query could use, so that domains do not wait in a
    /// queue with their clocks running.
    pub fn wants_domains(&self) -> bool {
        self.queued() < self.window_room().max(1)
    }

    /// The current window of each resolver.
    pub fn windows(&self) -> Vec<u32> {
        self.pacing.iter().map(Pacing::window).collect()
    }

    /// Nothing left to do.
    pub fn is_idle(&self) -> bool {
        self.domains.is_empty()
    }

    /// Counters so far.
    pub fn stats(&self) -> CoreStats {
        let mut stats = self.stats;
        stats.window_cuts = self.pacing.iter().map(|p| p.decreases).sum();
        stats
    }

    /// The next datagram to send, encoded into `buf`; `None` when nothing is
    /// queued or every window is full.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.window_room() == 0 {
            return None;
        }
        let l = loop {
            let (l, serial) = self.send_queue.pop_front().or_else(|| self.fresh_queue.pop_front())?;
            // Skip lookups that finished (or went to TCP) while queued.
            if let Some(lookup) = self.lookups.by_serial(l, serial)
                && !lookup.in_tcp
                && lookup.current.is_none()
            {
                break l;
            }
        };
        let lookup = self.lookups.get_mut(l);
        let preferred = if lookup.attempts == 0 {
            let r = self.health.usable_from(self.next_resolver);
            self.next_resolver = (r + 1) % self.cfg.resolvers.len() as u16;
            r
        } else {
            // A retry goes to the next resolver.
            self.health.after(lookup.resolver)
        };
        let n = self.cfg.resolvers.len() as u16;
        let resolver = (0..n)
            .map(|k| (preferred + k) % n)
            .find(|&r| self.health.usable(r) && self.pacing[r as usize].room() > 0)
            .unwrap_or(preferred);
        lookup.attempts = lookup.attempts.saturating_add(1);
        lookup.live += 1;
        lookup.resolver = resolver;
        lookup.retry_pending = false;
        let attempt = lookup.attempts;
        let (slot, seq) = self.inflight.insert(l, resolver, attempt, now, now + self.cfg.timeout);
        lookup.current = Some((slot, seq));
        let dnssec_ok = dnssec_ok(&self.cfg, lookup.qtype);
        if self.cfg.randomize_case {
            let name = mix_case(&lookup.name, seq ^ self.case_key);
            wire::encode_query_with(buf, slot.id, &name, lookup.qtype, dnssec_ok);
        } else {
            wire::encode_query_with(buf, slot.id, &lookup.name, lookup.qtype, dnssec_ok);
        }
        let owner = self.domains.get_mut(lookup.owner);
        owner.queries = owner.queries.saturating_add(1);
        owner.first_sent.get_or_insert(now);
        let pacing = &mut self.pacing[resolver as usize];
        pacing.on_send();
        let rto = pacing.rto(attempt);
        if rto < self.cfg.timeout {
            self.rto_timers.push(Reverse((now + rto, seq, slot.socket, slot.id)));
        }
        self.stats.sent += 1;
        Some(Transmit { socket: slot.socket, dest: self.cfg.resolvers[resolver as usize] })
    }

    /// The next query to repeat over TCP.
    pub fn poll_tcp(&mut self) -> Option<TcpQuery> {
        self.tcp.poll()
    }

    /// The next event for the user.
    pub fn poll_event(&mut self) -> Option<CoreEvent> {
        self.events.pop_front()
    }

    /// Set when the scan cannot go on: no usable resolver answers.
    pub fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// Resolvers that were sidelined.
    pub fn sidelined(&self) -> Vec<SocketAddr> {
        self.health.sidelined().map(|r| self.cfg.resolvers[r as usize]).collect()
    }

    /// The next finished row.
    pub fn poll_completed(&mut self) -> Option<DomainRecord> {
        self.completed.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let backoff = self.backoff.peek().map(|Reverse((t, _, _))| *t);
        let rto = self.rto_timers.peek().map(|Reverse((t, ..))| *t);
        [self.inflight.next_deadline(), backoff, rto].into_iter().flatten().min()
    }

    /// A datagram arrived on `socket` from `src`.
    ///
    /// It is accepted only if its id is outstanding on that socket, it comes
    /// from the resolver that was asked, and it answers the question asked.
    /// Anything else is dropped and counted; a malformed answer to our
    /// question is dropped too, and the attempt keeps waiting.
    pub fn handle_datagram(&mut self, socket: u16, src: SocketAddr, bytes: &[u8], now: Instant) {
        let Some(id) = wire::peek_id(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        let slot = Slot { socket, id };
        let Some(&pending) = self.inflight.get(slot) else {
            let asked = self.inflight.retired(slot, now).map(|r| self.cfg.resolvers[r as usize]);
            if asked == Some(src) && wire::looks_like_response(bytes) {
                self.stats.late += 1;
            } else {
                self.stats.unmatched += 1;
            }
            return;
        };
        if src != self.cfg.resolvers[pending.resolver as usize] {
            self.stats.unmatched += 1;
            return;
        }
        let Some(lookup) = self.lookups.for_attempt(pending.lookup, pending.seq) else {
            // An attempt of a lookup that another attempt already decided.
            if wire::looks_like_response(bytes) {
                self.inflight.retire(slot, now);
                self.stats.late += 1;
            } else {
                self.stats.unmatched += 1;
            }
            return;
        };
        let parsed = if self.cfg.randomize_case {
            let sent = mix_case(&lookup.name, pending.seq ^ self.case_key);
            wire::parse_answer(bytes, &sent, lookup.qtype, true)
        } else {
            wire::parse_answer(bytes, &lookup.name, lookup.qtype, false)
        };
        match parsed {
            Ok(answer) => {
                self.inflight.remove(slot);
                self.stats.answers += 1;
                self.on_udp_answer(slot, pending, answer, now);
            }
            Err(WireError::QuestionMismatch | WireError::NotResponse | WireError::QuestionCount) => {
                self.stats.unmatched += 1;
            }
            Err(_) => self.stats.malformed += 1,
        }
    }

    /// The TCP exchange for `token` ended: the response (without its length
    /// prefix) or why it failed.
    pub fn handle_tcp(&mut self, token: u64, result: Result<Vec<u8>, TcpError>, now: Instant) {
        let Some(TcpWaiter { lookup: l, serial, resolver, id }) = self.tcp.finish(token) else { return };
        let Some(lookup) = self.lookups.by_serial(l, serial) else {
            return; // a late UDP answer decided it meanwhile
        };
        lookup.in_tcp = false;
        let parsed = result.and_then(|bytes| {
            let unusable = |detail: String| TcpError { timed_out: false, detail };
            let answer = wire::parse_answer(&bytes, &lookup.name, lookup.qtype, false)
                .map_err(|e| unusable(format!("answer unusable: {e}")))?;
            if answer.id != id {
                return Err(unusable("answer with the wrong id".into()));
            }
            if answer.truncated {
                // Over TCP there is nowhere bigger to ask (RFC 7766 §8).
                return Err(unusable("truncated answer over TCP".into()));
            }
            Ok(answer)
        });
        match parsed {
            Ok(answer) => {
                self.stats.answers += 1;
                self.on_answer(l, resolver, answer, now);
            }
            Err(e) if e.timed_out => {
                self.stats.timeouts += 1;
                self.observe(resolver, Observed::Timeout, now);
                self.after_failure(l, now);
            }
            Err(e) => {
                self.observe(resolver, Observed::Timeout, now);
                self.lookups.get_mut(l).answered_failure =
                    Some((LookupStatus::Error, Some(e.to_string()), resolver));
                self.after_failure(l, now);
            }
        }
    }

    /// Fire retransmission timers, expire attempts whose `--timeout` is
    /// over, and release retries whose backoff is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, seq, socket, id))) = self.rto_timers.peek() {
            if at > now {
                break;
            }
            self.rto_timers.pop();
            let slot = Slot { socket, id };
            if let Some(&pending) = self.inflight.get(slot).filter(|p| p.seq == seq) {
                self.on_retransmission_timeout(slot, pending);
            }
        }
        while let Some((slot, pending)) = self.inflight.pop_expired(now) {
            self.on_attempt_expired(slot, pending, now);
        }
        while let Some(&Reverse((at, l, serial))) = self.backoff.peek() {
            if at > now {
                break;
            }
            self.backoff.pop();
            // Retries go first: they finish domains that are already open.
            self.send_queue.push_front((l, serial));
        }
    }

    /// The attempt's resolver did not answer within its retransmission
    /// timeout: a loss for its window; send the question again (the attempt
    /// stays answerable until `--timeout`).
    fn on_retransmission_timeout(&mut self, slot: Slot, pending: Pending) {
        let Some(lookup) = self.lookups.for_attempt(pending.lookup, pending.seq) else { return };
        if !lookup.take_current(slot, pending.seq) {
            return;
        }
        self.pacing[pending.resolver as usize].on_loss(pending.attempt == 1);
        self.stats.retransmits += 1;
        if !lookup.in_tcp && !lookup.retry_pending && lookup.attempts <= self.cfg.retries {
            lookup.retry_pending = true;
            self.stats.retries += 1;
            self.send_queue.push_front((pending.lookup, lookup.serial));
        }
    }

    /// `--timeout` passed since the attempt was sent.
    fn on_attempt_expired(&mut self, slot: Slot, pending: Pending, now: Instant) {
        let Some(lookup) = self.lookups.for_attempt(pending.lookup, pending.seq) else { return };
        lookup.live -= 1;
        if lookup.take_current(slot, pending.seq) {
            self.pacing[pending.resolver as usize].on_loss(pending.attempt == 1);
        }
        self.stats.timeouts += 1;
        self.observe(pending.resolver, Observed::Timeout, now);
        self.after_failure(pending.lookup, now);
    }

    fn on_udp_answer(&mut self, slot: Slot, pending: Pending, answer: Answer, now: Instant) {
        let (l, r) = (pending.lookup, pending.resolver);
        let lookup = self.lookups.get_mut(l);
        lookup.live -= 1;
        let counted = lookup.take_current(slot, pending.seq);
        let rtt = now.saturating_duration_since(pending.sent_at);
        self.pacing[r as usize].on_answer(rtt, now, counted, pending.attempt == 1);
        if self.recursion[r as usize].note(&answer) {
            self.not_recursive(r);
        }
        if validate::is_referral(&answer) {
            // Not an answer about the name: never "no MX".
            self.observe(r, Observed::ServFail, now);
            let detail = "the resolver answered with a referral: it does not recurse".to_string();
            self.lookups.get_mut(l).answered_failure = Some((LookupStatus::Error, Some(detail), r));
            return self.after_failure(l, now);
        }
        if answer.truncated {
            let lookup = self.lookups.get_mut(l);
            if lookup.in_tcp {
                return;
            }
            lookup.in_tcp = true;
            let id = self.inflight.ids().next_u16();
            let waiter = TcpWaiter { lookup: l, serial: lookup.serial, resolver: r, id };
            self.tcp.start(waiter, self.cfg.resolvers[r as usize], &lookup.name, lookup.qtype);
            self.stats.tcp += 1;
            return;
        }
        self.on_answer(l, r, answer, now);
    }

    fn on_answer(&mut self, l: u32, resolver: u16, answer: Answer, now: Instant) {
        let (verdict, observed) = validate::judge(answer.rcode);
        self.observe(resolver, observed, now);
        match verdict {
            validate::Verdict::Decided(status) => {
                self.complete(l, Outcome { status, answer, resolver: Some(resolver), error: None }, now)
            }
            validate::Verdict::Failed(status, detail) => {
                self.lookups.get_mut(l).answered_failure = Some((status, detail, resolver));
                self.after_failure(l, now);
            }
        }
    }

    /// An attempt failed (an answered failure, or its `--timeout` passed):
    /// wait for another attempt still out, retry after a backoff, or give
    /// up with what the resolvers said.
    fn after_failure(&mut self, l: u32, now: Instant) {
        let lookup = self.lookups.get_mut(l);
        if lookup.in_tcp || lookup.retry_pending || lookup.current.is_some() {
            return;
        }
        if lookup.attempts <= self.cfg.retries {
            // Exponential backoff: 50 ms, 100 ms, 200 ms ... capped at 1 s,
            // so a resolver that just failed is not hit again at once.
            let exp = u32::from(lookup.attempts.saturating_sub(1).min(5));
            let delay = Duration::from_millis(50 << exp).min(Duration::from_secs(1));
            lookup.retry_pending = true;
            self.backoff.push(Reverse((now + delay, l, lookup.serial)));
            self.stats.retries += 1;
            return;
        }
        if lookup.live > 0 && lookup.answered_failure.is_none() {
            return; // an earlier attempt may still be answered
        }
        // A timeout after an answered failure is a lost packet, not news:
        // report what the resolver said.
        let (status, error, resolver) = match lookup.answered_failure.take() {
            Some((status, error, resolver)) => (status, error, Some(resolver)),
            None => (LookupStatus::Timeout, None, None),
        };
        self.complete(l, Outcome { status, answer: Answer::default(), resolver, error }, now);
    }

    fn observe(&mut self, resolver: u16, observed: Observed, now: Instant) {
        match self.health.record(resolver, observed, now) {
            Verdict::Fine => {}
            Verdict::Sidelined { resolver, reason } => {
                let resolver = self.cfg.resolvers[resolver as usize];
                self.events.push_back(CoreEvent::Sidelined { resolver, reason });
            }
            Verdict::AllDead { reason } => {
                self.fatal.get_or_insert(reason);
            }
        }
    }

    /// Resolver `r` answers with referrals: it is an authoritative-only
    /// server, and every domain it is asked about would look like "no MX".
    fn not_recursive(&mut self, r: u16) {
        let addr = self.cfg.resolvers[r as usize];
        let reason = "it is not a recursive resolver (it answers with referrals and never offers recursion)";
        if self.health.sideline(r) {
            self.events.push_back(CoreEvent::Sidelined { resolver: addr, reason: reason.into() });
        } else {
            self.fatal.get_or_insert(format!(
                "resolver {addr}: {reason}; give a recursive resolver with --resolver"
            ));
        }
    }

    fn complete(&mut self, l: u32, outcome: Outcome, now: Instant) {
        let lookup: Lookup = self.lookups.remove(l);
        // The attempt still counting against a window leaves it (retired: its
        // answer may still come); older ones stay until their timeout, and
        // their answers are ignored as late.
        if let Some((slot, seq)) = lookup.current
            && self.inflight.get(slot).is_some_and(|p| p.seq == seq)
            && let Some(p) = self.inflight.retire(slot, now)
        {
            self.pacing[p.resolver as usize].on_release();
        }
        let outcome = Arc::new(outcome);
        if lookup.shared {
            self.cache.insert(&lookup.name, lookup.qtype, Arc::clone(&outcome), now);
        }
        for d in std::iter::once(lookup.owner).chain(lookup.waiters) {
            self.deliver(d, &lookup.name, lookup.qtype, &outcome, now);
        }
    }

    /// The next policy fetch to make: the driver makes it (off the DNS
    /// path) and reports back with [`Self::handle_fetch`] under the same
    /// handle. The domain stays open until then.
    pub fn poll_fetch(&mut self) -> Option<(u32, FetchRequest)> {
        self.fetches.pop_front()
    }

    /// A policy fetch came back.
    pub fn handle_fetch(&mut self, handle: u32, result: FetchResult) {
        let Some(domain) = self.domains.try_get_mut(handle) else { return };
        domain.scan.on_fetch(result);
        self.finish_if_done(handle);
    }

    fn deliver(&mut self, d: u32, name: &str, qtype: u16, outcome: &Arc<Outcome>, now: Instant) {
        let domain = self.domains.get_mut(d);
        domain.last_answer = Some(now);
        let needs = domain.scan.on_outcome(name, qtype, outcome);
        if let Some(fetch) = domain.scan.take_fetch() {
            self.fetches.push_back((d, fetch));
        }
        for need in needs {
            self.request(d, need, false, now);
        }
        self.finish_if_done(d);
    }

    fn finish_if_done(&mut self, d: u32) {
        // A cached outcome delivered from `request` may have finished the
        // domain already.
        if self.domains.try_get(d).is_some_and(|domain| domain.scan.is_done()) {
            let domain = self.domains.remove(d);
            let elapsed = match (domain.first_sent, domain.last_answer) {
                (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis().min(u32::MAX as u128) as u32,
                _ => 0,
            };
            let record = domain.scan.into_record(domain.queries, elapsed, &self.resolver_names);
            self.completed.push_back(record);
        }
    }

    fn request(&mut self, d: u32, need: Need, fresh: bool, now: Instant) {
        if need.shared
            && let Some(outcome) = self.cache.get(&need.name, need.qtype, now)
        {
            return self.deliver(d, &need.name, need.qtype, &outcome, now);
        }
        let name = need.name;
        if let Some(l) = self.lookups.find(&name, need.qtype) {
            self.lookups.get_mut(l).waiters.push(d);
            return;
        }
        let serial = self.inflight.reserve_seq();
        let l = self.lookups.insert(Lookup {
            name,
            qtype: need.qtype,
            shared: need.shared,
            owner: d,
            waiters: Vec::new(),
            serial,
            attempts: 0,
            live: 0,
            resolver: 0,
            current: None,
            retry_pending: false,
            in_tcp: false,
            answered_failure: None,
        });
        let queue = if fresh { &mut self.fresh_queue } else { &mut self.send_queue };
        queue.push_back((l, serial));
    }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
