//! Where a scan's CPU goes, by stage: so that a regression shows which
//! stage it came from (`--stats`, `scripts/bench`). Thread CPU clocks, read
//! a few times per chunk or batch, never per packet.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time the whole process has used (every thread, user and system).
pub fn process_cpu() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids are ones
    // Linux always has. On failure the zeroed value stands.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// The writer thread's stages, shared with the sink that encodes.
#[derive(Debug, Default)]
pub struct StageClock {
    analysis_ns: AtomicU64,
    arrow_ns: AtomicU64,
    parquet_ns: AtomicU64,
}

impl StageClock {
    /// Add the thread CPU spent in `f` to the analysis stage.
    pub fn analysis<T>(&self, f: impl FnOnce() -> T) -> T {
        Self::timed(&self.analysis_ns, f)
    }

    /// ... to building Arrow batches.
    pub fn arrow<T>(&self, f: impl FnOnce() -> T) -> T {
        Self::timed(&self.arrow_ns, f)
    }

    /// ... to Parquet encoding and compression.
    pub fn parquet<T>(&self, f: impl FnOnce() -> T) -> T {
        Self::timed(&self.parquet_ns, f)
    }

    fn timed<T>(slot: &AtomicU64, f: impl FnOnce() -> T) -> T {
        let start = thread_cpu();
        let out = f();
        slot.fetch_add(thread_cpu().saturating_sub(start).as_nanos() as u64, Relaxed);
        out
    }

    /// (analysis, arrow, parquet) so far.
    pub fn read(&self) -> (Duration, Duration, Duration) {
        let get = |a: &AtomicU64| Duration::from_nanos(a.load(Relaxed));
        (get(&self.analysis_ns), get(&self.arrow_ns), get(&self.parquet_ns))
    }
}

/// CPU seconds by stage for one scan.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageCpu {
    /// The input thread: reading, decompressing, normalising, deduplicating.
    pub input: Duration,
    /// Everything else in the process: the query engine (sockets, the
    /// core, the resolution state machines), TCP and policy fetch tasks.
    pub engine: Duration,
    /// Provider fingerprints, findings, policy reports (writer thread).
    pub analysis: Duration,
    /// Rows into Arrow batches (writer thread).
    pub arrow: Duration,
    /// Parquet encoding and zstd (writer thread, and the final flush).
    pub parquet: Duration,
    /// The rest of the writer thread (channel, row moves, JSON lines).
    pub writer_other: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_advance_and_stages_add_up() {
        let clock = StageClock::default();
        let spin = || (0..2_000_000u64).fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(b));
        let before = process_cpu();
        std::hint::black_box(clock.analysis(spin));
        std::hint::black_box(clock.parquet(spin));
        let (analysis, arrow, parquet) = clock.read();
        assert!(analysis > Duration::ZERO && parquet > Duration::ZERO, "{analysis:?} {parquet:?}");
        assert_eq!(arrow, Duration::ZERO);
        assert!(process_cpu() - before >= analysis, "the process clock covers the thread's");
    }
}
