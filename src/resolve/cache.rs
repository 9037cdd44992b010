//! A bounded cache of exchange address outcomes.
//!
//! Millions of domains share a few thousand provider hosts, so each host is
//! asked once per scan. Self-hosted exchanges (`mail.<domain>`) are unique,
//! though, and caching all of them would make memory grow with the input.
//! Two generations keep it bounded: entries go into `young`; when it is
//! full, `young` becomes `old` and the previous `old` is dropped. A hit in
//! `old` is promoted, so hosts in steady use survive every turnover.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::Outcome;

/// Per name, the outcomes of its A, AAAA and SOA lookups (the SOA tells
/// whether an organisation's domain exists): keyed by name alone, so a
/// lookup needs no allocation.
type Entry = [Option<Arc<Outcome>>; 3];

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

    /// The outcome for `(name, qtype)` (A, AAAA or SOA), if kept.
    pub fn get(&mut self, name: &str, qtype: u16) -> Option<Arc<Outcome>> {
        if let Some(entry) = self.young.get(name) {
            return entry[slot(qtype)].clone();
        }
        let (key, entry) = self.old.remove_entry(name)?;
        let found = entry[slot(qtype)].clone();
        self.insert_entry(key, entry);
        found
    }

    /// Keep an A, AAAA or SOA outcome.
    pub fn insert(&mut self, name: &str, qtype: u16, outcome: Arc<Outcome>) {
        if let Some(entry) = self.young.get_mut(name) {
            entry[slot(qtype)] = Some(outcome);
            return;
        }
        let mut entry = self.old.remove(name).unwrap_or_default();
        entry[slot(qtype)] = Some(outcome);
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

    fn outcome() -> Arc<Outcome> {
        Arc::new(Outcome {
            status: LookupStatus::NoError,
            answer: Default::default(),
            resolver: None,
            error: None,
        })
    }

    #[test]
    fn bounded_and_hot_entries_survive() {
        let mut cache = HostCache::new(100);
        cache.insert("hot.example", 1, outcome());
        cache.insert("hot.example", 28, outcome());
        assert_eq!(cache.len(), 1, "A and AAAA of a host share an entry");
        for i in 0..10_000 {
            cache.insert(&format!("mail.d{i}.example"), 1, outcome());
            if i % 10 == 0 {
                assert!(cache.get("hot.example", 1).is_some(), "hot entry lost at {i}");
            }
            assert!(cache.len() <= 100);
        }
        assert!(cache.get("mail.d0.example", 1).is_none());
        assert!(cache.get("mail.d9999.example", 1).is_some());
        assert!(cache.get("hot.example", 28).is_some());
        assert!(cache.get("mail.d9999.example", 28).is_none(), "type is part of the key");
    }
}
