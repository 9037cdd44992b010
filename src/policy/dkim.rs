//! DKIM key records (RFC 6376 §3.6.1) at `<selector>._domainkey.<domain>`,
//! probed for a list of common selectors: one `dkim` element per selector
//! that has a key record.
//!
//! The record is a tag list (RFC 6376 §3.2: tag names case-sensitive, a
//! duplicated tag makes the whole list invalid, unknown tags ignored):
//! `v` (if present first, exactly `DKIM1`; a record whose first tag is
//! another `v` is discarded), `h`, `k` (`rsa` by default, `ed25519` by RFC
//! 8463), `n`, `p` (base64, FWS allowed inside; empty = revoked), `s`, `t`
//! (colon-separated flags; `y` = testing). Unknown flags, hash and service
//! names are ignored, as §3.6.1 says.
//!
//! Key size: for `rsa` the bits of the modulus, read from the DER with a
//! small walker of our own. `p` is in practice a SubjectPublicKeyInfo
//! (what `opendkim-genkey` and every provider publish); a bare PKCS#1
//! `RSAPublicKey`, which §3.6.1's wording suggests, is read too. For
//! `ed25519` `p` is the 32-octet key (RFC 8463 §4.2): 256 bits.

use crate::policy::tags::{Piece, TxtRecord, is_fws, keywords, split_tags, text};

/// Selectors probed when the user gives none: those the large mail
/// providers and senders configure for customer domains.
pub const DEFAULT_SELECTORS: &[&str] = &[
    "google",      // Google Workspace (its default selector)
    "selector1",   // Microsoft 365 (pair of rotating selectors)
    "selector2",   // Microsoft 365
    "k1",          // Mailchimp
    "k2",          // Mailchimp
    "mandrill",    // Mandrill (Mailchimp Transactional)
    "s1",          // SendGrid (automated security, rotating pair)
    "s2",          // SendGrid
    "smtp",        // Mailgun (its usual default)
    "mailjet",     // Mailjet
    "cm",          // Campaign Monitor
    "sig1",        // Apple iCloud custom e-mail domains
    "zoho",        // Zoho Mail (the selector its setup suggests)
    "protonmail",  // Proton Mail (three rotating selectors)
    "protonmail2", // Proton Mail
    "protonmail3", // Proton Mail
    "fm1",         // Fastmail (three rotating selectors)
    "fm2",         // Fastmail
    "fm3",         // Fastmail
    "default",     // cPanel and opendkim-genkey's default
    "dkim",        // common generic choice (hosting panels)
    "mail",        // common generic choice (self-hosted setups)
];

keywords! {
    /// Status of one `dkim` element.
    DkimStatus {
        /// A usable key.
        Ok = "ok",
        /// `p=` empty: the key was revoked (§3.6.1).
        Revoked = "revoked",
        /// The record does not parse (`dkim_key_invalid`).
        Invalid = "invalid",
    }
}

/// One element of the `dkim` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKeyReport {
    /// The selector probed.
    pub selector: String,
    /// See [`DkimStatus`].
    pub status: DkimStatus,
    /// `rsa` or `ed25519`, when known.
    pub key_type: Option<String>,
    /// Key size in bits, when the key was read.
    pub key_bits: Option<u16>,
    /// `t=y`: the domain is testing DKIM (`dkim_testing`).
    pub testing: bool,
    /// Short messages naming the tag.
    pub errors: Vec<String>,
}

impl DkimKeyReport {
    /// The finding codes: `dkim_key_invalid`, `dkim_testing`.
    pub fn findings(&self) -> Vec<&'static str> {
        let mut codes = Vec::new();
        if self.status == DkimStatus::Invalid {
            codes.push("dkim_key_invalid");
        }
        if self.testing {
            codes.push("dkim_testing");
        }
        codes
    }
}

/// The TXT name of a selector's key (RFC 6376 §3.6.2.1).
pub fn key_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

/// Whether a TXT record is a DKIM key record: its first tag is `v=DKIM1`,
/// or it has no `v` first but a `p` tag. Anything else at the name (an SPF
/// record a wildcard put there, a verification token) is not a key.
fn is_key_record(record: &[u8]) -> bool {
    let record = text(record);
    let tags = split_tags(&record);
    match tags.first() {
        Some(Piece::Tag { name: "v", value }) => *value == "DKIM1",
        _ => tags.iter().any(|piece| matches!(piece, Piece::Tag { name: "p", .. })),
    }
}

/// The `dkim` element for `selector` from its TXT answer (a successful
/// one: a failed lookup says nothing), or `None` when there is no key
/// record. Several key records are `invalid` (§3.6.2.2: the results are
/// undefined).
pub fn check_selector(selector: &str, txt: &[TxtRecord]) -> Option<DkimKeyReport> {
    let mut keys = txt.iter().filter(|r| is_key_record(r));
    let first = keys.next()?;
    if keys.next().is_some() {
        return Some(DkimKeyReport {
            selector: selector.to_string(),
            status: DkimStatus::Invalid,
            key_type: None,
            key_bits: None,
            testing: false,
            errors: vec!["several key records".into()],
        });
    }
    Some(parse_key(selector, &text(first)))
}

/// Parses a key record (§3.6.1).
pub fn parse_key(selector: &str, record: &str) -> DkimKeyReport {
    let mut report = DkimKeyReport {
        selector: selector.to_string(),
        status: DkimStatus::Ok,
        key_type: None,
        key_bits: None,
        testing: false,
        errors: Vec::new(),
    };
    let mut seen: Vec<&str> = Vec::new();
    let (mut k, mut p) = (None, None);
    for (i, piece) in split_tags(record).into_iter().enumerate() {
        let (name, value) = match piece {
            Piece::Tag { name, value } => (name, value),
            Piece::Empty => {
                report.errors.push("empty tag between ';'".into());
                continue;
            }
            Piece::Malformed(_) => {
                report.errors.push("malformed tag".into());
                continue;
            }
        };
        if seen.contains(&name) {
            // §3.2: "the entire tag-list is invalid".
            report.errors.push(format!("{}: duplicated", known(name)));
            continue;
        }
        seen.push(name);
        match name {
            "v" if i != 0 => report.errors.push("v: must be the first tag".into()),
            "v" if value != "DKIM1" => report.errors.push("v: must be DKIM1".into()),
            "k" => k = Some(value),
            "p" => p = Some(value),
            // Colon-separated flags; `y` is testing, unknown flags ignored.
            "t" => report.testing = value.split(':').any(|flag| flag.trim_matches(is_fws) == "y"),
            _ => {} // h, n, s: nothing to check that matters; others unknown
        }
    }
    let published = k.unwrap_or("rsa");
    let key_type = match published {
        "rsa" => Some("rsa"),
        "ed25519" => Some("ed25519"),
        _ => None,
    };
    // The column shows the type as published, an unknown one included:
    // that is what an auditor needs to see next to `invalid`.
    report.key_type = Some(published.to_string());
    if key_type.is_none() {
        report.errors.push("k: unknown key type".into());
    }
    match p {
        None => report.errors.push("p: missing".into()),
        Some(value) if value.trim_matches(is_fws).is_empty() => {
            if report.errors.is_empty() {
                report.status = DkimStatus::Revoked;
            }
        }
        Some(value) => match (key_type, base64(value)) {
            (_, None) => report.errors.push("p: not base64".into()),
            (Some("ed25519"), Some(key)) if key.len() == 32 => report.key_bits = Some(256),
            (Some("ed25519"), Some(_)) => report.errors.push("p: an ed25519 key is 32 octets".into()),
            (Some(_), Some(der)) => match rsa_modulus_bits(&der) {
                Some(bits) => match u16::try_from(bits) {
                    Ok(bits) => report.key_bits = Some(bits),
                    Err(_) => report.errors.push("p: RSA modulus too large".into()),
                },
                None => report.errors.push("p: not an RSA public key".into()),
            },
            (None, Some(_)) => {}
        },
    }
    if !report.errors.is_empty() {
        report.status = DkimStatus::Invalid;
    }
    report
}

/// The tag's name for messages when it is one of §3.6.1's, else "tag".
fn known(name: &str) -> &'static str {
    ["v", "h", "k", "n", "p", "s", "t"].into_iter().find(|k| *k == name).unwrap_or("tag")
}

/// Base64 (RFC 4648 §4, padded), FWS anywhere ignored (RFC 6376 §3.6.1).
fn base64(text: &str) -> Option<Vec<u8>> {
    let symbols: Vec<u8> = text.bytes().filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n')).collect();
    if !symbols.len().is_multiple_of(4) {
        return None;
    }
    let padding = symbols.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3);
    let mut acc: u32 = 0;
    for (i, &b) in symbols[..symbols.len() - padding].iter().enumerate() {
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(value);
        if i % 4 == 3 {
            out.extend_from_slice(&acc.to_be_bytes()[1..]);
            acc = 0;
        }
    }
    match padding {
        1 => out.extend_from_slice(&(acc << 6).to_be_bytes()[1..3]),
        2 => out.push((acc << 12).to_be_bytes()[1]),
        _ => {}
    }
    Some(out)
}

/// DER tags used here.
const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
/// 1.2.840.113549.1.1.1, rsaEncryption (RFC 8017 Appendix C).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// One DER element: (tag, contents, what follows). Definite lengths of at
/// most four octets only.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            let bytes = rest.get(..n)?;
            let len = bytes.iter().fold(0usize, |acc, &b| acc << 8 | usize::from(b));
            (len, rest.get(n..)?)
        }
        _ => return None,
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// Bits of the modulus of an RSA key given as a SubjectPublicKeyInfo
/// (RFC 5280 §4.1.2.7 with rsaEncryption) or a bare `RSAPublicKey` (RFC
/// 8017 §A.1.1).
fn rsa_modulus_bits(input: &[u8]) -> Option<usize> {
    let (SEQUENCE, outer, _) = der(input)? else { return None };
    let (tag, first, rest) = der(outer)?;
    let rsa_public_key = match tag {
        INTEGER => outer,
        SEQUENCE => {
            let (OID, algorithm, _) = der(first)? else { return None };
            if algorithm != RSA_ENCRYPTION {
                return None;
            }
            let (BIT_STRING, bits, _) = der(rest)? else { return None };
            let (0, key) = bits.split_first()? else { return None }; // no unused bits
            let (SEQUENCE, key, _) = der(key)? else { return None };
            key
        }
        _ => return None,
    };
    let (INTEGER, modulus, rest) = der(rsa_public_key)? else { return None };
    let (INTEGER, exponent, _) = der(rest)? else { return None };
    if exponent.is_empty() {
        return None;
    }
    let modulus = &modulus[modulus.iter().take_while(|&&b| b == 0).count()..];
    let (&top, _) = modulus.split_first()?;
    Some((modulus.len() - 1) * 8 + (8 - top.leading_zeros() as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl genrsa 1024 | openssl rsa -pubout -outform DER | base64`.
    const RSA_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCi+LUD/DVqywL2io82/FuX5lWITVvwrDxTZbUuOoeI8WQWqVC97pQug2\
        WMpU/QYTgTusQkvrPv/77+EAAeTKxJs4xLaAlpL3P9sIQgvMQJr35EY+fWwqCh0IQg6mdcIU8xakHViFGmiaNgPdngJ/kErYLLsHd98\
        GPDyRX8F2mCzwIDAQAB";
    const RSA_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAve8u4HLWHVxZMvQunbOatp+cLTxGPyQqQhdv6KapdRJgtA8uGl\
        SNUc3JMBIWVzFLifvm1l4qmso/jJztO+PQjgHqwe6BQnuFey1h5ifEK5IkvKOvdR8QgRz8lmqNhBODfG4umwUU4IyaUk9kVYb9LMJ7e\
        ijvjC0bsABkq80e82a1Vt8BibolrVWvpTuPpacDI05AQ5UdW4nWFJskIFyqwlz7w/SE74SeISjtJMj5BO6Nmn7pbR80jbyS2DuLPwa6\
        OYTebqySDskpoJa1EXLMCg2ZbGTEGPPJ8vq4j1eLm97808GELIQWqyMHCSNuhlb2Uh3i1O5nePm7ghc2yQUfQQIDAQAB";
    /// `openssl rsa -RSAPublicKey_out`: a bare PKCS#1 key.
    const RSA_PKCS1_1024: &str = "MIGJAoGBANFOCc8tcXrzkw0NYGtdhFDAm2Fbler9HvMyh3pOrzB6BbF0IPNCCGQk5Jdd1t4R191Tn9zg2Z/6OlBfhAgewH1P\
        bz19WxIr6OcXlnyAAAbR9AVRI7809rx0w9Ri+rQVFn98pLj8Q0AQXYMPan5z9X3BAc54tj7CJlvlYLLHEiZBAgMBAAE=";
    /// An Ed25519 key as a SubjectPublicKeyInfo (wrong for DKIM).
    const ED25519_SPKI: &str = "MCowBQYDK2VwAyEAAgH5SRSGQT5k4YnkkSzA/N7Nnv84jRVaERSegYsF8VI=";

    fn key(record: &str) -> DkimKeyReport {
        parse_key("sel", record)
    }

    #[test]
    fn rsa_keys_and_their_size() {
        let r = key(&format!("v=DKIM1; k=rsa; p={RSA_1024}"));
        assert_eq!((r.status, r.key_type.as_deref(), r.key_bits), (DkimStatus::Ok, Some("rsa"), Some(1024)));
        assert!(r.errors.is_empty() && r.findings().is_empty());
        // k defaults to rsa; v is optional; FWS inside p is allowed.
        let spaced: String = RSA_2048
            .chars()
            .enumerate()
            .flat_map(|(i, c)| (i % 64 == 63).then_some(' ').into_iter().chain([c]))
            .collect();
        let r = key(&format!("p={spaced}"));
        assert_eq!((r.status, r.key_bits), (DkimStatus::Ok, Some(2048)));
        assert_eq!(key(&format!("v=DKIM1; p={RSA_PKCS1_1024}")).key_bits, Some(1024));
    }

    #[test]
    fn ed25519_rfc_8463_example() {
        // RFC 8463 Appendix A.2.
        let r = key("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
        assert_eq!(
            (r.status, r.key_type.as_deref(), r.key_bits),
            (DkimStatus::Ok, Some("ed25519"), Some(256))
        );
        let r = key(&format!("v=DKIM1; k=ed25519; p={ED25519_SPKI}"));
        assert_eq!(r.errors, ["p: an ed25519 key is 32 octets"]);
    }

    #[test]
    fn revoked_and_testing() {
        let r = key("v=DKIM1; p=");
        assert_eq!((r.status, r.key_bits), (DkimStatus::Revoked, None));
        assert!(r.findings().is_empty());
        let r = key(&format!("v=DKIM1; t=s:y; p={RSA_1024}"));
        assert!(r.testing);
        assert_eq!(r.findings(), ["dkim_testing"]);
        assert!(!key(&format!("t=s; p={RSA_1024}")).testing);
        // Unknown flags, hashes, services and tags are ignored.
        let r = key(&format!("v=DKIM1; h=sha256:sha512; s=email:x; t=x:z; n=notes; zz=1; p={RSA_1024}"));
        assert_eq!(r.status, DkimStatus::Ok, "{:?}", r.errors);
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str)] = &[
            ("v=DKIM1; k=dsa; p=AAAA", "k: unknown key type"),
            ("v=DKIM1; k=rsa", "p: missing"),
            ("v=DKIM1; p=AAA", "p: not base64"),
            ("v=DKIM1; p=AA=A", "p: not base64"),
            ("v=DKIM1; p=A===", "p: not base64"),
            ("v=DKIM1; p=AAAA", "p: not an RSA public key"),
            (
                "v=DKIM1; p=MCowBQYDK2VwAyEAAgH5SRSGQT5k4YnkkSzA/N7Nnv84jRVaERSegYsF8VI=",
                "p: not an RSA public key",
            ),
            ("v=DKIM1; p=; p=AAAA", "p: duplicated"),
            ("k=rsa; v=DKIM1; p=AAAA", "v: must be the first tag"),
            ("v=DKIM2; p=AAAA", "v: must be DKIM1"),
            ("v=DKIM1; p", "malformed tag"),
            ("v=DKIM1;; p=", "empty tag between ';'"),
            ("v=DKIM1; x=1; x=2; p=", "tag: duplicated"),
        ];
        for (record, error) in cases {
            let r = key(record);
            assert!(r.errors.iter().any(|e| e == error), "{record}: {:?}", r.errors);
            assert_eq!(r.status, DkimStatus::Invalid, "{record}");
            assert_eq!(r.findings(), ["dkim_key_invalid"], "{record}");
        }
        // An unknown key type is shown as published.
        assert_eq!(key("v=DKIM1; k=dsa; p=AAAA").key_type.as_deref(), Some("dsa"));
    }

    #[test]
    fn selection_among_txt_records() {
        let txt = |r: &[&str]| r.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(check_selector("s", &[]), None);
        // Wildcard SPF and other records at the name are not keys.
        assert_eq!(check_selector("s", &txt(&["v=spf1 -all", "google-site-verification=abc"])), None);
        assert_eq!(check_selector("s", &txt(&["v=DKIM2; p=AAAA"])), None);
        let one = check_selector("s", &txt(&["v=spf1 -all", &format!("k=rsa; p={RSA_1024}")])).unwrap();
        assert_eq!((one.selector.as_str(), one.status), ("s", DkimStatus::Ok));
        let several = check_selector("s", &txt(&["v=DKIM1; p=", "v=DKIM1; p="])).unwrap();
        assert_eq!(
            (several.status, several.errors.as_slice()),
            (DkimStatus::Invalid, &["several key records".to_string()][..])
        );
        let garbled = check_selector("s", &[b"v=DKIM1; p=\xff".to_vec()]).unwrap();
        assert_eq!(garbled.errors, ["p: not base64"]);
        assert_eq!(key_name("google", "example.com"), "google._domainkey.example.com");
    }

    #[test]
    fn default_selectors() {
        assert!((15..=25).contains(&DEFAULT_SELECTORS.len()));
        for (i, s) in DEFAULT_SELECTORS.iter().enumerate() {
            assert!(!DEFAULT_SELECTORS[..i].contains(s), "{s} twice");
            assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{s}");
        }
    }

    #[test]
    fn der_and_base64_edges() {
        assert_eq!(base64("TWFu"), Some(b"Man".to_vec()));
        assert_eq!(base64("TWE="), Some(b"Ma".to_vec()));
        assert_eq!(base64("TQ=="), Some(b"M".to_vec()));
        assert_eq!(base64(""), Some(Vec::new()));
        assert_eq!(der(&[0x30, 0x80]), None, "indefinite length");
        assert_eq!(der(&[0x30, 0x85, 1, 1, 1, 1, 1]), None, "five length octets");
        assert_eq!(der(&[0x30, 0x82, 0xff, 0xff]), None, "length beyond the input");
        assert_eq!(der(&[0x02, 0x01, 0x05, 0xaa]), Some((0x02, &[0x05][..], &[0xaa][..])));
        // SEQUENCE { INTEGER 0x00 0x80, INTEGER 3 }: an 8-bit modulus.
        assert_eq!(rsa_modulus_bits(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x03]), Some(8));
        assert_eq!(rsa_modulus_bits(&[0x30, 0x05, 0x02, 0x01, 0x00, 0x02, 0x00]), None);
    }
}
