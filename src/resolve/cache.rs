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

type Key = (Box<str>, u16);

/// See the module docs.
#[derive(Debug)]
pub struct HostCache {
    young: FxHashMap<Key, Arc<Outcome>>,
    old: FxHashMap<Key, Arc<Outcome>>,
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

    /// The outcome for `(name, qtype)`, if kept.
    pub fn get(&mut self, name: &str, qtype: u16) -> Option<Arc<Outcome>> {
        let key: Key = (name.into(), qtype);
        if let Some(o) = self.young.get(&key) {
            return Some(Arc::clone(o));
        }
        let o = self.old.remove(&key)?;
        self.insert_key(key, Arc::clone(&o));
        Some(o)
    }

    /// Keep an outcome.
    pub fn insert(&mut self, name: &str, qtype: u16, outcome: Arc<Outcome>) {
        self.insert_key((name.into(), qtype), outcome);
    }

    fn insert_key(&mut self, key: Key, outcome: Arc<Outcome>) {
        if self.young.len() >= self.generation_size {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, outcome);
    }

    /// Entries kept.
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
        for i in 0..10_000 {
            cache.insert(&format!("mail.d{i}.example"), 1, outcome());
            if i % 10 == 0 {
                assert!(cache.get("hot.example", 1).is_some(), "hot entry lost at {i}");
            }
            assert!(cache.len() <= 100);
        }
        assert!(cache.get("mail.d0.example", 1).is_none());
        assert!(cache.get("mail.d9999.example", 1).is_some());
        assert!(cache.get("hot.example", 28).is_none(), "type is part of the key");
    }
}
