//! The `notAfter` of an X.509 certificate, read with a minimal DER walk.
//!
//! RFC 5280 §4.1:
//!
//! ```text
//! Certificate  ::=  SEQUENCE  { tbsCertificate TBSCertificate, ... }
//! TBSCertificate  ::=  SEQUENCE  {
//!      version         [0]  EXPLICIT Version DEFAULT v1,
//!      serialNumber         CertificateSerialNumber,   -- INTEGER
//!      signature            AlgorithmIdentifier,       -- SEQUENCE
//!      issuer               Name,                      -- SEQUENCE
//!      validity             Validity,                  -- SEQUENCE { notBefore Time, notAfter Time }
//!      ... }
//! Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }
//! ```
//!
//! It reads the certificate the server presented, whatever the validation
//! thinks of it (an expired certificate's `notAfter` is the point).

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0; // [0] EXPLICIT, constructed
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The certificate's `notAfter` in milliseconds since the Unix epoch, or
/// `None` if the DER is not a certificate this walk understands.
pub(super) fn not_after_unix_ms(certificate: &[u8]) -> Option<i64> {
    let (tag, cert, _) = tlv(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let has_version = tbs.first() == Some(&VERSION);
    let mut expect = |want: u8| {
        let (tag, _, rest) = tlv(tbs)?;
        tbs = rest;
        (tag == want).then_some(())
    };
    if has_version {
        expect(VERSION)?;
    }
    expect(INTEGER)?; // serialNumber
    expect(SEQUENCE)?; // signature
    expect(SEQUENCE)?; // issuer
    let (tag, validity, _) = tlv(tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    let (_, _, rest) = tlv(validity)?; // notBefore
    let (tag, not_after, _) = tlv(rest)?;
    parse_time(tag, not_after)
}

/// One DER tag-length-value: (tag, value, the bytes after it). Single-byte
/// tags only (all the walk meets); definite lengths of up to four bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None; // indefinite (BER, not DER) or absurd
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// UTCTime `YYMMDDHHMMSSZ` (years 50–99 are 19xx, RFC 5280 §4.1.2.5.1) or
/// GeneralizedTime `YYYYMMDDHHMMSSZ` (§4.1.2.5.2), in Unix milliseconds.
fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = text.strip_suffix(b"Z")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        digits.get(range).map(|d| d.iter().fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0')))
    };
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (number(0..4)?, 4),
        _ => return None,
    };
    let field = |i: usize| number(rest + 2 * i..rest + 2 * i + 2);
    let (month, day, hour, minute, second) = (field(0)?, field(1)?, field(2)?, field(3)?, field(4)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12; // March = 0
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n < 0x100 => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    /// A certificate skeleton with the fields the walk passes over.
    fn certificate(with_version: bool, not_after: (u8, &str)) -> Vec<u8> {
        let mut tbs = Vec::new();
        if with_version {
            tbs.extend(wrap(VERSION, &wrap(INTEGER, &[2])));
        }
        tbs.extend(wrap(INTEGER, &[0x01, 0x23, 0x45]));
        tbs.extend(wrap(SEQUENCE, &wrap(0x06, &[0x2a, 0x86, 0x48])));
        tbs.extend(wrap(SEQUENCE, &[b'x'; 200])); // long form length
        let mut validity = wrap(UTC_TIME, b"200101000000Z");
        validity.extend(wrap(not_after.0, not_after.1.as_bytes()));
        tbs.extend(wrap(SEQUENCE, &validity));
        tbs.extend(wrap(SEQUENCE, b"subject and the rest"));
        let mut cert = wrap(SEQUENCE, &tbs);
        cert.extend(wrap(SEQUENCE, b"signatureAlgorithm"));
        wrap(SEQUENCE, &cert)
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2038, 1, 19), 24_855);
    }

    #[test]
    fn not_after_of_both_time_forms() {
        // 2030-06-15T12:34:56Z = 1_907_757_296 s
        let want = Some(1_907_757_296_000);
        assert_eq!(not_after_unix_ms(&certificate(true, (UTC_TIME, "300615123456Z"))), want);
        assert_eq!(not_after_unix_ms(&certificate(false, (UTC_TIME, "300615123456Z"))), want);
        assert_eq!(not_after_unix_ms(&certificate(true, (GENERALIZED_TIME, "20300615123456Z"))), want);
        // UTCTime 50..99 is the twentieth century
        assert_eq!(not_after_unix_ms(&certificate(true, (UTC_TIME, "700101000001Z"))), Some(1000));
        assert_eq!(
            not_after_unix_ms(&certificate(true, (GENERALIZED_TIME, "99991231235959Z"))),
            Some(253_402_300_799_000)
        );
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(not_after_unix_ms(&[]), None);
        assert_eq!(not_after_unix_ms(b"not a certificate"), None);
        assert_eq!(not_after_unix_ms(&certificate(true, (UTC_TIME, "301315123456Z"))), None); // month 13
        assert_eq!(not_after_unix_ms(&certificate(true, (UTC_TIME, "300615123456"))), None); // no Z
        assert_eq!(not_after_unix_ms(&certificate(true, (GENERALIZED_TIME, "300615123456Z"))), None);
        assert_eq!(not_after_unix_ms(&certificate(true, (INTEGER, "300615123456Z"))), None);
        let cert = certificate(true, (UTC_TIME, "300615123456Z"));
        for cut in 0..cert.len() {
            assert_eq!(not_after_unix_ms(&cert[..cut]), None, "cut at {cut}");
        }
        assert_eq!(not_after_unix_ms(&[SEQUENCE, 0x80, 0, 0]), None); // indefinite length
    }
}
