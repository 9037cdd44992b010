//! The set of names seen so far, for dedupe: exactly 8 bytes per name.
//!
//! A hash set of 64-bit hashes costs ~14 bytes per entry at hashbrown's load
//! factor, and twice that while it resizes: 320 MiB peak for a 10-million
//! line list. Here the hashes live in one sorted `Vec<u64>`; new ones go to
//! a small set first and are merged in place from the back (the vector grows
//! by `reserve_exact`, which large allocations do with `mremap`, without a
//! copy). Hashes are uniform, so lookups use interpolation search, falling
//! back to binary search after a few probes so that no input can make them
//! slow.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

/// New hashes kept unsorted before a merge.
const RECENT: usize = 1 << 16;

/// See the module docs.
#[derive(Debug, Default)]
pub struct SeenSet {
    sorted: Vec<u64>,
    recent: HashSet<u64, BuildHasherDefault<Identity>>,
}

impl SeenSet {
    /// Add `hash`; false if it was there already.
    pub fn insert(&mut self, hash: u64) -> bool {
        if contains(&self.sorted, hash) || !self.recent.insert(hash) {
            return false;
        }
        if self.recent.len() >= RECENT {
            self.merge();
        }
        true
    }

    /// Hashes held.
    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn merge(&mut self) {
        let mut new: Vec<u64> = self.recent.drain().collect();
        new.sort_unstable();
        let old = self.sorted.len();
        self.sorted.reserve_exact(new.len());
        self.sorted.resize(old + new.len(), 0);
        // Merge from the back into the free space at the end.
        let (mut i, mut j, mut k) = (old, new.len(), old + new.len());
        while j > 0 {
            if i > 0 && self.sorted[i - 1] > new[j - 1] {
                self.sorted[k - 1] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[k - 1] = new[j - 1];
                j -= 1;
            }
            k -= 1;
        }
    }
}

/// Interpolation search over uniformly spread sorted values, turning to
/// binary search after a few probes.
fn contains(v: &[u64], x: u64) -> bool {
    let (mut lo, mut hi) = (0usize, v.len());
    for _ in 0..6 {
        if lo >= hi {
            return false;
        }
        let (a, b) = (v[lo], v[hi - 1]);
        if x < a || x > b {
            return false;
        }
        if a == b {
            return a == x;
        }
        let span = (hi - 1 - lo) as u128;
        let pos = lo + ((u128::from(x - a) * span) / u128::from(b - a)) as usize;
        match v[pos].cmp(&x) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = pos + 1,
            std::cmp::Ordering::Greater => hi = pos,
        }
    }
    v[lo..hi].binary_search(&x).is_ok()
}

/// The keys are already hashes.
#[derive(Default)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::inflight::SplitMix;

    #[test]
    fn agrees_with_a_hash_set_across_merges() {
        let mut rng = SplitMix::seeded(5);
        let mut seen = SeenSet::default();
        let mut reference = std::collections::HashSet::new();
        let mut values = Vec::new();
        for i in 0..300_000u64 {
            // Uniform hashes, repeats, and a clustered adversarial range.
            let x = match i % 5 {
                0 if !values.is_empty() => values[(rng.next_u64() as usize) % values.len()],
                1 => i / 5,
                _ => rng.next_u64(),
            };
            values.push(x);
            assert_eq!(seen.insert(x), reference.insert(x), "value {x} at {i}");
        }
        assert_eq!(seen.len(), reference.len());
        assert!(seen.sorted.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        for &x in values.iter().take(10_000) {
            assert!(!seen.insert(x));
        }
        assert!(!contains(&[], 1));
        assert!(contains(&[u64::MAX], u64::MAX) && !contains(&[0, u64::MAX], 5));
    }
}
