//! Resolver health: which resolvers still deserve queries.
//!
//! Each resolver keeps a shift register of its last [`WINDOW`] outcomes. A
//! resolver is *dead* when none of them was an answer (timeouts, or REFUSED:
//! it will not serve us) and it has been silent for a while (`silence`,
//! several timeouts): a burst of lost packets on a lossy path gives a run of
//! timeouts too, but not a long silence. It is *failing* when at least 90 % were SERVFAIL,
//! REFUSED or timeouts. A dead resolver is sidelined as soon as another one
//! still answers; a failing one only when another does clearly better, since
//! a stretch of broken domains makes any resolver SERVFAIL. When every
//! remaining resolver is dead, the scan cannot go on: the verdict says so,
//! and the caller stops instead of timing out every domain in turn.

use std::time::{Duration, Instant};

/// Outcomes remembered per resolver.
pub const WINDOW: u32 = 64;
/// Silent outcomes after which a resolver that never answered is sidelined
/// (when another one answers).
pub const NEVER_ANSWERED: u32 = 16;

/// What came back for one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// NOERROR or NXDOMAIN: a real answer.
    Answer,
    /// SERVFAIL (or another failing RCODE).
    ServFail,
    /// REFUSED.
    Refused,
    /// Nothing within the timeout.
    Timeout,
}

/// A change worth telling the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changed.
    Fine,
    /// This resolver gets no more queries.
    Sidelined {
        /// Resolver index.
        resolver: u16,
        /// Why, for people.
        reason: String,
    },
    /// No usable resolver answers any more.
    AllDead {
        /// Why, for people.
        reason: String,
    },
}

#[derive(Debug, Clone, Default)]
struct State {
    fails: u64,
    silent: u64,
    len: u32,
    sidelined: bool,
    /// Its last answer, or its first outcome when it never answered.
    heard: Option<Instant>,
    /// It answered at least once in the whole scan.
    ever_answered: bool,
}

impl State {
    fn full(&self) -> bool {
        self.len >= WINDOW
    }
    fn dead(&self, now: Instant, silence: Duration) -> bool {
        self.full()
            && self.silent.count_ones() >= WINDOW
            && self.heard.is_some_and(|t| now.saturating_duration_since(t) >= silence)
    }
    /// Never answered, and every one of its first [`NEVER_ANSWERED`] (or
    /// more) outcomes was silent. The adaptive window sends a silent
    /// resolver only a few queries per timeout, so a full window of
    /// outcomes can take longer than a short scan; this is no burst.
    fn never_answered(&self) -> bool {
        !self.ever_answered && self.len >= NEVER_ANSWERED && self.silent.count_ones() >= self.len
    }
    /// Answered at least once in its window.
    fn answers(&self) -> bool {
        let seen = if self.len >= 64 { u64::MAX } else { (1u64 << self.len) - 1 };
        self.len > 0 && (self.silent & seen) != seen
    }
    fn fail_ratio(&self) -> f64 {
        f64::from(self.fails.count_ones()) / f64::from(self.len.clamp(1, WINDOW))
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct ResolverHealth {
    states: Vec<State>,
    silence: Duration,
}

impl ResolverHealth {
    /// Health of `count` resolvers, all presumed well; one silent for
    /// `silence` (and [`WINDOW`] outcomes) is dead.
    pub fn new(count: usize, silence: Duration) -> Self {
        Self { states: vec![State::default(); count], silence }
    }

    /// Whether `r` may get queries.
    pub fn usable(&self, r: u16) -> bool {
        !self.states[r as usize].sidelined
    }

    /// The first usable resolver at or after `r` (wrapping); `r` itself if
    /// none is usable.
    pub fn usable_from(&self, r: u16) -> u16 {
        let n = self.states.len() as u16;
        (0..n).map(|k| (r + k) % n).find(|&s| self.usable(s)).unwrap_or(r)
    }

    /// The next usable resolver after `r`, for a retry.
    pub fn after(&self, r: u16) -> u16 {
        self.usable_from((r + 1) % self.states.len() as u16)
    }

    /// Sidelined resolvers.
    pub fn sidelined(&self) -> impl Iterator<Item = u16> + '_ {
        (0..self.states.len() as u16).filter(|&r| !self.usable(r))
    }

    /// Take `r` out of use for a reason found elsewhere (it does not
    /// recurse). False when it was the last usable resolver: then the scan
    /// cannot go on and nothing is changed.
    pub fn sideline(&mut self, r: u16) -> bool {
        let others = (0..self.states.len() as u16).any(|o| o != r && self.usable(o));
        if others {
            self.states[r as usize].sidelined = true;
        }
        others
    }

    /// Record an outcome of `r` at `now` and judge.
    pub fn record(&mut self, r: u16, observed: Observed, now: Instant) -> Verdict {
        let silence = self.silence;
        let s = &mut self.states[r as usize];
        if observed == Observed::Answer || s.heard.is_none() {
            s.heard = Some(now);
        }
        s.ever_answered |= observed == Observed::Answer;
        let fail = observed != Observed::Answer;
        let silent = matches!(observed, Observed::Timeout | Observed::Refused);
        s.fails = (s.fails << 1) | u64::from(fail);
        s.silent = (s.silent << 1) | u64::from(silent);
        s.len = (s.len + 1).min(WINDOW);
        if !fail || s.sidelined {
            return Verdict::Fine;
        }
        let s = &self.states[r as usize];
        if !s.full() && !s.never_answered() {
            return Verdict::Fine;
        }
        let others_answer =
            self.states.iter().enumerate().any(|(i, o)| i != r as usize && !o.sidelined && o.answers());
        if s.never_answered() && others_answer {
            let reason =
                format!("no answer to any of the {} queries it was sent: timeouts or REFUSED", s.len);
            self.states[r as usize].sidelined = true;
            return Verdict::Sidelined { resolver: r, reason };
        }
        if !s.full() {
            return Verdict::Fine;
        }
        let (dead, ratio) = (s.dead(now, silence), s.fail_ratio());
        let others_do_better = self
            .states
            .iter()
            .enumerate()
            .any(|(i, o)| i != r as usize && !o.sidelined && o.len >= 16 && o.fail_ratio() < 0.5);
        if dead && others_answer {
            self.states[r as usize].sidelined = true;
            let reason = format!("no answer to its last {WINDOW} queries (timeouts or REFUSED)");
            return Verdict::Sidelined { resolver: r, reason };
        }
        if dead {
            let reason = format!(
                "no resolver answers: the last {WINDOW} queries to each usable resolver timed out or were refused"
            );
            return Verdict::AllDead { reason };
        }
        if ratio >= 0.9 && others_do_better {
            self.states[r as usize].sidelined = true;
            let reason = format!(
                "{:.0} % of its last {WINDOW} queries failed (SERVFAIL, REFUSED, timeouts)",
                ratio * 100.0
            );
            return Verdict::Sidelined { resolver: r, reason };
        }
        Verdict::Fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outcomes one second apart, starting at a fixed instant.
    struct Clock(Instant, u32);
    impl Clock {
        fn new() -> Self {
            Self(Instant::now(), 0)
        }
        fn tick(&mut self) -> Instant {
            self.1 += 1;
            self.0 + Duration::from_secs(u64::from(self.1))
        }
    }

    fn health(n: usize) -> ResolverHealth {
        ResolverHealth::new(n, Duration::from_secs(5))
    }

    #[test]
    fn a_dead_resolver_is_sidelined_while_another_answers() {
        let mut c = Clock::new();
        let mut h = health(2);
        for _ in 0..20 {
            assert_eq!(h.record(1, Observed::Answer, c.tick()), Verdict::Fine);
        }
        // It answered once, long ago: the full window decides.
        assert_eq!(h.record(0, Observed::Answer, c.tick()), Verdict::Fine);
        let mut verdicts = Vec::new();
        for _ in 0..WINDOW {
            verdicts.push(h.record(0, Observed::Timeout, c.tick()));
        }
        let sidelined = verdicts.iter().position(|v| matches!(v, Verdict::Sidelined { resolver: 0, .. }));
        assert!(sidelined.is_some_and(|i| i >= WINDOW as usize - 2), "{verdicts:?}");
        assert_eq!(verdicts.iter().filter(|v| **v != Verdict::Fine).count(), 1);
        assert!(!h.usable(0) && h.usable(1));
        assert_eq!(h.usable_from(0), 1);
        assert_eq!(h.after(1), 1, "the only usable one");
        assert_eq!(h.sidelined().collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn a_resolver_that_never_answered_goes_after_a_few_queries() {
        let mut c = Clock::new();
        let mut h = health(2);
        h.record(1, Observed::Answer, c.tick());
        let verdicts: Vec<Verdict> =
            (0..NEVER_ANSWERED).map(|_| h.record(0, Observed::Timeout, c.tick())).collect();
        assert!(verdicts[..NEVER_ANSWERED as usize - 1].iter().all(|v| *v == Verdict::Fine));
        assert!(matches!(verdicts.last(), Some(Verdict::Sidelined { resolver: 0, .. })), "{verdicts:?}");
        // Alone, it is not sidelined for nobody: that is the all-dead verdict's job.
        let mut h = health(1);
        assert!((0..NEVER_ANSWERED).all(|_| h.record(0, Observed::Timeout, c.tick()) == Verdict::Fine));
    }

    #[test]
    fn all_dead_is_a_verdict_not_a_sidelining() {
        let mut c = Clock::new();
        let mut h = health(1);
        let mut last = Verdict::Fine;
        for _ in 0..WINDOW {
            last = h.record(0, Observed::Refused, c.tick());
        }
        assert!(matches!(last, Verdict::AllDead { .. }));
        assert!(h.usable(0));
        // Two dead resolvers: neither is sidelined for the other; once one
        // has a full window of silence and the other never answered, all
        // are dead.
        let mut h = health(2);
        for _ in 0..WINDOW - 1 {
            assert_eq!(h.record(0, Observed::Timeout, c.tick()), Verdict::Fine);
            assert_eq!(h.record(1, Observed::Timeout, c.tick()), Verdict::Fine);
        }
        assert!(matches!(h.record(0, Observed::Timeout, c.tick()), Verdict::AllDead { .. }));
        assert!(h.usable(0) && h.usable(1), "nobody was sidelined");
    }

    #[test]
    fn a_burst_of_losses_right_after_answers_is_not_death() {
        let t0 = Instant::now();
        let mut h = health(1);
        h.record(0, Observed::Answer, t0);
        // 64 timeouts within a second of the last answer: a lossy burst.
        for i in 0..WINDOW {
            let at = t0 + Duration::from_millis(u64::from(i) * 10);
            assert_eq!(h.record(0, Observed::Timeout, at), Verdict::Fine);
        }
        // Still nothing five seconds later: dead.
        assert!(matches!(
            h.record(0, Observed::Timeout, t0 + Duration::from_secs(6)),
            Verdict::AllDead { .. }
        ));
    }

    #[test]
    fn servfail_storms_need_a_better_resolver() {
        let mut c = Clock::new();
        // Alone, a resolver that SERVFAILs a stretch of broken domains stays.
        let mut h = health(1);
        for _ in 0..2 * WINDOW {
            assert_eq!(h.record(0, Observed::ServFail, c.tick()), Verdict::Fine);
        }
        // Beside a healthy one, it goes.
        let mut h = health(2);
        for _ in 0..32 {
            h.record(1, Observed::Answer, c.tick());
        }
        let verdicts: Vec<Verdict> = (0..WINDOW).map(|_| h.record(0, Observed::ServFail, c.tick())).collect();
        assert!(matches!(verdicts.last(), Some(Verdict::Sidelined { resolver: 0, .. })));
        // One answer in the window keeps a resolver alive (not dead).
        let mut h = health(1);
        h.record(0, Observed::Answer, c.tick());
        for _ in 0..WINDOW - 1 {
            assert_eq!(h.record(0, Observed::Timeout, c.tick()), Verdict::Fine);
        }
    }
}
