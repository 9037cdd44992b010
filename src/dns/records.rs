//! The record types of the policy stage (TXT, TLSA), decoded with
//! hickory-proto. They are asked a few times per domain, not on the MX/A/AAAA
//! hot path where the hand-rolled walker in [`super::wire`] pays; here the
//! maintained decoder is worth more than speed.

use hickory_proto::rr::{RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};

use super::wire::WireError;

/// One TLSA record (RFC 6698 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// Certificate usage (§2.1.1): 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// Selector (§2.1.2): 0 full certificate, 1 SubjectPublicKeyInfo.
    pub selector: u8,
    /// Matching type (§2.1.3): 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// Certificate association data.
    pub data: Vec<u8>,
}

impl Tlsa {
    /// The association data as lowercase hex (the `mx.tlsa.data` column).
    pub fn hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(self.data.len() * 2);
        for &byte in &self.data {
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        out
    }
}

fn decode(rdata: &[u8], record_type: RecordType) -> Result<RData, WireError> {
    let length = u16::try_from(rdata.len()).map_err(|_| WireError::BadRdata)?;
    let mut decoder = BinDecoder::new(rdata);
    let decoded =
        RData::read(&mut decoder, record_type, Restrict::new(length)).map_err(|_| WireError::BadRdata)?;
    // The RDATA must be exactly the record (RFC 1035 §3.2.1 RDLENGTH).
    if !decoder.is_empty() {
        return Err(WireError::BadRdata);
    }
    Ok(decoded)
}

/// A TXT record's character-strings, joined without separators (RFC 7208
/// §3.3; RFC 1035 §3.3.14: one or more strings of up to 255 octets each).
pub fn txt(rdata: &[u8]) -> Result<Vec<u8>, WireError> {
    match decode(rdata, RecordType::TXT)? {
        RData::TXT(txt) => Ok(txt.txt_data.iter().flat_map(|s| s.iter().copied()).collect()),
        _ => Err(WireError::BadRdata),
    }
}

/// A TLSA record's fields (RFC 6698 §2.1): three octets and the data.
pub fn tlsa(rdata: &[u8]) -> Result<Tlsa, WireError> {
    match decode(rdata, RecordType::TLSA)? {
        RData::TLSA(t) => Ok(Tlsa {
            usage: t.cert_usage.into(),
            selector: t.selector.into(),
            matching: t.matching.into(),
            data: t.cert_data,
        }),
        _ => Err(WireError::BadRdata),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_joins_strings() {
        assert_eq!(txt(b"\x06v=spf1\x05 -all").unwrap(), b"v=spf1 -all");
        assert_eq!(txt(b"\x00").unwrap(), b"");
    }

    #[test]
    fn txt_string_past_rdata_is_an_error() {
        assert_eq!(txt(b"\x07v=spf1"), Err(WireError::BadRdata));
    }

    #[test]
    fn tlsa_fields() {
        let mut rdata = vec![3, 1, 1];
        rdata.extend([0xab; 32]);
        let t = tlsa(&rdata).unwrap();
        assert_eq!((t.usage, t.selector, t.matching, t.data.len()), (3, 1, 1, 32));
        assert_eq!(t.data[0], 0xab);
    }

    #[test]
    fn tlsa_shorter_than_its_fixed_fields_is_an_error() {
        assert_eq!(tlsa(&[3, 1]), Err(WireError::BadRdata));
    }
}
