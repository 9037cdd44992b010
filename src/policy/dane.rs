//! DANE for SMTP (RFC 7672): checks on the TLSA records published at
//! `_25._tcp.<exchange>` (RFC 7672 §2.2.3; for an exchange that is a
//! secure CNAME, first at the expanded name: the engine's business) and on
//! the DNSSEC state of the answers, from the AD bit.
//!
//! - Usages PKIX-TA(0) and PKIX-EE(1) are not for SMTP: "SHOULD NOT" be
//!   published and are unusable (RFC 7672 §3.1.3) → `dane_unusable_usage`.
//! - The association data must fit its matching type: SHA2-256 (1) is 32
//!   octets, SHA2-512 (2) is 64, Full (0) any length (RFC 6698 §2.1.3)
//!   → `dane_bad_digest_length`.
//! - DANE applies only to DNSSEC-validated TLSA and MX RRsets (RFC 7672
//!   §2.2, §2.2.1): TLSA without AD → `dane_not_authenticated`; TLSA for
//!   an exchange while the MX answer has no AD →
//!   `dane_mx_not_authenticated`. Unknown (a failed lookup) raises nothing.

/// The TLSA name of an SMTP exchange (RFC 7672 §2.2.3).
pub fn tlsa_name(exchange: &str) -> String {
    format!("_25._tcp.{}", exchange.strip_suffix('.').unwrap_or(exchange))
}

/// One TLSA record (RFC 6698 §2.1), as the wire decoder reads it.
pub use crate::dns::records::Tlsa;

/// One element of the `mx.tlsa` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsaElement {
    /// Certificate usage.
    pub usage: u8,
    /// Selector.
    pub selector: u8,
    /// Matching type.
    pub matching: u8,
    /// Association data, lowercase hex.
    pub data: String,
}

impl Tlsa {
    /// A TLSA record from its RDATA (RFC 6698 §2.1: three octets, then the
    /// data), decoded as the wire path does ([`crate::dns::records::tlsa`]);
    /// `None` when shorter than four octets.
    pub fn from_rdata(rdata: &[u8]) -> Option<Self> {
        crate::dns::records::tlsa(rdata).ok().filter(|t| !t.data.is_empty())
    }

    /// The output element (data in lowercase hex).
    pub fn element(&self) -> TlsaElement {
        TlsaElement { usage: self.usage, selector: self.selector, matching: self.matching, data: self.hex() }
    }

    /// PKIX-TA(0) or PKIX-EE(1): not for SMTP (RFC 7672 §3.1.3).
    pub fn unusable_usage(&self) -> bool {
        self.usage <= 1
    }

    /// The data length does not fit the matching type (RFC 6698 §2.1.3).
    pub fn bad_digest_length(&self) -> bool {
        match self.matching {
            1 => self.data.len() != 32,
            2 => self.data.len() != 64,
            _ => false,
        }
    }

    /// Usable by an SMTP client (RFC 7672 §2.2, §3.1): usage DANE-TA or
    /// DANE-EE, a known selector and matching type, a digest of the right
    /// length.
    pub fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3) && self.selector <= 1 && self.matching <= 2 && !self.bad_digest_length()
    }
}

/// The `mx.tlsa_authenticated` value: the AD bit of the TLSA answer
/// (`None` when the lookup failed), null when there are no TLSA records.
pub fn tlsa_authenticated(tlsa: &[Tlsa], ad: Option<bool>) -> Option<bool> {
    if tlsa.is_empty() { None } else { ad }
}

/// `dane_not_authenticated`: TLSA records whose answer was not validated.
pub fn dane_not_authenticated(tlsa_present: bool, tlsa_authenticated: Option<bool>) -> bool {
    tlsa_present && tlsa_authenticated == Some(false)
}

/// `dane_mx_not_authenticated`: some exchange publishes TLSA while the
/// domain's MX answer was not validated, so senders never look for it.
pub fn dane_mx_not_authenticated(any_tlsa: bool, mx_authenticated: Option<bool>) -> bool {
    any_tlsa && mx_authenticated == Some(false)
}

/// One exchange's TLSA answer, for [`findings`].
#[derive(Debug, Clone, Copy)]
pub struct ExchangeTlsa<'a> {
    /// The records.
    pub tlsa: &'a [Tlsa],
    /// The AD bit of the answer (`None` when the lookup failed).
    pub authenticated: Option<bool>,
}

/// The DANE finding codes of a domain, from its exchanges' TLSA answers
/// and the MX answer's AD bit.
pub fn findings(exchanges: &[ExchangeTlsa<'_>], mx_authenticated: Option<bool>) -> Vec<&'static str> {
    let records = || exchanges.iter().flat_map(|e| e.tlsa);
    let mut codes = Vec::new();
    if records().any(Tlsa::unusable_usage) {
        codes.push("dane_unusable_usage");
    }
    if records().any(Tlsa::bad_digest_length) {
        codes.push("dane_bad_digest_length");
    }
    if exchanges.iter().any(|e| dane_not_authenticated(!e.tlsa.is_empty(), e.authenticated)) {
        codes.push("dane_not_authenticated");
    }
    if dane_mx_not_authenticated(records().next().is_some(), mx_authenticated) {
        codes.push("dane_mx_not_authenticated");
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlsa(usage: u8, selector: u8, matching: u8, len: usize) -> Tlsa {
        Tlsa { usage, selector, matching, data: vec![0xab; len] }
    }

    #[test]
    fn rdata_and_element() {
        let t = Tlsa::from_rdata(&[3, 1, 1, 0x0a, 0xff]).unwrap();
        assert_eq!((t.usage, t.selector, t.matching, t.data.as_slice()), (3, 1, 1, &[0x0a, 0xff][..]));
        assert_eq!(t.element(), TlsaElement { usage: 3, selector: 1, matching: 1, data: "0aff".into() });
        assert_eq!(Tlsa::from_rdata(&[3, 1, 1]), None);
        assert_eq!(Tlsa::from_rdata(&[]), None);
        assert_eq!(tlsa_name("mx.example.com."), "_25._tcp.mx.example.com");
    }

    #[test]
    fn usage_and_digest_checks() {
        assert!(tlsa(3, 1, 1, 32).usable());
        assert!(tlsa(2, 0, 2, 64).usable());
        assert!(tlsa(3, 0, 0, 5).usable(), "Full: any length");
        assert!(tlsa(0, 0, 1, 32).unusable_usage() && tlsa(1, 1, 1, 32).unusable_usage());
        assert!(!tlsa(2, 1, 1, 32).unusable_usage());
        assert!(tlsa(3, 1, 1, 31).bad_digest_length());
        assert!(tlsa(3, 1, 2, 32).bad_digest_length());
        assert!(!tlsa(3, 1, 9, 1).bad_digest_length(), "unknown matching types: no length rule");
        assert!(!tlsa(3, 1, 9, 1).usable() && !tlsa(3, 2, 1, 32).usable() && !tlsa(4, 1, 1, 32).usable());
    }

    #[test]
    fn authentication_logic() {
        assert_eq!(tlsa_authenticated(&[], Some(true)), None);
        assert_eq!(tlsa_authenticated(&[tlsa(3, 1, 1, 32)], Some(false)), Some(false));
        assert!(dane_not_authenticated(true, Some(false)));
        assert!(!dane_not_authenticated(true, None) && !dane_not_authenticated(false, Some(false)));
        assert!(!dane_not_authenticated(true, Some(true)));
        assert!(dane_mx_not_authenticated(true, Some(false)));
        assert!(!dane_mx_not_authenticated(true, None) && !dane_mx_not_authenticated(false, Some(false)));
    }

    #[test]
    fn domain_findings() {
        let good = [tlsa(3, 1, 1, 32)];
        let bad = [tlsa(1, 1, 1, 32), tlsa(3, 1, 2, 32)];
        let secure = ExchangeTlsa { tlsa: &good, authenticated: Some(true) };
        assert!(findings(&[secure], Some(true)).is_empty());
        assert_eq!(findings(&[secure], Some(false)), ["dane_mx_not_authenticated"]);
        let insecure = ExchangeTlsa { tlsa: &bad, authenticated: Some(false) };
        assert_eq!(
            findings(&[secure, insecure], Some(true)),
            ["dane_unusable_usage", "dane_bad_digest_length", "dane_not_authenticated"]
        );
        let none = ExchangeTlsa { tlsa: &[], authenticated: Some(false) };
        assert!(findings(&[none], Some(false)).is_empty());
    }
}
