//! Query ids and other secrets from a cryptographic source.
//!
//! RFC 5452 §9.2: the message id (with the source port) is what an off-path
//! spoofer must guess, so it must come from a source the spoofer cannot
//! predict. A statistical PRNG seeded once is not that: a few observed ids
//! give its state away. Ids are drawn from the kernel's CSPRNG
//! (`getrandom(2)`), a batch at a time so that a million queries cost a few
//! thousand system calls, not a million.

use super::inflight::SplitMix;

/// Random bytes fetched per system call.
const BATCH: usize = 1024;

/// A buffered source of unpredictable numbers.
#[derive(Debug, Clone)]
pub struct IdSource {
    buf: Box<[u8; BATCH]>,
    pos: usize,
    /// Tests only: a seeded, reproducible stream instead of the kernel's.
    seeded: Option<SplitMix>,
}

impl IdSource {
    /// Numbers from the kernel's CSPRNG.
    pub fn os() -> Self {
        Self { buf: Box::new([0; BATCH]), pos: BATCH, seeded: None }
    }

    /// A reproducible stream for tests and simulations. Never for real
    /// queries: it is predictable.
    pub fn seeded(seed: u64) -> Self {
        Self { buf: Box::new([0; BATCH]), pos: BATCH, seeded: Some(SplitMix::seeded(seed)) }
    }

    /// Sixteen random bits (a DNS message id).
    pub fn next_u16(&mut self) -> u16 {
        let [a, b] = self.take::<2>();
        u16::from_ne_bytes([a, b])
    }

    /// Sixty-four random bits.
    pub fn next_u64(&mut self) -> u64 {
        u64::from_ne_bytes(self.take::<8>())
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        if self.pos + N > BATCH {
            self.refill();
        }
        let mut out = [0; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        out
    }

    fn refill(&mut self) {
        match &mut self.seeded {
            Some(rng) => {
                for chunk in self.buf.chunks_mut(8) {
                    chunk.copy_from_slice(&rng.next_u64().to_ne_bytes()[..chunk.len()]);
                }
            }
            None => fill_from_kernel(&mut self.buf[..]),
        }
        self.pos = 0;
    }
}

/// Fill `buf` from `getrandom(2)`, or `/dev/urandom` where the call does not
/// exist. Without either there is no safe id to send: that is a broken
/// system, not a scan condition, hence the panic.
fn fill_from_kernel(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is valid for writes of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
            continue;
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ENOSYS) => {
                use std::io::Read;
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(rest))
                    .expect("no getrandom(2) and no /dev/urandom: cannot draw query ids");
                return;
            }
            _ => panic!("getrandom(2) failed: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_ids_are_spread_and_refill_across_batches() {
        let mut ids = IdSource::os();
        let drawn: Vec<u16> = (0..4 * BATCH).map(|_| ids.next_u16()).collect();
        let distinct: std::collections::HashSet<_> = drawn.iter().collect();
        // 4096 draws from 65,536 values: a few hundred collisions at most
        // (birthday bound ~120); a stuck or zeroed buffer gives thousands.
        assert!(distinct.len() > 3800, "{} distinct of {}", distinct.len(), drawn.len());
        let high_bits = drawn.iter().filter(|&&id| id & 0x8000 != 0).count();
        assert!((1700..2400).contains(&high_bits), "{high_bits} of 4096 with the top bit set");
    }

    #[test]
    fn seeded_streams_repeat_and_os_streams_do_not() {
        let (mut a, mut b) = (IdSource::seeded(3), IdSource::seeded(3));
        assert!((0..3000).all(|_| a.next_u64() == b.next_u64()));
        let (mut x, mut y) = (IdSource::os(), IdSource::os());
        assert_ne!((x.next_u64(), x.next_u64()), (y.next_u64(), y.next_u64()));
    }
}
