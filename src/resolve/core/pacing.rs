//! How fast to ask each resolver: a loss-adaptive window and a measured
//! retransmission timeout, per resolver. Pure arithmetic over instants the
//! caller passes in; no clock of its own.
//!
//! The window works as TCP's congestion control does (RFC 5681): it starts
//! small, grows by one query per answer while below `ssthresh` (slow start)
//! and by one per window of answers above it (congestion avoidance), and is
//! halved on loss, at most once per round (a window's worth of outcomes,
//! about one round trip: RFC 6582 §3.2's "one reduction per window"). It
//! never grows while it is not being used (RFC 7661: a window held back by
//! `--rate` proves nothing about the resolver).
//!
//! Loss, for a resolver, is a first attempt that got no answer within the
//! retransmission timeout. A retry of a question that was already lost is
//! not counted: a dead authoritative server makes every attempt of its
//! question time out, whatever the load, and would otherwise shrink the
//! window for every broken domain in the list. Scattered losses of that
//! kind are also not congestion. A path that loses packets whatever the
//! load (a lossy link) has a baseline: the median loss share of the last
//! [`BASELINE_ROUNDS`] rounds. A round is congested when its loss share
//! exceeds the baseline by [`LOSS_SHARE`] and is at least twice it: an
//! overflowing socket buffer does that at once, a few dead zones or a link
//! that drops 30 % of everything do not (TCP's rule would pin the window at
//! its floor on such a link).
//!
//! The retransmission timeout follows RFC 6298 §2: SRTT and RTTVAR from
//! each answered attempt (ids are per attempt, so samples are never
//! ambiguous and Karn's rule is not needed), RTO = SRTT + 4·RTTVAR, floored
//! at [`MIN_RTO`] and capped by `--timeout`, which is also the first value
//! before any sample. Each retransmission of the same question doubles it
//! (§5.5).

use std::time::{Duration, Instant};

/// The window a resolver starts with.
pub const INITIAL_WINDOW: f64 = 16.0;
/// The window never shrinks below this.
pub const MIN_WINDOW: f64 = 4.0;
/// Loss share above the baseline that marks a round as congested.
pub const LOSS_SHARE: f64 = 0.05;
/// A round is at least this many first attempts (fewer say nothing).
pub const ROUND_MIN: f64 = 32.0;
/// A congested round lost at least this many.
pub const MIN_LOSSES: f64 = 3.0;
/// Rounds whose median loss share is the baseline.
pub const BASELINE_ROUNDS: usize = 8;
/// The retransmission timeout is never shorter than this: below it, the
/// scheduling noise of a busy machine looks like loss.
pub const MIN_RTO: Duration = Duration::from_millis(50);

/// The window and round-trip estimate of one resolver.
#[derive(Debug, Clone)]
pub struct Pacing {
    cwnd: f64,
    ssthresh: f64,
    ceiling: f64,
    in_flight: u32,
    srtt: Option<Duration>,
    rttvar: Duration,
    max_rto: Duration,
    round_outcomes: u32,
    round_losses: u32,
    /// Loss shares of the last completed rounds (ring).
    recent_shares: [f64; BASELINE_ROUNDS],
    recent_len: usize,
    recent_next: usize,
    /// The loss share this path has whatever the load: the median of the
    /// recent rounds (0 before any). A median, not a mean: the one round
    /// that overflowed the resolver does not move it. Kept, not computed
    /// per outcome: it changes only when a round ends.
    baseline: f64,
    /// Slow start may at most double the window per retransmission timeout:
    /// a loss shows only when its timer fires, and an exponential growth
    /// that ran for many round trips before that would overshoot the
    /// resolver's capacity many times over (RFC 3742 limits slow start for
    /// the same reason).
    doubling_base: f64,
    doubling_since: Option<Instant>,
    /// Window cuts so far (for the summary).
    pub decreases: u64,
}

impl Pacing {
    /// A resolver that may have at most `ceiling` queries in flight; `timeout`
    /// caps (and starts) the retransmission timeout.
    pub fn new(ceiling: usize, timeout: Duration) -> Self {
        let ceiling = (ceiling as f64).max(1.0);
        Self {
            cwnd: INITIAL_WINDOW.min(ceiling),
            ssthresh: ceiling,
            ceiling,
            in_flight: 0,
            srtt: None,
            rttvar: Duration::ZERO,
            max_rto: timeout,
            round_outcomes: 0,
            round_losses: 0,
            recent_shares: [0.0; BASELINE_ROUNDS],
            recent_len: 0,
            recent_next: 0,
            baseline: 0.0,
            doubling_base: INITIAL_WINDOW.min(ceiling),
            doubling_since: None,
            decreases: 0,
        }
    }

    /// Queries in flight that count against the window.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// The current window, in queries.
    pub fn window(&self) -> u32 {
        self.cwnd as u32
    }

    /// Queries that may be sent now.
    pub fn room(&self) -> u32 {
        self.window().saturating_sub(self.in_flight)
    }

    /// The smoothed round-trip time, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// A query went out.
    pub fn on_send(&mut self) {
        self.in_flight += 1;
    }

    /// The retransmission timeout for the `attempt`-th try (1 = first) of a
    /// question: RFC 6298 §2 (2.2, 2.3), doubled per retransmission (§5.5).
    pub fn rto(&self, attempt: u8) -> Duration {
        let base = match self.srtt {
            None => return self.max_rto,
            Some(srtt) => (srtt + 4 * self.rttvar).max(MIN_RTO),
        };
        let backoff = 1u32 << u32::from(attempt.saturating_sub(1).min(10));
        base.saturating_mul(backoff).min(self.max_rto)
    }

    /// An answer came back `rtt` after its attempt was sent. `counted`: the
    /// attempt still counted against the window (its timer had not fired).
    /// `first`: it was the question's first attempt.
    pub fn on_answer(&mut self, rtt: Duration, now: Instant, counted: bool, first: bool) {
        self.sample(rtt);
        if first {
            self.round_outcome(false);
        }
        if !counted {
            return;
        }
        let used = self.in_flight as f64;
        self.in_flight -= 1;
        // RFC 7661: grow only a window that is at least half in use.
        if used * 2.0 < self.cwnd {
            return;
        }
        if self.cwnd < self.ssthresh {
            let since = *self.doubling_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= self.rto(1) {
                self.doubling_base = self.cwnd;
                self.doubling_since = Some(now);
            }
            self.cwnd = (self.cwnd + 1.0).min(2.0 * self.doubling_base);
        } else {
            self.cwnd += 1.0 / self.cwnd;
        }
        self.cwnd = self.cwnd.min(self.ceiling);
    }

    /// A counted attempt's retransmission timer (or `--timeout`) fired: it
    /// leaves the window as a loss. `first`: it was the question's first
    /// attempt (only those count toward congestion, see the module docs).
    pub fn on_loss(&mut self, first: bool) {
        self.on_release();
        if first {
            self.round_outcome(true);
        }
    }

    /// A counted attempt leaves the window without saying anything about
    /// the resolver (its lookup was decided by another attempt).
    pub fn on_release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Count a first attempt's outcome; a round is a window's worth of
    /// them (about one round trip). At its end the round's loss share is
    /// judged against the baseline.
    fn round_outcome(&mut self, lost: bool) {
        self.round_outcomes += 1;
        self.round_losses += u32::from(lost);
        let size = self.cwnd.max(ROUND_MIN);
        let limit = (self.baseline + LOSS_SHARE).max(self.baseline * 2.0) * size;
        // Congested as soon as the round's losses pass the limit whatever
        // its remaining outcomes: no need to wait for the round's end.
        let congested = f64::from(self.round_losses) > limit.max(MIN_LOSSES - 1.0);
        if !congested && f64::from(self.round_outcomes) < size {
            return;
        }
        let share = f64::from(self.round_losses) / f64::from(self.round_outcomes);
        self.recent_shares[self.recent_next] = share;
        self.recent_next = (self.recent_next + 1) % BASELINE_ROUNDS;
        self.recent_len = (self.recent_len + 1).min(BASELINE_ROUNDS);
        self.baseline = median(&self.recent_shares[..self.recent_len]);
        self.round_outcomes = 0;
        self.round_losses = 0;
        if congested {
            // RFC 5681 §3.1 (4): ssthresh = max(flight / 2, floor); the
            // window restarts from there (fast recovery without the
            // retransmission inflation: DNS has no cumulative ACKs).
            self.ssthresh = (self.cwnd / 2.0).max(MIN_WINDOW);
            self.cwnd = self.ssthresh;
            self.decreases += 1;
        }
    }

    /// RFC 6298 §2.2 and §2.3 with α = 1/8, β = 1/4.
    fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }
}

/// The median of `shares` (the upper one of an even count).
fn median(shares: &[f64]) -> f64 {
    let mut sorted = [0.0; BASELINE_ROUNDS];
    let sorted = &mut sorted[..shares.len()];
    sorted.copy_from_slice(shares);
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
