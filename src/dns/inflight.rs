//! The in-flight table: which query waits behind each (socket, id) pair,
//! and when it times out.
//!
//! Ids are drawn at random per socket from a cryptographic source
//! ([`IdSource`]; RFC 5452 §9.2: id and source port are the two secrets a
//! spoofer must guess), never reused while outstanding.
//! Every attempt carries a unique sequence number so a late answer to an
//! attempt that already timed out, or a stale timer, is recognised and
//! ignored rather than misattributed.
//!
//! An attempt that leaves the table without its answer (its `--timeout`
//! passed, or another attempt of its lookup was answered first) is *retired*:
//! its id stays out of use for a while, so the answer that may still come is
//! recognised as late (ours, just not wanted any more) rather than counted
//! with forged and stray datagrams, and cannot be taken for the answer to a
//! new attempt under the same id.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::ids::IdSource;

/// Identifies one transmission attempt of one lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Socket index.
    pub socket: u16,
    /// DNS message id.
    pub id: u16,
}

/// What the table remembers about an outstanding attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// The lookup the attempt belongs to (an index chosen by the caller).
    pub lookup: u32,
    /// Unique attempt number.
    pub seq: u64,
    /// Index of the resolver the query went to.
    pub resolver: u16,
    /// Which attempt of its lookup it is (1 = the first).
    pub attempt: u8,
    /// When it was sent.
    pub sent_at: Instant,
}

/// A small, fast, seedable PRNG (SplitMix64). Not cryptographic: for
/// sampling, hashing and test streams, never for query ids (those come from
/// [`IdSource`]).
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// Seeded from the process's random hasher keys (OS entropy).
    pub fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x6d78_7363_616e);
        Self(h.finish())
    }

    /// Fixed seed, for tests.
    pub fn seeded(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// What a (socket, id) pair holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Free,
    Waiting(Pending),
    /// Left without its answer; the id is not reused before `until`.
    Retired {
        resolver: u16,
        until: Instant,
    },
}

/// Outstanding queries over `sockets` sockets, each with its own 16-bit id
/// space.
#[derive(Debug)]
pub struct InflightTable {
    slots: Vec<Entry>,
    sockets: u16,
    /// Waiting attempts.
    len: usize,
    /// Per socket: ids not free (waiting or retired).
    taken: Vec<u32>,
    /// How long a retired id stays out of use.
    linger: Duration,
    /// Per socket: its retired ids, oldest first (the linger is constant, so
    /// this is also the order in which they come free).
    retired: Vec<VecDeque<u16>>,
    next_socket: u16,
    next_seq: u64,
    ids: IdSource,
    /// Deadlines in send order. Every attempt gets the same timeout, so this
    /// FIFO is also deadline order: no heap needed.
    deadlines: VecDeque<(Instant, Slot, u64)>,
}

impl InflightTable {
    /// A table for `sockets` sockets (at least one) whose retired ids stay
    /// out of use for `linger`.
    pub fn new(sockets: u16, ids: IdSource, linger: Duration) -> Self {
        let sockets = sockets.max(1);
        Self {
            slots: vec![Entry::Free; sockets as usize * 65536],
            sockets,
            len: 0,
            taken: vec![0; sockets as usize],
            linger,
            retired: vec![VecDeque::new(); sockets as usize],
            next_socket: 0,
            next_seq: 0,
            ids,
            deadlines: VecDeque::new(),
        }
    }

    /// Outstanding attempts.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No attempt outstanding.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ids per socket: 65,536.
    pub const IDS_PER_SOCKET: usize = 65_536;

    /// Take a sequence number no attempt will have: every attempt inserted
    /// later gets a larger one, every earlier one has a smaller one.
    pub fn reserve_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// The source the ids are drawn from, for the other secrets of the
    /// caller (one buffer of kernel randomness, not two).
    pub fn ids(&mut self) -> &mut IdSource {
        &mut self.ids
    }

    /// Reserve a slot on the next socket (round robin) under a random free id
    /// and remember the attempt until `deadline`.
    pub fn insert(
        &mut self,
        lookup: u32,
        resolver: u16,
        attempt: u8,
        now: Instant,
        deadline: Instant,
    ) -> (Slot, u64) {
        assert!(self.len < self.slots.len(), "in-flight table full");
        let socket = self.next_socket;
        self.next_socket = (self.next_socket + 1) % self.sockets;
        self.make_room(socket, now);
        let base = socket as usize * 65536;
        // With at most a few thousand ids in use per socket a random probe
        // almost always hits a free one at once.
        // The command line keeps the table at most half full
        // (`--concurrency` against sockets × ids), so this ends quickly.
        let mut id = self.ids.next_u16();
        while self.slots[base + id as usize] != Entry::Free {
            id = self.ids.next_u16();
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        self.slots[base + id as usize] =
            Entry::Waiting(Pending { lookup, seq, resolver, attempt, sent_at: now });
        self.len += 1;
        self.taken[socket as usize] += 1;
        let slot = Slot { socket, id };
        self.deadlines.push_back((deadline, slot, seq));
        (slot, seq)
    }

    /// The attempt waiting at `slot`, if any.
    pub fn get(&self, slot: Slot) -> Option<&Pending> {
        match self.slots.get(Self::index(slot))? {
            Entry::Waiting(pending) => Some(pending),
            _ => None,
        }
    }

    /// The resolver asked by the attempt that was retired from `slot`, if
    /// the slot is retired and its linger is not over at `now`: a response
    /// from that resolver there is a late answer.
    pub fn retired(&self, slot: Slot, now: Instant) -> Option<u16> {
        match self.slots.get(Self::index(slot))? {
            Entry::Retired { resolver, until } if *until > now => Some(*resolver),
            _ => None,
        }
    }

    /// Forget the attempt at `slot` (answered): the id is free at once. Its
    /// deadline entry goes stale and is skipped later.
    pub fn remove(&mut self, slot: Slot) -> Option<Pending> {
        let pending = self.take_waiting(slot)?;
        self.slots[Self::index(slot)] = Entry::Free;
        self.taken[slot.socket as usize] -= 1;
        Some(pending)
    }

    /// Take the attempt at `slot` out without its answer (another attempt
    /// decided its lookup): the id lingers, retired, so that the answer still
    /// on its way is known as late.
    pub fn retire(&mut self, slot: Slot, now: Instant) -> Option<Pending> {
        let pending = self.take_waiting(slot)?;
        self.slots[Self::index(slot)] =
            Entry::Retired { resolver: pending.resolver, until: now + self.linger };
        self.retired[slot.socket as usize].push_back(slot.id);
        Some(pending)
    }

    /// The attempt waiting at `slot`, no longer counted as waiting; the
    /// caller says what the slot holds now.
    fn take_waiting(&mut self, slot: Slot) -> Option<Pending> {
        let Entry::Waiting(pending) = *self.slots.get(Self::index(slot))? else { return None };
        self.len -= 1;
        Some(pending)
    }

    /// The earliest deadline still pending.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale_front();
        self.deadlines.front().map(|d| d.0)
    }

    /// Remove and return one attempt whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Slot, Pending)> {
        self.drop_stale_front();
        let &(deadline, slot, _) = self.deadlines.front()?;
        if deadline > now {
            return None;
        }
        self.deadlines.pop_front();
        let pending = self.retire(slot, now).expect("front deadline is live");
        Some((slot, pending))
    }

    /// Before an id is taken on `socket`: its retired ids whose linger is
    /// over go back into use, and so do the oldest others while the socket
    /// is three quarters taken (a lossy source port would otherwise fill its
    /// ids with retired ones), so that a random probe finds a free id at
    /// once. Waiting attempts alone the command line keeps at half the ids.
    fn make_room(&mut self, socket: u16, now: Instant) {
        const CROWDED: u32 = (InflightTable::IDS_PER_SOCKET / 4 * 3) as u32;
        let s = socket as usize;
        while let Some(&id) = self.retired[s].front() {
            let index = Self::index(Slot { socket, id });
            let Entry::Retired { until, .. } = self.slots[index] else {
                unreachable!("a retired id stays retired until it leaves this queue")
            };
            if until > now && self.taken[s] < CROWDED {
                break;
            }
            self.retired[s].pop_front();
            self.slots[index] = Entry::Free;
            self.taken[s] -= 1;
        }
    }

    fn drop_stale_front(&mut self) {
        while let Some(&(_, slot, seq)) = self.deadlines.front() {
            if self.get(slot).is_some_and(|p| p.seq == seq) {
                break;
            }
            self.deadlines.pop_front();
        }
    }

    fn index(slot: Slot) -> usize {
        slot.socket as usize * 65536 + slot.id as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_are_unique_per_socket_and_deadlines_fire_in_order() {
        let t0 = Instant::now();
        let mut table = InflightTable::new(2, IdSource::seeded(1), Duration::from_secs(2));
        let mut seen = std::collections::HashSet::new();
        for i in 0..4000u32 {
            let (slot, _) = table.insert(i, 0, 1, t0, t0 + Duration::from_millis(i as u64));
            assert!(seen.insert((slot.socket, slot.id)), "slot reused while outstanding");
        }
        assert_eq!(table.len(), 4000);
        // Answer every other one; the rest expire in send order.
        let slots: Vec<Slot> = seen.iter().map(|&(socket, id)| Slot { socket, id }).collect();
        let mut answered = 0;
        for s in &slots {
            if table.get(*s).unwrap().lookup.is_multiple_of(2) {
                table.remove(*s).unwrap();
                answered += 1;
            }
        }
        assert_eq!(answered, 2000);
        assert!(table.pop_expired(t0 + Duration::from_millis(0)).is_none(), "lookup 0 was answered");
        let mut last = 0;
        let mut expired = 0;
        while let Some((_, p)) = table.pop_expired(t0 + Duration::from_secs(10)) {
            assert!(!p.lookup.is_multiple_of(2));
            assert!(p.lookup > last || expired == 0);
            last = p.lookup;
            expired += 1;
        }
        assert_eq!(expired, 2000);
        assert!(table.is_empty());
        assert_eq!(table.next_deadline(), None);
    }

    #[test]
    fn late_answer_after_timeout_finds_nothing() {
        let t0 = Instant::now();
        let mut table = InflightTable::new(1, IdSource::seeded(7), Duration::from_secs(2));
        let (slot, seq) = table.insert(5, 3, 1, t0, t0);
        let (expired, p) = table.pop_expired(t0).unwrap();
        assert_eq!((expired, p.seq), (slot, seq));
        assert!(table.get(slot).is_none());
        assert!(table.remove(slot).is_none());
        // Retired: known as the resolver's late answer, not outstanding.
        assert_eq!(table.retired(slot, t0), Some(3));
        assert_eq!(table.retired(slot, t0 + Duration::from_secs(2)), None, "its linger is over");
        assert!(table.is_empty());
    }

    #[test]
    fn retired_ids_stay_out_of_use_for_the_linger_only() {
        let t0 = Instant::now();
        let linger = Duration::from_secs(2);
        // One socket, many attempts: ids would soon repeat if retired ones
        // were handed out again.
        let mut table = InflightTable::new(1, IdSource::seeded(3), linger);
        let mut retired = std::collections::HashSet::new();
        for i in 0..20_000u32 {
            let (slot, _) = table.insert(i, 0, 1, t0, t0 + linger);
            assert!(!retired.contains(&slot.id), "a retired id was reused within its linger");
            if i % 2 == 0 {
                table.retire(slot, t0).unwrap();
                retired.insert(slot.id);
            } else {
                table.remove(slot).unwrap();
            }
        }
        assert_eq!(table.len(), 0);
        let some = *retired.iter().next().unwrap();
        assert_eq!(table.retired(Slot { socket: 0, id: some }, t0), Some(0));
        // After the linger the next insert puts them back into use.
        table.insert(0, 0, 1, t0 + linger, t0 + linger * 2);
        let still = retired.iter().filter(|&&id| table.retired(Slot { socket: 0, id }, t0).is_some()).count();
        assert_eq!(still, 0);
    }

    #[test]
    fn a_socket_crowded_with_retired_ids_still_finds_a_free_one() {
        let t0 = Instant::now();
        // Two sockets; everything sent on socket 0 is lost (retired), socket
        // 1's attempts are answered: table-wide the cap is never reached,
        // yet socket 0 alone would run out of ids.
        let mut table = InflightTable::new(2, IdSource::seeded(9), Duration::from_secs(3600));
        for i in 0..300_000u32 {
            let (slot, _) = table.insert(i, 0, 1, t0, t0);
            if slot.socket == 0 {
                table.retire(slot, t0).unwrap();
            } else {
                table.remove(slot).unwrap();
            }
        }
        assert!(table.is_empty());
    }

    #[test]
    fn retired_ids_never_fill_the_table() {
        let t0 = Instant::now();
        // A linger so long that nothing is released by time.
        let mut table = InflightTable::new(1, IdSource::seeded(5), Duration::from_secs(3600));
        for i in 0..200_000u32 {
            let (slot, _) = table.insert(i, 0, 1, t0, t0);
            table.retire(slot, t0).unwrap();
        }
        let retired =
            (0..=u16::MAX).filter(|&id| table.retired(Slot { socket: 0, id }, t0).is_some()).count();
        assert!(retired <= InflightTable::IDS_PER_SOCKET / 4 * 3, "{retired} retired ids");
        assert!(
            retired >= InflightTable::IDS_PER_SOCKET / 2,
            "{retired}: the linger is kept while there is room"
        );
    }
}
