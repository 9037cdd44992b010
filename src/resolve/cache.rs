//! A bounded cache of exchange address outcomes.
//!
//! Millions of domains share a few thousand provider hosts, so each host is
//! asked once per scan. Self-hosted exchanges (`mail.<domain>`) are unique,
//! though, and caching all of them would make memory grow with the input.
//! Two generations keep it bounded: entries go into `young`; when it is
//! full, `young` becomes `old` and the previous `old` is dropped. A hit in
//! `old` is promoted, so hosts in steady use survive every turnover.
//!
//! Only definitive outcomes are kept for the whole scan: NOERROR (with data
//! or without) and NXDOMAIN. A failure (timeout, SERVFAIL, REFUSED, another
//! RCODE) says more about that moment than about the host, so it is kept
//! only for a hold-down (RFC 9520 §3: cache resolution failures for at least
//! a second, backing off exponentially when they repeat) and then the host
//! is asked again for the next domain that needs it: one unlucky timeout of
//! `aspmx.l.google.com` must not fail every later Google domain, and a dead
//! host must not be asked again for every domain either.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::{LookupStatus, Outcome};

/// How long a host's first failure is held.
pub const HOLD_DOWN: Duration = Duration::from_secs(1);
/// The hold-down doubles with each failure in a row, up to this.
pub const MAX_HOLD_DOWN: Duration = Duration::from_secs(60);

/// One kept outcome.
#[derive(Debug, Clone)]
struct Kept {
    outcome: Arc<Outcome>,
    /// For a failure: when it stops being served.
    until: Option<Instant>,
    /// Failures in a row for this question.
    failures: u8,
}

/// Per name, the outcomes of its A, AAAA and SOA lookups (the SOA tells
/// whether an organisation's domain exists): keyed by name alone, so a
/// lookup needs no allocation.
type Entry = [Option<Kept>; 3];

/// Whether an outcome is an answer about the name rather than about the
/// moment.
pub fn is_definitive(status: LookupStatus) -> bool {
    matches!(status, LookupStatus::NoError | LookupStatus::NxDomain)
}

fn slot(qtype: u16) -> usize {
    use crate::dns::wire::rtype;
    match qtype {
        rtype::A => 0,
        rtype::AAAA => 1,
        _ => 2,
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct HostCache {
    young: FxHashMap<Box<str>, Entry>,
    old: FxHashMap<Box<str>, Entry>,
    generation_size: usize,
}

impl HostCache {
    /// A cache holding at most about `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            young: FxHashMap::default(),
            old: FxHashMap::default(),
            generation_size: (capacity / 2).max(1),
        }
    }

    /// The outcome for `(name, qtype)` (A, AAAA or SOA) at `now`, if kept:
    /// a definitive one always, a failure only during its hold-down.
    pub fn get(&mut self, name: &str, qtype: u16, now: Instant) -> Option<Arc<Outcome>> {
        let serve = |kept: &Option<Kept>| {
            kept.as_ref().filter(|k| k.until.is_none_or(|until| now < until)).map(|k| Arc::clone(&k.outcome))
        };
        if let Some(entry) = self.young.get(name) {
            return serve(&entry[slot(qtype)]);
        }
        let (key, entry) = self.old.remove_entry(name)?;
        let found = serve(&entry[slot(qtype)]);
        self.insert_entry(key, entry);
        found
    }

    /// Keep an A, AAAA or SOA outcome reached at `now`.
    pub fn insert(&mut self, name: &str, qtype: u16, outcome: Arc<Outcome>, now: Instant) {
        let kept = |previous: &Option<Kept>| {
            if is_definitive(outcome.status) {
                return Kept { outcome: Arc::clone(&outcome), until: None, failures: 0 };
            }
            let failures = previous.as_ref().map_or(0, |p| p.failures).saturating_add(1);
            let hold = HOLD_DOWN.saturating_mul(1 << u32::from(failures - 1).min(16)).min(MAX_HOLD_DOWN);
            Kept { outcome: Arc::clone(&outcome), until: Some(now + hold), failures }
        };
        if let Some(entry) = self.young.get_mut(name) {
            entry[slot(qtype)] = Some(kept(&entry[slot(qtype)]));
            return;
        }
        let mut entry = self.old.remove(name).unwrap_or_default();
        entry[slot(qtype)] = Some(kept(&entry[slot(qtype)]));
        self.insert_entry(name.into(), entry);
    }

    fn insert_entry(&mut self, key: Box<str>, entry: Entry) {
        if self.young.len() >= self.generation_size {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, entry);
    }

    /// Hosts kept.
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Nothing kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::LookupStatus;

    fn with(status: LookupStatus) -> Arc<Outcome> {
        Arc::new(Outcome { status, answer: Default::default(), resolver: None, error: None })
    }

    fn outcome() -> Arc<Outcome> {
        with(LookupStatus::NoError)
    }

    #[test]
    fn bounded_and_hot_entries_survive() {
        let now = Instant::now();
        let mut cache = HostCache::new(100);
        cache.insert("hot.example", 1, outcome(), now);
        cache.insert("hot.example", 28, outcome(), now);
        assert_eq!(cache.len(), 1, "A and AAAA of a host share an entry");
        for i in 0..10_000 {
            cache.insert(&format!("mail.d{i}.example"), 1, outcome(), now);
            if i % 10 == 0 {
                assert!(cache.get("hot.example", 1, now).is_some(), "hot entry lost at {i}");
            }
            assert!(cache.len() <= 100);
        }
        assert!(cache.get("mail.d0.example", 1, now).is_none());
        assert!(cache.get("mail.d9999.example", 1, now).is_some());
        assert!(cache.get("hot.example", 28, now).is_some());
        assert!(cache.get("mail.d9999.example", 28, now).is_none(), "type is part of the key");
    }

    #[test]
    fn answers_are_kept_failures_only_for_a_growing_hold_down() {
        let t0 = Instant::now();
        let mut cache = HostCache::new(100);
        cache.insert("gone.example", 1, with(LookupStatus::NxDomain), t0);
        assert!(
            cache.get("gone.example", 1, t0 + Duration::from_secs(3600)).is_some(),
            "NXDOMAIN is an answer"
        );
        for failed in
            [LookupStatus::Timeout, LookupStatus::ServFail, LookupStatus::Refused, LookupStatus::Error]
        {
            let mut cache = HostCache::new(100);
            cache.insert("mx.example", 1, with(failed), t0);
            assert!(cache.get("mx.example", 1, t0).is_some(), "{failed:?} is held down");
            assert!(cache.get("mx.example", 1, t0 + HOLD_DOWN).is_none(), "{failed:?} is asked again");
        }
        // Failures in a row double the hold-down; an answer resets it.
        let mut at = t0;
        for hold in [1, 2, 4, 8] {
            cache.insert("dead.example", 28, with(LookupStatus::Timeout), at);
            let held = Duration::from_secs(hold);
            assert!(cache.get("dead.example", 28, at + held - Duration::from_millis(1)).is_some());
            assert!(cache.get("dead.example", 28, at + held).is_none());
            at += held;
        }
        cache.insert("dead.example", 28, outcome(), at);
        cache.insert("dead.example", 28, with(LookupStatus::Timeout), at);
        assert!(cache.get("dead.example", 28, at + HOLD_DOWN).is_none(), "the run was reset");
    }
}
