//! The result of scanning one input line: one output row.
//!
//! Field names follow the output contract (README "Output columns"); the
//! writers in [`crate::output`] map them one to one.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::analyze::providers::Category;

/// Outcome of a domain's MX lookup (`status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// NOERROR, with or without MX records.
    Ok,
    /// The name does not exist.
    NxDomain,
    /// The resolver failed, on every try.
    ServFail,
    /// The resolver refused, on every try.
    Refused,
    /// No answer within the timeout, on every try.
    Timeout,
    /// The input line is not a domain; nothing was sent.
    Invalid,
    /// Anything else (another RCODE, an unusable answer); see `error`.
    Error,
}

impl Status {
    /// Every status, in summary order.
    pub const ALL: [Self; 7] =
        [Self::Ok, Self::NxDomain, Self::ServFail, Self::Refused, Self::Timeout, Self::Invalid, Self::Error];

    /// Whether the MX lookup gave an answer that decides the MX set: NOERROR
    /// (with or without MX) or NXDOMAIN (the name does not exist, so it has
    /// no MX at all, RFC 8020). After SERVFAIL, REFUSED, a timeout or another
    /// error, or for an invalid line, the MX set is unknown.
    pub fn knows_mx(self) -> bool {
        matches!(self, Self::Ok | Self::NxDomain)
    }

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NxDomain => "nxdomain",
            Self::ServFail => "servfail",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::Invalid => "invalid",
            Self::Error => "error",
        }
    }
}

/// Outcome of an exchange's address lookups (`mx.address_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressStatus {
    /// At least one A or AAAA record.
    Ok,
    /// The exchange does not exist.
    NxDomain,
    /// The exchange exists but has neither A nor AAAA.
    NoData,
    /// A lookup failed with SERVFAIL (and nothing was found).
    ServFail,
    /// A lookup was refused (and nothing was found).
    Refused,
    /// A lookup timed out (and nothing was found).
    Timeout,
    /// Not looked up: null MX, IP literal, or an `--mx-only` scan.
    Skipped,
}

impl AddressStatus {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NxDomain => "nxdomain",
            Self::NoData => "nodata",
            Self::ServFail => "servfail",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::Skipped => "skipped",
        }
    }

    /// The lookups failed, so nothing is known about the exchange.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::ServFail | Self::Refused | Self::Timeout)
    }
}

/// A tier's name for people: `primary`, `secondary`, `tertiary`, then
/// `tier N`.
pub fn tier_name(tier: u8) -> String {
    match tier {
        1 => "primary".into(),
        2 => "secondary".into(),
        3 => "tertiary".into(),
        n => format!("tier {n}"),
    }
}

/// One MX resource record with what was learnt about its exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxEntry {
    /// Preference.
    pub preference: u16,
    /// Lowercase, no trailing dot; `.` for a null MX.
    pub exchange: String,
    /// 1 for the lowest preference present, 2 for the next distinct one, ...
    pub tier: u8,
    /// Sorted as text, as the contract orders them.
    pub ipv4: Vec<Ipv4Addr>,
    /// Sorted as text.
    pub ipv6: Vec<Ipv6Addr>,
    /// Final target when the exchange is an alias.
    pub cname: Option<String>,
    /// How the address lookups went.
    pub address_status: AddressStatus,
    /// Provider id of the exchange (analysis stage).
    pub provider: Option<Arc<str>>,
    /// Its category.
    pub category: Option<Category>,
    /// Registrable domain of the exchange (Public Suffix List).
    pub org_domain: Option<Arc<str>>,
    /// The exchange is NXDOMAIN and so is its registrable domain: anyone
    /// may register it. Not an output column (it becomes `dangling_mx`).
    pub org_nxdomain: bool,
    /// TLSA records at `_25._tcp.<exchange>` (policy stage, RFC 7672).
    pub tlsa: Vec<crate::dns::records::Tlsa>,
    /// The resolver set AD on the TLSA answer; `None` when there are no
    /// TLSA records or the stage did not run.
    pub tlsa_authenticated: Option<bool>,
}

impl MxEntry {
    /// A record as read from the MX answer, before anything was looked up.
    pub fn new(preference: u16, exchange: String) -> Self {
        Self {
            preference,
            exchange,
            tier: 0,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            cname: None,
            address_status: AddressStatus::Skipped,
            provider: None,
            category: None,
            org_domain: None,
            org_nxdomain: false,
            tlsa: Vec::new(),
            tlsa_authenticated: None,
        }
    }

    /// The null MX (`.`, RFC 7505).
    pub fn is_null(&self) -> bool {
        self.exchange == "."
    }
}

/// One output row.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRecord {
    /// Normalised name; `None` for invalid input.
    pub domain: Option<String>,
    /// The token as read.
    pub input: String,
    /// Rank from a `rank,domain` list.
    pub rank: Option<u32>,
    /// Physical input line, from 1 (0 when not from a list). Not an output
    /// column: a dataset's journal records it, for `--resume`.
    pub line: u64,
    /// Outcome of the MX lookup.
    pub status: Status,
    /// Detail for `invalid` / `error`.
    pub error: Option<String>,
    /// Canonical name when the domain is an alias.
    pub domain_cname: Option<String>,
    /// TTL of the MX RRset.
    pub mx_ttl: Option<u32>,
    /// A `.` exchange is present (RFC 7505). `None` when the MX lookup
    /// failed or was not made: unknown is not "no" ([`DomainRecord::knows_mx`]).
    pub null_mx: Option<bool>,
    /// No MX, but the domain has addresses (RFC 5321 §5.1). `None` when
    /// that is unknown: the MX lookup failed or was not made, or there is no
    /// MX and the domain's own A/AAAA lookups failed or were not made
    /// (`--mx-only`).
    pub implicit_mx: Option<bool>,
    /// Ordered by preference, then exchange.
    pub mx: Vec<MxEntry>,
    /// Finding codes, sorted and unique.
    pub findings: Vec<&'static str>,
    /// Queries sent for this domain, retries included.
    pub queries: u16,
    /// First query sent to last answer received.
    pub elapsed_ms: u32,
    /// `ip:port` of the resolver that gave the MX answer.
    pub resolver: Option<Arc<str>>,
    /// When the row was completed, milliseconds since the Unix epoch.
    pub scanned_at_ms: i64,
    /// Provider that receives the mail first (analysis stage).
    pub provider: Option<Arc<str>>,
    /// Its category.
    pub provider_category: Option<Category>,
    /// Distinct providers over all exchanges, in tier order.
    pub providers: Vec<Arc<str>>,
    /// Every exchange is under the domain's own registrable domain. `None`
    /// when the MX lookup failed or was not made (the exchanges are unknown).
    pub self_hosted: Option<bool>,
    /// Combined status of the domain's own A/AAAA lookups when it has no MX
    /// (the implicit MX check); `None` when they were not made. Not an output
    /// column: the findings need it to tell "no address" from "lookup failed".
    pub implicit_status: Option<AddressStatus>,
    /// Whether exchanges' addresses were looked up (not in `--mx-only`).
    /// Not an output column: findings about addresses need it.
    pub addresses_checked: bool,
    /// The resolver set AD on the MX answer (DNSSEC-validated, RFC 4035
    /// §3.2.3); `None` when the policy stage did not run.
    pub mx_authenticated: Option<bool>,
    /// The policy stage (`--policy`): what it received, then (after the
    /// analysis) its columns; `None` when it did not run (no `--policy`, or
    /// the MX lookup was not NOERROR).
    pub policy: Option<crate::policy::report::PolicyStage>,
}

impl DomainRecord {
    /// A row for input that is not a domain: nothing is sent for it.
    pub fn invalid(input: String, rank: Option<u32>, reason: String) -> Self {
        Self {
            domain: None,
            input,
            rank,
            line: 0,
            status: Status::Invalid,
            error: Some(reason),
            domain_cname: None,
            mx_ttl: None,
            null_mx: None,
            implicit_mx: None,
            mx: Vec::new(),
            findings: Vec::new(),
            queries: 0,
            elapsed_ms: 0,
            resolver: None,
            scanned_at_ms: now_ms(),
            provider: None,
            provider_category: None,
            providers: Vec::new(),
            self_hosted: None,
            implicit_status: None,
            addresses_checked: false,
            mx_authenticated: None,
            policy: None,
        }
    }
}

impl DomainRecord {
    /// Whether the MX set is known ([`Status::knows_mx`]); when it is not,
    /// every column derived from it (`null_mx`, `implicit_mx`,
    /// `self_hosted`) is null, not false.
    pub fn knows_mx(&self) -> bool {
        self.status.knows_mx()
    }
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Sort addresses by their text form, which is the order the contract
/// promises (and what `ORDER BY` on the strings gives analysts).
pub fn sort_as_text<T: AddressText>(addrs: &mut [T]) {
    T::sort_as_text(addrs);
}

/// An address type sorted by its text form ([`sort_as_text`]).
pub trait AddressText: Sized {
    /// Sort `addrs` by their text form.
    fn sort_as_text(addrs: &mut [Self]);
}

impl AddressText for Ipv4Addr {
    fn sort_as_text(addrs: &mut [Self]) {
        // Keys on the stack: no allocation, and equal texts are equal
        // addresses, so the unstable sort gives the same order.
        addrs.sort_unstable_by_key(|a| Ipv4Text::new(*a));
    }
}

impl AddressText for Ipv6Addr {
    fn sort_as_text(addrs: &mut [Self]) {
        addrs.sort_unstable_by_key(|a| Ipv6Text::new(*a));
    }
}

/// An IPv4 address in dotted-decimal text (as `Display` writes it), built
/// on the stack: the output stores and sorts addresses as text, and the
/// standard formatter (made for width and padding) cost more per address
/// than everything else a row's addresses go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Text {
    bytes: [u8; 15],
    len: u8,
}

impl Ipv4Text {
    /// The text of `addr`.
    pub fn new(addr: Ipv4Addr) -> Self {
        let mut bytes = [0u8; 15];
        let mut len = 0;
        for (i, octet) in addr.octets().into_iter().enumerate() {
            if i > 0 {
                bytes[len] = b'.';
                len += 1;
            }
            if octet >= 100 {
                bytes[len] = b'0' + octet / 100;
                len += 1;
            }
            if octet >= 10 {
                bytes[len] = b'0' + octet / 10 % 10;
                len += 1;
            }
            bytes[len] = b'0' + octet % 10;
            len += 1;
        }
        Self { bytes, len: len as u8 }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("digits and dots")
    }
}

impl Ord for Ipv4Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Ipv4Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// An IPv6 address in the text `Display` writes (RFC 5952: lowercase hex
/// without leading zeros, the first longest run of two or more zero groups
/// as `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`), built on the stack
/// for the reason [`Ipv4Text`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Text {
    bytes: [u8; 39],
    len: u8,
}

impl Ipv6Text {
    /// The text of `addr`.
    pub fn new(addr: Ipv6Addr) -> Self {
        let mut text = Self { bytes: [0; 39], len: 0 };
        if let Some(v4) = addr.to_ipv4_mapped() {
            text.push(b"::ffff:");
            text.push(Ipv4Text::new(v4).as_str().as_bytes());
            return text;
        }
        let groups = addr.segments();
        // The first longest run of zero groups, if two or more long.
        let (mut best_start, mut best_len) = (0, 0);
        let mut run_start = 0;
        for (i, &group) in groups.iter().enumerate() {
            if group != 0 {
                run_start = i + 1;
            } else if i + 1 - run_start > best_len {
                (best_start, best_len) = (run_start, i + 1 - run_start);
            }
        }
        if best_len > 1 {
            text.push_groups(&groups[..best_start]);
            text.push(b"::");
            text.push_groups(&groups[best_start + best_len..]);
        } else {
            text.push_groups(&groups);
        }
        text
    }

    fn push(&mut self, bytes: &[u8]) {
        let at = usize::from(self.len);
        self.bytes[at..at + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len() as u8;
    }

    /// Groups joined by `:`, each in lowercase hex without leading zeros.
    fn push_groups(&mut self, groups: &[u16]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, &group) in groups.iter().enumerate() {
            if i > 0 {
                self.push(b":");
            }
            let digits = [group >> 12, (group >> 8) & 0xf, (group >> 4) & 0xf, group & 0xf].map(usize::from);
            let first = digits.iter().position(|&d| d != 0).unwrap_or(3);
            for &d in &digits[first..] {
                self.push(&[HEX[d]]);
            }
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("hex digits, colons and dots")
    }
}

impl Ord for Ipv6Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Ipv6Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod address_text_tests {
    use super::*;

    /// The text is `Display`'s, and the sort is the text order.
    #[test]
    fn ipv4_text_matches_display_and_sorts_as_text() {
        let mut addrs = Vec::new();
        for a in [0u8, 1, 9, 10, 45, 99, 100, 127, 200, 255] {
            for b in [0u8, 5, 10, 100, 255] {
                let addr = Ipv4Addr::new(a, b, b.wrapping_mul(7), a ^ b);
                assert_eq!(Ipv4Text::new(addr).as_str(), addr.to_string());
                addrs.push(addr);
            }
        }
        let mut by_string = addrs.clone();
        by_string.sort_by_key(ToString::to_string);
        sort_as_text(&mut addrs);
        assert_eq!(addrs, by_string);
    }

    /// Every zero-run shape (each group zero or not, 256 patterns, with
    /// varied non-zero widths), IPv4-mapped and -compatible addresses.
    #[test]
    fn ipv6_text_matches_display_and_sorts_as_text() {
        let mut addrs = Vec::new();
        for pattern in 0u32..256 {
            for width in [0x1u16, 0xab, 0xf00, 0xffff, 0x10] {
                let groups: [u16; 8] = std::array::from_fn(|i| {
                    if pattern >> i & 1 == 1 { width.wrapping_mul(i as u16 + 1) | 1 } else { 0 }
                });
                addrs.push(Ipv6Addr::from(groups));
            }
        }
        addrs.extend(
            ["::ffff:192.0.2.1", "::192.0.2.1", "::1", "::", "2001:db8::25", "fe80::1:0:0:1"]
                .map(|a| a.parse::<Ipv6Addr>().unwrap()),
        );
        for addr in &addrs {
            assert_eq!(Ipv6Text::new(*addr).as_str(), addr.to_string(), "{addr:?}");
        }
        let mut by_string = addrs.clone();
        by_string.sort_by_key(ToString::to_string);
        by_string.dedup();
        sort_as_text(&mut addrs);
        addrs.dedup();
        assert_eq!(addrs, by_string);
    }
}
