//! `--shard K/N`: a fixed split of any list into N pieces, so that an
//! existing scheduler (a Slurm array, a Kubernetes Indexed Job) can scan
//! them apart and the pieces add up to the whole.
//!
//! A domain belongs to shard `K` when the first 8 bytes of the MD5 of its
//! normalised name, read as a big-endian u64, are `K` mod `N`; an invalid
//! line goes by the same hash of its raw token. MD5 because every engine
//! an analyst uses has it, so the split can be recomputed in SQL:
//!
//! ```sql
//! -- DuckDB (checked by the integration tests)
//! select ('0x' || left(md5(domain), 16))::ubigint % 4 as shard from 'mx.parquet';
//! ```
//!
//! The same name always lands in the same shard, so a name listed twice is
//! scanned once, by one shard, and the shards never overlap.

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};

/// One piece of a fixed split: `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, from 0.
    pub index: u64,
    /// N, at least 1.
    pub count: u64,
}

/// The shard key of a name (or of an invalid line's raw token): the first
/// 8 bytes of its MD5, big-endian.
pub fn shard_key(name: &str) -> u64 {
    let digest = Md5::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl Shard {
    /// Whether `name` (a normalised domain, or an invalid line's raw token)
    /// is this shard's.
    pub fn owns(&self, name: &str) -> bool {
        shard_key(name) % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--shard wants K/N with 0 <= K < N (e.g. 0/4), not {s:?}");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) =
            (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_md5s_first_eight_bytes_big_endian() {
        // md5("example.com") = 5ababd603b22780302dd8d83498e5172; what DuckDB's
        // ('0x' || left(md5('example.com'), 16))::ubigint gives.
        assert_eq!(shard_key("example.com"), 0x5aba_bd60_3b22_7803);
        assert_eq!(shard_key("example.com"), 6_537_746_030_088_321_027);
        assert!(Shard { index: 0, count: 7 }.owns("example.com"));
        assert!(!Shard { index: 1, count: 7 }.owns("example.com"));
    }

    #[test]
    fn every_name_has_exactly_one_shard() {
        let names: Vec<String> = (0..2000).map(|i| format!("d{i}.example")).collect();
        for count in [1u64, 2, 3, 8] {
            let mut sizes = vec![0usize; count as usize];
            for name in &names {
                let owners: Vec<u64> =
                    (0..count).filter(|&index| Shard { index, count }.owns(name)).collect();
                assert_eq!(owners.len(), 1, "{name} in {count}");
                sizes[owners[0] as usize] += 1;
            }
            // Roughly even: no shard under half its share.
            assert!(sizes.iter().all(|&n| n * 2 * count as usize >= names.len()), "{sizes:?}");
        }
    }

    #[test]
    fn k_of_n_parses_and_refuses_nonsense() {
        assert_eq!("3/4".parse::<Shard>(), Ok(Shard { index: 3, count: 4 }));
        assert_eq!(Shard { index: 3, count: 4 }.to_string(), "3/4");
        for bad in ["4/4", "0/0", "1", "a/b", "-1/4", "1/4/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
