//! The global query rate (`--rate`), enforced with governor.
//!
//! governor's `Quota::per_second(n)` allows a burst of `n`: a fresh limiter
//! would let a whole second's worth of queries out at once, which is exactly
//! the flood a polite scanner must not send. The burst here is ten
//! milliseconds' worth (at least one packet): tokio's timer rounds every
//! sleep up to the next millisecond, so a one-millisecond burst would
//! deliver barely half the rate asked (measured: 1,700/s for `--rate 3000`);
//! ten lets each wake-up send what accrued while it slept.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};

type Direct = RateLimiter<governor::state::NotKeyed, governor::state::InMemoryState, DefaultClock>;

/// Global limiter; `None` inside means unlimited.
#[derive(Debug)]
pub struct RateLimit {
    limiter: Option<Direct>,
    burst: u32,
}

impl RateLimit {
    /// `qps` queries per second; 0 is unlimited.
    pub fn new(qps: u32) -> Self {
        let Some(rate) = NonZeroU32::new(qps) else { return Self { limiter: None, burst: u32::MAX } };
        let burst = (qps / 100).max(1);
        let quota = Quota::per_second(rate).allow_burst(NonZeroU32::new(burst).expect("at least 1"));
        Self { limiter: Some(RateLimiter::direct(quota)), burst }
    }

    /// How many queries may go now (at most `want`, at most one burst).
    /// When none may, the time to wait before asking again.
    pub fn take(&self, want: usize) -> Result<usize, Duration> {
        let Some(limiter) = &self.limiter else { return Ok(want) };
        let n = (want.min(self.burst as usize) as u32).max(1);
        let cells = NonZeroU32::new(n).expect("n >= 1");
        match limiter.check_n(cells) {
            Ok(Ok(())) => Ok(n as usize),
            // Not the whole batch: maybe one fits; else wait until one does.
            Ok(Err(_)) | Err(_) => match limiter.check() {
                Ok(()) => Ok(1),
                Err(not_until) => Err(not_until
                    .wait_time_from(DefaultClock::default().now())
                    .max(Duration::from_micros(100))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn no_initial_burst() {
        let started = Instant::now();
        let limit = RateLimit::new(1000);
        let mut granted = 0;
        // Ask until refused: a fresh limiter gives its burst, then only what
        // accrues (one a millisecond, however long this thread was paused).
        let mut refused = None;
        for _ in 0..100_000 {
            match limit.take(64) {
                Ok(n) => granted += n,
                Err(wait) => {
                    refused = Some(wait);
                    break;
                }
            }
        }
        // A fresh limiter at 1000/s grants ten milliseconds' worth, not a
        // second's: the burst of 10 plus one per elapsed millisecond.
        let allowed = 10 + started.elapsed().as_millis() as usize + 1;
        assert!(granted <= allowed, "granted {granted}, allowed {allowed}");
        assert!(granted >= 10, "the burst: {granted}");
        let wait = refused.expect("refused once the burst is spent");
        assert!(wait <= Duration::from_millis(2), "the next one in about a millisecond: {wait:?}");
        assert_eq!(RateLimit::new(0).take(500), Ok(500));
    }
}
