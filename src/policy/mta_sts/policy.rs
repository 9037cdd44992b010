//! The policy file served at `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! (RFC 8461 §3.2): `key: value` lines ended by LF or CRLF.
//!
//! - `version: STSv1`, `mode` (`enforce`, `testing`, `none`) and `max_age`
//!   (`1*10DIGIT`, at most 31557600) are each required once, in any order;
//!   `mx` (`["*."] Domain`, RFC 5321 §4.1.2) repeats and is required unless
//!   the mode is `none`.
//! - Unknown keys are ignored; of a duplicated key other than `mx` the
//!   first entry counts and the others are ignored (not an error: §3.2
//!   says so).
//! - Keys and keywords are case-sensitive (`%s` in the ABNF).
//! - Deliberate leniency: blank lines are skipped (the ABNF has none, but
//!   they carry nothing and common senders skip them). Every other
//!   departure from the ABNF is an error (`mta_sts_policy_invalid`).
//! - A line that is not UTF-8 is an error and skipped; values may be UTF-8
//!   (§3.2 `sts-policy-vchar`).

use super::Mode;
use crate::policy::tags::is_ext_name;

/// RFC 8461 §3.2: "maximum value of 31557600".
pub const MAX_AGE_LIMIT: u32 = 31_557_600;

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsPolicy {
    /// `mode`, when valid.
    pub mode: Option<Mode>,
    /// `max_age` in seconds, when valid.
    pub max_age: Option<u32>,
    /// The `mx` values in order, as published (invalid ones included, and
    /// named in `errors`).
    pub mx_patterns: Vec<String>,
    /// Short messages naming the key.
    pub errors: Vec<String>,
}

/// Parses a policy body.
pub fn parse_policy(body: &[u8]) -> StsPolicy {
    let mut policy = StsPolicy { mode: None, max_age: None, mx_patterns: Vec::new(), errors: Vec::new() };
    let error = |policy: &mut StsPolicy, e: &str| {
        if !policy.errors.iter().any(|have| have == e) {
            policy.errors.push(e.to_string());
        }
    };
    let (mut version, mut mode, mut max_age) = (None, None, None);
    for raw in body.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(line) = std::str::from_utf8(raw) else {
            error(&mut policy, "a line is not UTF-8");
            continue;
        };
        if line.trim_matches([' ', '\t']).is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            error(&mut policy, "a line has no ':'");
            continue;
        };
        if !is_ext_name(key) {
            error(&mut policy, "a key is malformed");
            continue;
        }
        // `":" *WSP` before the value and `*WSP` after the field.
        let value = value.trim_matches([' ', '\t']);
        if value.is_empty() || value.chars().any(char::is_control) {
            error(&mut policy, &format!("{}: empty or control characters", key_label(key)));
            continue;
        }
        match key {
            "version" => _ = version.get_or_insert(value),
            "mode" => _ = mode.get_or_insert(value),
            "max_age" => _ = max_age.get_or_insert(value),
            "mx" => {
                if !is_mx_pattern(value) {
                    error(&mut policy, "mx: not a domain or *.domain");
                }
                policy.mx_patterns.push(value.to_string());
            }
            _ => {} // unknown fields SHALL be ignored
        }
    }
    match version {
        None => error(&mut policy, "version: missing"),
        Some("STSv1") => {}
        Some(_) => error(&mut policy, "version: not STSv1"),
    }
    match mode.map(Mode::parse) {
        None => error(&mut policy, "mode: missing"),
        Some(None) => error(&mut policy, "mode: not enforce, testing or none"),
        Some(parsed) => policy.mode = parsed,
    }
    match max_age {
        None => error(&mut policy, "max_age: missing"),
        Some(text) => {
            let digits = text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit());
            policy.max_age = text.parse::<u32>().ok().filter(|&s| digits && s <= MAX_AGE_LIMIT);
            if policy.max_age.is_none() {
                error(&mut policy, "max_age: not an integer 0-31557600");
            }
        }
    }
    if policy.mx_patterns.is_empty() && policy.mode != Some(Mode::None) {
        error(&mut policy, "mx: missing (required unless mode is none)");
    }
    policy
}

/// The known keys by name, anything else as "field" (stable messages).
fn key_label(key: &str) -> &'static str {
    match key {
        "version" => "version",
        "mode" => "mode",
        "max_age" => "max_age",
        "mx" => "mx",
        _ => "field",
    }
}

/// `sts-policy-mx-value = ["*."] Domain`, with RFC 5321 §4.1.2 `Domain =
/// sub-domain *("." sub-domain)`, `sub-domain = Let-dig [Ldh-str]` (no
/// trailing dot, labels of 1–63 octets).
pub fn is_mx_pattern(pattern: &str) -> bool {
    let domain = pattern.strip_prefix("*.").unwrap_or(pattern);
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= 63
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes.first() != Some(&b'-')
                && bytes.last() != Some(&b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_policy() {
        // RFC 8461 §3.2.
        let body = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n\
                     mx: backupmx.example.com\r\nmax_age: 604800\r\n";
        let p = parse_policy(body);
        assert_eq!(p.errors, Vec::<String>::new());
        assert_eq!((p.mode, p.max_age), (Some(Mode::Enforce), Some(604_800)));
        assert_eq!(p.mx_patterns, ["mail.example.com", "*.example.net", "backupmx.example.com"]);
    }

    #[test]
    fn lf_lines_order_unknown_keys_and_blank_lines() {
        let p =
            parse_policy(b"max_age: 0\nmx:mx.example.com  \n\nfoo: bar baz\nmode: testing\nversion: STSv1");
        assert_eq!(p.errors, Vec::<String>::new());
        assert_eq!((p.mode, p.max_age), (Some(Mode::Testing), Some(0)));
        assert_eq!(p.mx_patterns, ["mx.example.com"]);
    }

    #[test]
    fn first_duplicate_wins() {
        let p = parse_policy(
            b"version: STSv1\nmode: testing\nmode: enforce\nmax_age: 86400\nmax_age: x\nmx: a.example\n",
        );
        assert_eq!(p.errors, Vec::<String>::new());
        assert_eq!((p.mode, p.max_age), (Some(Mode::Testing), Some(86_400)));
        let p = parse_policy(b"version: STSv1\nmode: bogus\nmode: enforce\nmax_age: 1\nmx: a.example\n");
        assert_eq!(p.errors, ["mode: not enforce, testing or none"]);
    }

    #[test]
    fn mode_none_needs_no_mx() {
        let p = parse_policy(b"version: STSv1\nmode: none\nmax_age: 86400\n");
        assert_eq!((p.errors.len(), p.mode), (0, Some(Mode::None)));
        let p = parse_policy(b"version: STSv1\nmode: enforce\nmax_age: 86400\n");
        assert_eq!(p.errors, ["mx: missing (required unless mode is none)"]);
    }

    #[test]
    fn errors() {
        let ok = "version: STSv1\nmode: enforce\nmax_age: 86400\nmx: mx.example.com\n";
        let cases: &[(&str, &str)] = &[
            ("mode: enforce\nmax_age: 86400\nmx: a.example\n", "version: missing"),
            ("version: STSv2\nmode: enforce\nmax_age: 86400\nmx: a.example\n", "version: not STSv1"),
            ("version: STSv1\nmax_age: 86400\nmx: a.example\n", "mode: missing"),
            (
                "version: STSv1\nmode: Enforce\nmax_age: 86400\nmx: a.example\n",
                "mode: not enforce, testing or none",
            ),
            ("version: STSv1\nmode: enforce\nmx: a.example\n", "max_age: missing"),
            (
                "version: STSv1\nmode: enforce\nmax_age: 31557601\nmx: a.example\n",
                "max_age: not an integer 0-31557600",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: -1\nmx: a.example\n",
                "max_age: not an integer 0-31557600",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 00000000001\nmx: a.example\n",
                "max_age: not an integer 0-31557600",
            ),
            ("version: STSv1\nmode: enforce\nmax_age: 1\nmx: a.*.example\n", "mx: not a domain or *.domain"),
            ("version: STSv1\nmode: enforce\nmax_age: 1\nmx: *\n", "mx: not a domain or *.domain"),
            (
                "version: STSv1\nmode: enforce\nmax_age: 1\nmx: mx.example.com.\n",
                "mx: not a domain or *.domain",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 1\nmx: *mx.example.com\n",
                "mx: not a domain or *.domain",
            ),
            ("version: STSv1\nmode: enforce\nmax_age: 1\nmx: -a.example\n", "mx: not a domain or *.domain"),
            ("version: STSv1\nmode: enforce\nmax_age: 1\nmx:\n", "mx: empty or control characters"),
            ("version STSv1\nmode: enforce\nmax_age: 1\nmx: a.example\n", "a line has no ':'"),
            ("mode : enforce\nversion: STSv1\nmax_age: 1\nmx: a.example\n", "a key is malformed"),
            (
                "version: STSv1\nmode: enforce\nmax_age: 1\nmx: a.example\nx: a\rb\n",
                "field: empty or control characters",
            ),
        ];
        assert!(parse_policy(ok.as_bytes()).errors.is_empty());
        for (body, error) in cases {
            let p = parse_policy(body.as_bytes());
            assert!(p.errors.iter().any(|e| e == error), "{body:?}: {:?}", p.errors);
        }
        let p = parse_policy(b"version: STSv1\nmode: enforce\nmax_age: 1\nmx: a.example\nnote: \xff\n");
        assert_eq!(p.errors, ["a line is not UTF-8"]);
        // Values may be UTF-8 (sts-policy-vchar).
        assert!(
            parse_policy("version: STSv1\nmode: none\nmax_age: 1\nnote: café\n".as_bytes()).errors.is_empty()
        );
    }

    #[test]
    fn mx_patterns() {
        for ok in ["example.com", "*.example.net", "mx-1.example.com", "*.com", "a"] {
            assert!(is_mx_pattern(ok), "{ok}");
        }
        for bad in ["", "*.", "*", "*.*.example.com", "a..b", "a_b.example", "mx.example.com.", "m x.example"]
        {
            assert!(!is_mx_pattern(bad), "{bad}");
        }
        assert!(!is_mx_pattern(&format!("{}.example", "a".repeat(64))));
    }
}
