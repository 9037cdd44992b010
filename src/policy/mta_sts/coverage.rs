//! Which MX exchanges a policy's `mx` patterns cover (RFC 8461 §4.1).
//!
//! Matching is on the MX host names, case-insensitive, trailing dots
//! ignored. A pattern `*.example.com` matches a name with exactly one more
//! label at the left (`mx.example.com`), not `example.com` nor
//! `a.b.example.com`: "the wildcard character '*' may only be used to
//! match the entire left-most label". (checkdmarc 5.17.5 gets this wrong,
//! research note §2.1.) The null MX `.` is no exchange.

use super::Mode;
use crate::analyze::findings::Severity;

/// Coverage of a domain's exchanges by a policy's patterns.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    /// Exchanges (lowercase, no trailing dot, each once) that no pattern
    /// matches, in the order given.
    pub mx_uncovered: Vec<String>,
    /// Patterns, as published, that match no exchange.
    pub patterns_unused: Vec<String>,
    /// Share of distinct exchanges covered; `None` without exchanges.
    pub mx_coverage: Option<f32>,
    /// Severity of `mta_sts_mx_uncovered`: an error when a tier-1
    /// exchange is uncovered under `enforce` (mail to it fails), a warning
    /// when other exchanges are, or under `testing`; `None` when all are
    /// covered or the mode is `none` (no active policy, §5).
    pub uncovered_severity: Option<Severity>,
}

/// Whether `pattern` matches the host name `host` (§4.1).
pub fn pattern_matches(pattern: &str, host: &str) -> bool {
    let pattern = normal(pattern);
    let host = normal(host);
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .and_then(|left| left.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => !pattern.is_empty() && pattern == host,
    }
}

fn normal(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Coverage of `mx` — (exchange, tier) pairs, tier 1 the most preferred —
/// by `patterns` under `mode`.
pub fn coverage(patterns: &[String], mx: &[(String, u8)], mode: Mode) -> Coverage {
    // Distinct exchanges, each with its best (lowest) tier.
    let mut exchanges: Vec<(String, u8)> = Vec::new();
    for (exchange, tier) in mx {
        let name = normal(exchange);
        if name.is_empty() {
            continue; // the null MX "." (RFC 7505)
        }
        match exchanges.iter_mut().find(|(have, _)| *have == name) {
            Some((_, best)) => *best = (*best).min(*tier),
            None => exchanges.push((name, *tier)),
        }
    }
    let covered = |host: &str| patterns.iter().any(|p| pattern_matches(p, host));
    let uncovered: Vec<&(String, u8)> = exchanges.iter().filter(|(host, _)| !covered(host)).collect();
    let patterns_unused = patterns
        .iter()
        .filter(|p| !exchanges.iter().any(|(host, _)| pattern_matches(p, host)))
        .cloned()
        .collect();
    let mx_coverage =
        (!exchanges.is_empty()).then(|| (exchanges.len() - uncovered.len()) as f32 / exchanges.len() as f32);
    let uncovered_severity = match mode {
        _ if uncovered.is_empty() => None,
        Mode::None => None,
        Mode::Enforce if uncovered.iter().any(|(_, tier)| *tier <= 1) => Some(Severity::Error),
        Mode::Enforce | Mode::Testing => Some(Severity::Warning),
    };
    Coverage {
        mx_uncovered: uncovered.into_iter().map(|(host, _)| host.clone()).collect(),
        patterns_unused,
        mx_coverage,
        uncovered_severity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(list: &[(&str, u8)]) -> Vec<(String, u8)> {
        list.iter().map(|(h, t)| (h.to_string(), *t)).collect()
    }

    fn patterns(list: &[&str]) -> Vec<String> {
        list.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        // RFC 8461 §4.1's example.
        assert!(pattern_matches("*.example.com", "mail.example.com"));
        assert!(!pattern_matches("*.example.com", "example.com"));
        assert!(!pattern_matches("*.example.com", "foo.bar.example.com"));
        assert!(!pattern_matches("*.example.com", ".example.com"));
        assert!(!pattern_matches("*.example.com", "mailexample.com"));
        assert!(pattern_matches("*.Example.COM.", "MX1.example.com."));
        assert!(pattern_matches("mail.example.com", "Mail.Example.com."));
        assert!(!pattern_matches("example.com", "mail.example.com"));
        assert!(!pattern_matches("mail.example.com", "xmail.example.com"));
        assert!(!pattern_matches("", ""));
    }

    #[test]
    fn coverage_lists_and_share() {
        let c = coverage(
            &patterns(&["mail.example.com", "*.example.net", "backupmx.example.com"]),
            &mx(&[
                ("mail.example.com", 1),
                ("a.example.net.", 1),
                ("b.c.example.net", 2),
                ("MAIL.example.com", 3),
            ]),
            Mode::Enforce,
        );
        assert_eq!(c.mx_uncovered, ["b.c.example.net"]);
        assert_eq!(c.patterns_unused, ["backupmx.example.com"]);
        assert_eq!(c.mx_coverage, Some(2.0 / 3.0));
        assert_eq!(c.uncovered_severity, Some(Severity::Warning), "only a tier-2 exchange is uncovered");
    }

    #[test]
    fn severity_by_tier_and_mode() {
        let p = patterns(&["mx2.example.com"]);
        let set = mx(&[("mx1.example.com", 1), ("mx2.example.com", 2)]);
        assert_eq!(coverage(&p, &set, Mode::Enforce).uncovered_severity, Some(Severity::Error));
        assert_eq!(coverage(&p, &set, Mode::Testing).uncovered_severity, Some(Severity::Warning));
        assert_eq!(coverage(&p, &set, Mode::None).uncovered_severity, None);
        let all = patterns(&["*.example.com"]);
        let c = coverage(&all, &set, Mode::Enforce);
        assert_eq!((c.uncovered_severity, c.mx_coverage), (None, Some(1.0)));
        assert!(c.mx_uncovered.is_empty() && c.patterns_unused.is_empty());
    }

    #[test]
    fn null_mx_and_no_exchanges() {
        let c = coverage(&patterns(&["mx.example.com"]), &mx(&[(".", 0)]), Mode::Enforce);
        assert_eq!(c.mx_coverage, None);
        assert!(c.mx_uncovered.is_empty());
        assert_eq!(c.patterns_unused, ["mx.example.com"]);
        assert_eq!(c.uncovered_severity, None);
        let c = coverage(&[], &mx(&[("mx.example.com", 1)]), Mode::Enforce);
        assert_eq!((c.mx_coverage, c.uncovered_severity), (Some(0.0), Some(Severity::Error)));
    }
}
