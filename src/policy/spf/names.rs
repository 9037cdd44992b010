//! Names and addresses for [`super::check`]: domain validity (§4.3),
//! CIDR matching (§5.6), reading A/AAAA/MX/PTR answers, reverse names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Answer;
use super::parse::Mechanism;

pub(super) fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// §4.3: labels of 1 to 63 octets (a final dot allowed), at most 253
/// octets, and more than one label.
pub(super) fn is_valid_domain(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|label| !label.is_empty() && label.len() <= 63)
}

/// `name` equals `domain` or is a subdomain of it (case-insensitive).
pub(super) fn is_at_or_under(name: &str, domain: &str) -> bool {
    let name = normalize(name);
    let domain = normalize(domain);
    name == domain || name.ends_with(&format!(".{domain}"))
}

pub(super) fn mechanism_uses_p(mechanism: &Mechanism) -> bool {
    match mechanism {
        Mechanism::Include(spec) | Mechanism::Exists(spec) => spec.uses('p'),
        Mechanism::A(Some(spec), _) | Mechanism::Mx(Some(spec), _) | Mechanism::Ptr(Some(spec)) => {
            spec.uses('p')
        }
        _ => false,
    }
}

pub(super) fn in_v4(ip: Ipv4Addr, network: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
    u32::from(ip) & mask == u32::from(network) & mask
}

pub(super) fn in_v6(ip: Ipv6Addr, network: Ipv6Addr, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0);
    u128::from(ip) & mask == u128::from(network) & mask
}

/// The addresses of an A or AAAA answer (4 or 16 octets each).
pub(super) fn addresses(answer: &Answer) -> impl Iterator<Item = IpAddr> + '_ {
    let records: &[Vec<u8>] = match answer {
        Answer::Records(records) => records,
        _ => &[],
    };
    records.iter().filter_map(|r| match r.len() {
        4 => <[u8; 4]>::try_from(r.as_slice()).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(r.as_slice()).ok().map(IpAddr::from),
        _ => None,
    })
}

/// The target names of an MX or PTR answer.
pub(super) fn names(answer: &Answer) -> Vec<String> {
    match answer {
        Answer::Records(records) => records.iter().map(|r| normalize(&String::from_utf8_lossy(r))).collect(),
        _ => Vec::new(),
    }
}

/// The PTR name of an address: `4.3.2.1.in-addr.arpa`, or the reversed
/// nibbles under `ip6.arpa`.
pub(super) fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0xf, byte >> 4] {
                    out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    out.push('.');
                }
            }
            out.push_str("ip6.arpa");
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        for good in ["example.com", "example.com.", "a.b.c.d", &format!("{}.com", "x".repeat(63))] {
            assert!(is_valid_domain(good), "{good}");
        }
        for bad in ["", "com", "com.", "a..b", ".a.b", &format!("{}.com", "x".repeat(64)), &"a.".repeat(128)]
        {
            assert!(!is_valid_domain(bad), "{bad}");
        }
        assert!(is_at_or_under("mx.Example.com.", "example.COM"));
        assert!(is_at_or_under("example.com", "example.com."));
        assert!(!is_at_or_under("badexample.com", "example.com"));
    }

    #[test]
    fn cidr() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(in_v4(ip("192.0.2.130"), ip("192.0.2.128"), 28));
        assert!(!in_v4(ip("192.0.2.144"), ip("192.0.2.128"), 28));
        assert!(in_v4(ip("10.0.0.1"), ip("192.0.2.1"), 0));
        assert!(!in_v4(ip("192.0.2.2"), ip("192.0.2.1"), 32));
        let ip6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert!(in_v6(ip6("2001:db8::1"), ip6("2001:db8::"), 32));
        assert!(!in_v6(ip6("2001:db9::1"), ip6("2001:db8::"), 32));
        assert!(in_v6(ip6("::1"), ip6("2001:db8::"), 0));
        assert!(in_v6(ip6("2001:db8::1"), ip6("2001:db8::1"), 128));
    }

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_name("192.0.2.1".parse().unwrap()), "1.2.0.192.in-addr.arpa");
        assert_eq!(
            reverse_name("2001:db8::cb01".parse().unwrap()),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    #[test]
    fn answers() {
        let answer = Answer::Records(vec![vec![192, 0, 2, 1], vec![1, 2, 3], [0u8; 16].to_vec()]);
        let got: Vec<IpAddr> = addresses(&answer).collect();
        assert_eq!(got, ["192.0.2.1".parse::<IpAddr>().unwrap(), "::".parse().unwrap()]);
        assert_eq!(names(&Answer::Records(vec![b"MX.Example.com.".to_vec()])), ["mx.example.com"]);
        assert!(names(&Answer::NxDomain).is_empty());
    }
}
