//! Domains per exchange host, in bounded memory.
//!
//! A scan of many domains has nearly as many distinct exchanges (every
//! self-hosted `mx.example.com`), almost all used by one domain. The map is
//! exact until it holds `cap` hosts; then the hosts used by the fewest
//! domains are forgotten (lossy counting): a forgotten host that comes back
//! restarts from zero, so a count can be low by at most the sum of the
//! thresholds used, which [`ExchangerCounts::max_undercount`] reports. The
//! widely shared hosts the report lists are never the ones forgotten.

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

/// Hosts held before the least used are forgotten (tens of MB at most).
pub(super) const CAP: usize = 1 << 18;

#[derive(Debug)]
struct Host {
    domains: u64,
    provider: Option<Arc<str>>,
}

/// Domains per exchange host, with its provider.
#[derive(Debug)]
pub(super) struct ExchangerCounts {
    hosts: FxHashMap<Box<str>, Host>,
    providers: FxHashSet<Arc<str>>,
    cap: usize,
    undercount: u64,
}

impl Default for ExchangerCounts {
    fn default() -> Self {
        Self::with_cap(CAP)
    }
}

impl ExchangerCounts {
    /// Exact up to `cap` distinct hosts.
    pub(super) fn with_cap(cap: usize) -> Self {
        Self { hosts: FxHashMap::default(), providers: FxHashSet::default(), cap: cap.max(2), undercount: 0 }
    }

    /// One more domain uses `host` (run by `provider`).
    pub(super) fn add(&mut self, host: &str, provider: Option<&str>) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.domains += 1;
            return;
        }
        let provider = provider.map(|p| match self.providers.get(p) {
            Some(p) => Arc::clone(p),
            None => {
                let p: Arc<str> = p.into();
                self.providers.insert(Arc::clone(&p));
                p
            }
        });
        self.hosts.insert(host.into(), Host { domains: 1, provider });
        if self.hosts.len() > self.cap {
            self.forget_least_used();
        }
    }

    /// Forget the hosts with the fewest domains until half the room is free.
    fn forget_least_used(&mut self) {
        let mut threshold = 0;
        while self.hosts.len() > self.cap / 2 {
            threshold += 1;
            self.hosts.retain(|_, h| h.domains > threshold);
        }
        self.undercount += threshold;
    }

    /// How much lower than the truth a count may be (0: exact).
    pub(super) fn max_undercount(&self) -> u64 {
        self.undercount
    }

    /// The `n` hosts used by the most domains (ties by name): host,
    /// domains, provider.
    pub(super) fn top(&self, n: usize) -> Vec<(&str, u64, Option<&str>)> {
        let mut rows: Vec<(&str, u64, Option<&str>)> =
            self.hosts.iter().map(|(k, h)| (&**k, h.domains, h.provider.as_deref())).collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        rows.truncate(n);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_the_cap() {
        let mut c = ExchangerCounts::with_cap(8);
        for h in ["b", "a", "a", "c", "a", "b"] {
            c.add(h, (h == "a").then_some("google"));
        }
        assert_eq!(c.top(2), vec![("a", 3, Some("google")), ("b", 2, None)]);
        assert_eq!(c.max_undercount(), 0);
    }

    #[test]
    fn bounded_and_keeps_the_shared_hosts() {
        let mut c = ExchangerCounts::with_cap(64);
        let mut truth = [0u64; 3];
        for i in 0..10_000u32 {
            c.add(&format!("mx.domain{i}.example"), None);
            if i % 3 == 0 {
                c.add("shared-a.example", Some("a"));
                truth[0] += 1;
            }
            if i % 7 == 0 {
                c.add("shared-b.example", Some("b"));
                truth[1] += 1;
            }
            if i % 50 == 0 {
                c.add("shared-c.example", None);
                truth[2] += 1;
            }
            assert!(c.hosts.len() <= 64);
        }
        let top = c.top(3);
        let names: Vec<&str> = top.iter().map(|t| t.0).collect();
        assert_eq!(names, ["shared-a.example", "shared-b.example", "shared-c.example"]);
        for ((_, n, _), want) in top.iter().zip(truth) {
            assert!(
                *n <= want && want - n <= c.max_undercount(),
                "{n} vs {want}, bound {}",
                c.max_undercount()
            );
        }
        assert!(c.max_undercount() > 0);
        assert_eq!(top[0].2, Some("a"));
    }
}
