//! Classifying exchange names and addresses: is it an IP literal, a valid
//! host name, loopback, non-public?

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The exchange is an address written as a name (`10 192.0.2.1.`), which
/// senders look up as a host name and fail (RFC 1035 §3.3.9 wants a name).
pub fn is_ip_literal(exchange: &str) -> bool {
    // Host names nearly always hold a letter no address can (the parse
    // below cost more than the rest of a row's checks): only hex digits,
    // dots, colons and brackets can spell an address.
    if !exchange.bytes().all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'[' | b']')) {
        return false;
    }
    let bare = exchange.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok()
}

/// RFC 1123 §2.1 host name: labels of letters, digits and inner hyphens,
/// at most 63 octets each, 253 in all.
pub fn is_valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.as_bytes().split(|&b| b == b'.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.first() != Some(&b'-')
                && label.last() != Some(&b'-')
                && label.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        })
}

/// 127.0.0.0/8 or ::1 (and IPv4-mapped loopback).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Addresses no sender on the Internet can deliver to (RFC 6890): private
/// (RFC 1918), shared/CGNAT (RFC 6598), link-local, "this network",
/// documentation, unique-local (RFC 4193), unspecified. Loopback is
/// reported separately (`mx_localhost`) and is not included here.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private_v4(v4);
            }
            let s = v6.segments();
            v6.is_unspecified()
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        }
    }
}

fn is_private_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_private()
        || a == 0
        || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10
        || (a == 169 && b == 254)
        || (a == 192 && b == 0 && c == 2)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
}

/// An address a sender on the Internet could use.
pub fn is_usable(ip: IpAddr) -> bool {
    !is_loopback(ip) && !is_private(ip)
}

/// Both families as one iterator.
pub fn all_addresses<'a>(v4: &'a [Ipv4Addr], v6: &'a [Ipv6Addr]) -> impl Iterator<Item = IpAddr> + 'a {
    v4.iter().map(|&a| IpAddr::V4(a)).chain(v6.iter().map(|&a| IpAddr::V6(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn literals_and_hostnames() {
        assert!(is_ip_literal("192.0.2.1"));
        assert!(is_ip_literal("2001:db8::25"));
        assert!(is_ip_literal("[192.0.2.1]"));
        assert!(!is_ip_literal("192.0.2.1.example"));
        assert!(!is_ip_literal("300.1.1.1"));
        assert!(is_ip_literal("[::ffff:192.0.2.1]") && is_ip_literal("FE80::1"));
        assert!(!is_ip_literal("dead.beef") && !is_ip_literal(""));
        // The shortcut agrees with the parser on every name that passes it.
        for name in ["1.2.3", "1::2::3", "[]", "::", "abc", "a.b.c.d", "1.2.3.4]"] {
            assert_eq!(
                is_ip_literal(name),
                name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok(),
                "{name}"
            );
        }
        assert!(is_valid_hostname("mx1.example.com"));
        assert!(is_valid_hostname("192.0.2.1"));
        assert!(!is_valid_hostname("mail_in.example.com"));
        assert!(!is_valid_hostname("-mx.example.com"));
        assert!(!is_valid_hostname("mx-.example.com"));
        assert!(!is_valid_hostname(&format!("{}.com", "a".repeat(64))));
        assert!(!is_valid_hostname("a..b"));
        for bad in ["", ".", "a.", ".a", "a-", "a.-b", "a.b-", "a b", "a_b"] {
            assert!(!is_valid_hostname(bad), "{bad:?}");
        }
        assert!(is_valid_hostname(&format!("{}.com", "a".repeat(63))));
        assert!(is_valid_hostname("a-b.c") && is_valid_hostname("x"));
        assert!(is_valid_hostname(&format!("{}a", "a.".repeat(126))), "253 octets");
        assert!(!is_valid_hostname(&format!("{}aa", "a.".repeat(126))), "254 octets");
    }

    #[test]
    fn address_classes() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "192.0.2.9",
            "198.51.100.1",
            "203.0.113.5",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "::",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip(private)), "{private}");
            assert!(!is_usable(ip(private)), "{private}");
        }
        for public in ["8.8.8.8", "45.1.2.3", "100.128.0.1", "172.32.0.1", "2a01::1"] {
            assert!(is_usable(ip(public)), "{public}");
        }
        assert!(is_loopback(ip("127.0.0.2")) && is_loopback(ip("::1")));
        assert!(!is_private(ip("127.0.0.1")), "loopback is its own finding");
    }
}
