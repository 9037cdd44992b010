//! The scan core: runs many [`DomainScan`]s over shared lookups, without
//! sockets or clocks (the quinn-proto pattern).
//!
//! The driver feeds it datagrams (`handle_datagram`), TCP results
//! (`handle_tcp`) and the time (`handle_timeout`), and drains what it wants
//! sent (`poll_transmit`, `poll_tcp`) and the finished rows
//! (`poll_completed`). Everything it decides (ids, retries, resolver
//! rotation, TC→TCP, caching) is therefore testable in memory.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::cache::HostCache;
use super::domain::{DomainScan, Need};
use super::health::{Observed, ResolverHealth, Verdict};
use super::{LookupStatus, Outcome};
use crate::dns::inflight::{InflightTable, Slot, SplitMix};
use crate::dns::tcp::TcpError;
use crate::dns::wire::{self, Answer, WireError, rcode};
use crate::input::Target;
use crate::record::DomainRecord;

/// How the core behaves.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Recursive resolvers, asked in rotation.
    pub resolvers: Vec<SocketAddr>,
    /// UDP sockets the driver has (ids are drawn per socket).
    pub sockets: u16,
    /// Wait for one attempt.
    pub timeout: Duration,
    /// Further attempts after the first, on SERVFAIL, REFUSED, other
    /// failing RCODEs and timeouts (never on NXDOMAIN or NODATA).
    pub retries: u8,
    /// Ask MX only.
    pub mx_only: bool,
    /// Exchange outcomes kept for reuse.
    pub cache_capacity: usize,
    /// 0x20: send query names in random letter case and accept only answers
    /// that echo it exactly (draft-vixie-dnsext-dns0x20): about one more bit
    /// of entropy per letter for a spoofer to guess.
    pub randomize_case: bool,
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

/// A query to repeat over TCP because the UDP answer was truncated
/// (RFC 7766 §5: TC=1 means "retry over TCP").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpQuery {
    /// Hand back with the result.
    pub token: u64,
    /// Resolver to connect to.
    pub dest: SocketAddr,
    /// The encoded query (without the two-octet length prefix).
    pub query: Vec<u8>,
}

/// Counters for the summary and the progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// UDP queries sent, retries included.
    pub sent: u64,
    /// Answers accepted (UDP and TCP).
    pub answers: u64,
    /// Datagrams that matched no outstanding query (wrong id, source or
    /// question): late, duplicated or forged.
    pub unmatched: u64,
    /// Datagrams that could not be parsed.
    pub malformed: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Attempts repeated after a failure.
    pub retries: u64,
    /// Queries repeated over TCP.
    pub tcp: u64,
    /// TCP connections opened for them (filled in by the I/O loop, which
    /// owns the connections; pooled, so usually far fewer than `tcp`).
    pub tcp_connections: u64,
    /// Datagrams the kernel would not send, and ICMP errors (a closed port)
    /// it reported on a send (filled in by the I/O loop, which owns the
    /// sockets). Their attempts time out and are retried.
    pub send_errors: u64,
}

#[derive(Debug)]
struct Lookup {
    /// Shared with the `by_question` key: one allocation per lookup.
    name: Arc<str>,
    qtype: u16,
    shared: bool,
    owner: u32,
    waiters: Vec<u32>,
    attempts: u8,
    resolver: u16,
    /// The last failure a resolver actually answered (SERVFAIL, REFUSED,
    /// another RCODE): better evidence than a later lost packet.
    answered_failure: Option<(LookupStatus, Option<String>, u16)>,
}

#[derive(Debug)]
struct ActiveDomain {
    scan: DomainScan,
    queries: u16,
    first_sent: Option<Instant>,
    last_answer: Option<Instant>,
}

/// See the module docs.
#[derive(Debug)]
pub struct ScanCore {
    cfg: CoreConfig,
    domains: Slab<ActiveDomain>,
    lookups: Slab<Lookup>,
    by_question: FxHashMap<(Arc<str>, u16), u32>,
    cache: HostCache,
    inflight: InflightTable,
    /// Lookups of domains already under way (follow-ups and retries):
    /// sent before any new domain's first query, so that under a rate limit
    /// open domains finish first instead of all waiting behind new ones.
    send_queue: VecDeque<u32>,
    /// First lookups of newly admitted domains.
    fresh_queue: VecDeque<u32>,
    backoff: BinaryHeap<Reverse<(Instant, u32)>>,
    tcp_out: VecDeque<TcpQuery>,
    tcp_waiting: FxHashMap<u64, (u32, u16, u16)>,
    next_token: u64,
    completed: VecDeque<DomainRecord>,
    next_resolver: u16,
    health: ResolverHealth,
    events: VecDeque<CoreEvent>,
    fatal: Option<String>,
    rng: SplitMix,
    /// Secret for the 0x20 case pattern of each attempt.
    case_key: u64,
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
    /// A core for `cfg`; `rng` draws ids.
    pub fn new(cfg: CoreConfig, rng: SplitMix) -> Self {
        assert!(!cfg.resolvers.is_empty(), "at least one resolver");
        let mut rng = rng;
        let inflight = InflightTable::new(cfg.sockets, SplitMix::seeded(rng.next_u64()));
        // Silence long enough to be no lossy burst: several timeouts.
        let health = ResolverHealth::new(cfg.resolvers.len(), (cfg.timeout * 5).max(Duration::from_secs(2)));
        let case_key = rng.next_u64();
        Self {
            cache: HostCache::new(cfg.cache_capacity),
            cfg,
            domains: Slab::default(),
            lookups: Slab::default(),
            by_question: FxHashMap::default(),
            inflight,
            send_queue: VecDeque::new(),
            fresh_queue: VecDeque::new(),
            backoff: BinaryHeap::new(),
            tcp_out: VecDeque::new(),
            tcp_waiting: FxHashMap::default(),
            next_token: 0,
            completed: VecDeque::new(),
            next_resolver: 0,
            health,
            events: VecDeque::new(),
            fatal: None,
            case_key,
            rng,
            stats: CoreStats::default(),
        }
    }

    /// Start scanning a domain.
    pub fn admit(&mut self, target: Target, now: Instant) {
        let scan = DomainScan::new(target, self.cfg.mx_only);
        let need = scan.start();
        let d = self.domains.insert(ActiveDomain { scan, queries: 0, first_sent: None, last_answer: None });
        self.request(d, need, true, now);
    }

    /// Domains not finished yet.
    pub fn active_domains(&self) -> usize {
        self.domains.len()
    }

    /// UDP queries waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Queries ready to send.
    pub fn queued(&self) -> usize {
        self.send_queue.len() + self.fresh_queue.len()
    }

    /// Nothing left to do.
    pub fn is_idle(&self) -> bool {
        self.domains.is_empty()
    }

    /// Counters so far.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    /// The next datagram to send, encoded into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let l = self.send_queue.pop_front().or_else(|| self.fresh_queue.pop_front())?;
        let lookup = self.lookups.get_mut(l);
        lookup.attempts += 1;
        let resolver = lookup.resolver;
        let (slot, seq) = self.inflight.insert(l, resolver, now, now + self.cfg.timeout);
        if self.cfg.randomize_case {
            wire::encode_query(buf, slot.id, &mix_case(&lookup.name, seq ^ self.case_key), lookup.qtype);
        } else {
            wire::encode_query(buf, slot.id, &lookup.name, lookup.qtype);
        }
        let owner = self.domains.get_mut(lookup.owner);
        owner.queries = owner.queries.saturating_add(1);
        owner.first_sent.get_or_insert(now);
        self.stats.sent += 1;
        Some(Transmit { socket: slot.socket, dest: self.cfg.resolvers[resolver as usize] })
    }

    /// The next query to repeat over TCP.
    pub fn poll_tcp(&mut self) -> Option<TcpQuery> {
        self.tcp_out.pop_front()
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

    /// The next finished row.
    pub fn poll_completed(&mut self) -> Option<DomainRecord> {
        self.completed.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let backoff = self.backoff.peek().map(|Reverse((t, _))| *t);
        match (self.inflight.next_deadline(), backoff) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
            self.stats.unmatched += 1;
            return;
        };
        if src != self.cfg.resolvers[pending.resolver as usize] {
            self.stats.unmatched += 1;
            return;
        }
        let lookup = self.lookups.get(pending.lookup);
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
                self.on_answer(pending.lookup, pending.resolver, answer, false, now);
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
        let Some((l, resolver, id)) = self.tcp_waiting.remove(&token) else { return };
        let lookup = self.lookups.get(l);
        let parsed = result.and_then(|bytes| {
            let unusable = |detail: String| TcpError { timed_out: false, detail };
            let answer = wire::parse_answer(&bytes, &lookup.name, lookup.qtype, false)
                .map_err(|e| unusable(format!("answer unusable: {e}")))?;
            if answer.id != id {
                return Err(unusable("answer with the wrong id".into()));
            }
            Ok(answer)
        });
        match parsed {
            Ok(answer) => {
                self.stats.answers += 1;
                self.on_answer(l, resolver, answer, true, now);
            }
            Err(e) if e.timed_out => {
                self.stats.timeouts += 1;
                self.observe(resolver, Observed::Timeout, now);
                self.fail_attempt(l, resolver, LookupStatus::Timeout, None, now);
            }
            Err(e) => {
                self.observe(resolver, Observed::Timeout, now);
                self.fail_attempt(l, resolver, LookupStatus::Error, Some(e.to_string()), now);
            }
        }
    }

    /// Expire attempts whose time is up and release retries whose backoff
    /// is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((_, pending)) = self.inflight.pop_expired(now) {
            self.stats.timeouts += 1;
            self.observe(pending.resolver, Observed::Timeout, now);
            self.fail_attempt(pending.lookup, pending.resolver, LookupStatus::Timeout, None, now);
        }
        while let Some(&Reverse((at, l))) = self.backoff.peek() {
            if at > now {
                break;
            }
            self.backoff.pop();
            // Retries go first: they finish domains that are already open.
            self.send_queue.push_front(l);
        }
    }

    fn on_answer(&mut self, l: u32, resolver: u16, answer: Answer, via_tcp: bool, now: Instant) {
        if answer.truncated && !via_tcp {
            let lookup = self.lookups.get(l);
            let id = self.rng.next_u64() as u16;
            let mut query = Vec::with_capacity(64);
            wire::encode_query(&mut query, id, &lookup.name, lookup.qtype);
            self.next_token += 1;
            self.tcp_waiting.insert(self.next_token, (l, resolver, id));
            self.tcp_out.push_back(TcpQuery {
                token: self.next_token,
                dest: self.cfg.resolvers[resolver as usize],
                query,
            });
            self.stats.tcp += 1;
            return;
        }
        self.observe(
            resolver,
            match answer.rcode {
                rcode::NOERROR | rcode::NXDOMAIN => Observed::Answer,
                rcode::REFUSED => Observed::Refused,
                _ => Observed::ServFail,
            },
            now,
        );
        let status = match answer.rcode {
            rcode::NOERROR => LookupStatus::NoError,
            rcode::NXDOMAIN => LookupStatus::NxDomain,
            rcode::SERVFAIL => return self.fail_attempt(l, resolver, LookupStatus::ServFail, None, now),
            rcode::REFUSED => return self.fail_attempt(l, resolver, LookupStatus::Refused, None, now),
            other => {
                let detail = format!("resolver answered RCODE {}", rcode_name(other));
                return self.fail_attempt(l, resolver, LookupStatus::Error, Some(detail), now);
            }
        };
        self.complete(l, Outcome { status, answer, resolver: Some(resolver), error: None }, now);
    }

    /// One attempt failed: retry on the next resolver after a backoff, or
    /// give up with this status.
    fn fail_attempt(
        &mut self,
        l: u32,
        resolver: u16,
        status: LookupStatus,
        error: Option<String>,
        now: Instant,
    ) {
        let lookup = self.lookups.get_mut(l);
        if status != LookupStatus::Timeout {
            lookup.answered_failure = Some((status, error.clone(), resolver));
        }
        if lookup.attempts <= self.cfg.retries {
            lookup.resolver = self.health.after(resolver);
            // Exponential backoff: 50 ms, 100 ms, 200 ms ... capped at 1 s,
            // so a struggling resolver is not hit again at once.
            let exp = u32::from(lookup.attempts.saturating_sub(1).min(5));
            let delay = Duration::from_millis(50 << exp).min(Duration::from_secs(1));
            self.backoff.push(Reverse((now + delay, l)));
            self.stats.retries += 1;
            return;
        }
        // A timeout after an answered failure is a lost packet, not news:
        // report what the resolver said.
        let (status, error, resolver) = match (status, lookup.answered_failure.take()) {
            (LookupStatus::Timeout, Some(said)) => (said.0, said.1, Some(said.2)),
            (LookupStatus::Timeout, None) => (status, error, None),
            _ => (status, error, Some(resolver)),
        };
        self.complete(l, Outcome { status, answer: Answer::default(), resolver, error }, now);
    }

    fn complete(&mut self, l: u32, outcome: Outcome, now: Instant) {
        let lookup = self.lookups.remove(l);
        self.by_question.remove(&(Arc::clone(&lookup.name), lookup.qtype));
        let outcome = Arc::new(outcome);
        if lookup.shared {
            self.cache.insert(&lookup.name, lookup.qtype, Arc::clone(&outcome));
        }
        for d in std::iter::once(lookup.owner).chain(lookup.waiters) {
            self.deliver(d, &lookup.name, lookup.qtype, &outcome, now);
        }
    }

    fn deliver(&mut self, d: u32, name: &str, qtype: u16, outcome: &Arc<Outcome>, now: Instant) {
        let domain = self.domains.get_mut(d);
        domain.last_answer = Some(now);
        let needs = domain.scan.on_outcome(name, qtype, outcome);
        for need in needs {
            self.request(d, need, false, now);
        }
        // A cached outcome delivered from `request` may have finished the
        // domain already.
        if self.domains.try_get(d).is_some_and(|domain| domain.scan.is_done()) {
            let domain = self.domains.remove(d);
            let elapsed = match (domain.first_sent, domain.last_answer) {
                (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis().min(u32::MAX as u128) as u32,
                _ => 0,
            };
            let record = domain.scan.into_record(domain.queries, elapsed, &self.cfg.resolvers);
            self.completed.push_back(record);
        }
    }

    fn request(&mut self, d: u32, need: Need, fresh: bool, now: Instant) {
        if need.shared
            && let Some(outcome) = self.cache.get(&need.name, need.qtype)
        {
            return self.deliver(d, &need.name, need.qtype, &outcome, now);
        }
        let key: (Arc<str>, u16) = (Arc::from(need.name), need.qtype);
        if let Some(&l) = self.by_question.get(&key) {
            self.lookups.get_mut(l).waiters.push(d);
            return;
        }
        let resolver = self.health.usable_from(self.next_resolver);
        self.next_resolver = (resolver + 1) % self.cfg.resolvers.len() as u16;
        let l = self.lookups.insert(Lookup {
            name: Arc::clone(&key.0),
            qtype: key.1,
            shared: need.shared,
            owner: d,
            waiters: Vec::new(),
            attempts: 0,
            resolver,
            answered_failure: None,
        });
        self.by_question.insert(key, l);
        if fresh { self.fresh_queue.push_back(l) } else { self.send_queue.push_back(l) }
    }
}

/// `name` with each ASCII letter's case drawn from `key` (0x20 encoding).
fn mix_case(name: &str, key: u64) -> String {
    let mut rng = SplitMix::seeded(key);
    let mut bits = 0u64;
    name.bytes()
        .enumerate()
        .map(|(i, b)| {
            if i % 64 == 0 {
                bits = rng.next_u64();
            }
            let upper = (bits >> (i % 64)) & 1 == 1;
            (if upper { b.to_ascii_uppercase() } else { b }) as char
        })
        .collect()
}

fn rcode_name(code: u16) -> String {
    match code {
        rcode::FORMERR => "FORMERR".into(),
        rcode::NOTIMP => "NOTIMP".into(),
        other => other.to_string(),
    }
}

/// A vector of optional slots with a free list: stable `u32` handles, no
/// allocation once warm.
#[derive(Debug)]
struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { entries: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            self.entries[i as usize] = Some(value);
            i
        } else {
            self.entries.push(Some(value));
            (self.entries.len() - 1) as u32
        }
    }

    fn get(&self, i: u32) -> &T {
        self.entries[i as usize].as_ref().expect("live slab handle")
    }

    fn try_get(&self, i: u32) -> Option<&T> {
        self.entries.get(i as usize)?.as_ref()
    }

    fn get_mut(&mut self, i: u32) -> &mut T {
        self.entries[i as usize].as_mut().expect("live slab handle")
    }

    fn remove(&mut self, i: u32) -> T {
        let value = self.entries[i as usize].take().expect("live slab handle");
        self.free.push(i);
        self.len -= 1;
        value
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests;
