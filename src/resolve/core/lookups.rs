//! The lookup table: one entry per question in progress, found by its
//! question so that domains needing the same one share it.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::super::LookupStatus;
use crate::dns::inflight::Slot;

/// One question being asked for one or more domains.
#[derive(Debug)]
pub(super) struct Lookup {
    /// Shared with the question map's key: one allocation per lookup.
    pub(super) name: Arc<str>,
    pub(super) qtype: u16,
    /// Worth caching for other domains.
    pub(super) shared: bool,
    /// The domain that asked first (charged with the queries).
    pub(super) owner: u32,
    /// Other domains waiting for the same answer.
    pub(super) waiters: Vec<u32>,
    /// Reserved from the in-flight table's attempt sequence when the lookup
    /// was made, so it is unique and every attempt of this lookup has a
    /// larger sequence number, every attempt of an earlier occupant of the
    /// same slab slot a smaller one. Queue entries and TCP exchanges name
    /// their lookup by handle and serial.
    pub(super) serial: u64,
    /// Attempts sent so far.
    pub(super) attempts: u8,
    /// Attempts still in the in-flight table (answerable).
    pub(super) live: u8,
    /// Resolver of the latest attempt.
    pub(super) resolver: u16,
    /// The attempt that counts against its resolver's window (the latest,
    /// until its retransmission timer fires or it is answered).
    pub(super) current: Option<(Slot, u64)>,
    /// A retry is queued or waiting out its backoff.
    pub(super) retry_pending: bool,
    /// Asked again over TCP; UDP timers no longer decide it.
    pub(super) in_tcp: bool,
    /// The last failure a resolver actually answered (SERVFAIL, REFUSED,
    /// another RCODE): better evidence than a later lost packet.
    pub(super) answered_failure: Option<(LookupStatus, Option<String>, u16)>,
}

impl Lookup {
    /// If `(slot, seq)` is the attempt counting against its window, it no
    /// longer does: true when it was.
    pub(super) fn take_current(&mut self, slot: Slot, seq: u64) -> bool {
        let was = self.current == Some((slot, seq));
        if was {
            self.current = None;
        }
        was
    }
}

/// Lookups in progress, by handle and by question.
#[derive(Debug, Default)]
pub(super) struct Lookups {
    slab: Slab<Lookup>,
    by_question: FxHashMap<(Arc<str>, u16), u32>,
}

impl Lookups {
    /// The lookup already asking `(name, qtype)`.
    pub(super) fn find(&self, name: &Arc<str>, qtype: u16) -> Option<u32> {
        self.by_question.get(&(Arc::clone(name), qtype)).copied()
    }

    pub(super) fn insert(&mut self, lookup: Lookup) -> u32 {
        let key = (Arc::clone(&lookup.name), lookup.qtype);
        let l = self.slab.insert(lookup);
        self.by_question.insert(key, l);
        l
    }

    /// The lookup `l`, if it is still the one attempt `seq` was sent for.
    pub(super) fn for_attempt(&mut self, l: u32, seq: u64) -> Option<&mut Lookup> {
        self.slab.try_get_mut(l).filter(|lookup| seq > lookup.serial)
    }

    /// The lookup `l`, if it is still the one with `serial`.
    pub(super) fn by_serial(&mut self, l: u32, serial: u64) -> Option<&mut Lookup> {
        self.slab.try_get_mut(l).filter(|lookup| lookup.serial == serial)
    }

    pub(super) fn get_mut(&mut self, l: u32) -> &mut Lookup {
        self.slab.get_mut(l)
    }

    pub(super) fn remove(&mut self, l: u32) -> Lookup {
        let lookup = self.slab.remove(l);
        self.by_question.remove(&(Arc::clone(&lookup.name), lookup.qtype));
        lookup
    }
}

/// A vector of optional slots with a free list: stable `u32` handles, no
/// allocation once warm.
#[derive(Debug)]
pub(super) struct Slab<T> {
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
    pub(super) fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            self.entries[i as usize] = Some(value);
            i
        } else {
            self.entries.push(Some(value));
            (self.entries.len() - 1) as u32
        }
    }

    pub(super) fn try_get(&self, i: u32) -> Option<&T> {
        self.entries.get(i as usize)?.as_ref()
    }

    pub(super) fn try_get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.entries.get_mut(i as usize)?.as_mut()
    }

    pub(super) fn get_mut(&mut self, i: u32) -> &mut T {
        self.entries[i as usize].as_mut().expect("live slab handle")
    }

    pub(super) fn remove(&mut self, i: u32) -> T {
        let value = self.entries[i as usize].take().expect("live slab handle");
        self.free.push(i);
        self.len -= 1;
        value
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }
}
