//! The `_mta-sts` TXT record (RFC 8461 §3.1):
//!
//! ```text
//! sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
//! sts-field       = sts-id / sts-extension
//! sts-field-delim = *WSP ";" *WSP
//! sts-version     = %s"v=STSv1"
//! sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
//! sts-extension   = sts-ext-name "=" sts-ext-value
//! ```
//!
//! Everything is case-sensitive (`%s`) and no white space is allowed
//! around `=`. A record that begins `v=STSv1` but breaks the syntax is
//! selected and reported invalid (`mta_sts_record_invalid`); senders treat
//! it as no policy either way.

use crate::policy::tags::{
    self, Selection, TxtRecord, is_ext_name, is_ext_value, starts_with_version, version_fields,
};

const VERSION: &str = "v=STSv1";

/// The MTA-STS record among the TXT records at `_mta-sts.<domain>`:
/// records not beginning with `v=STSv1` are discarded; several leave none.
pub fn select(txt: &[TxtRecord]) -> Selection {
    tags::select(txt, |r| starts_with_version(r, VERSION.as_bytes()))
}

/// A parsed record: the `id` when valid, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRecord {
    /// The policy id (1–32 letters or digits).
    pub id: Option<String>,
    /// Short messages naming the field.
    pub errors: Vec<String>,
}

/// Parses an `_mta-sts` record.
pub fn parse_record(record: &str) -> StsRecord {
    let mut out = StsRecord { id: None, errors: Vec::new() };
    let (version_ok, fields) = version_fields(record, VERSION);
    if !version_ok {
        out.errors.push("v: must come first and be STSv1".into());
    }
    if version_ok && fields.is_empty() {
        out.errors.push("no field after v".into());
    }
    let mut saw_id = false;
    for field in fields {
        match field.split_once('=') {
            _ if field.is_empty() => out.errors.push("empty field between ';'".into()),
            Some(("id", id)) => {
                if saw_id {
                    out.errors.push("id: duplicated".into());
                    continue;
                }
                saw_id = true;
                if (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    out.id = Some(id.to_string());
                } else {
                    out.errors.push("id: not 1-32 letters or digits".into());
                }
            }
            Some((name, value)) if is_ext_name(name) && is_ext_value(value) => {}
            _ => out.errors.push("malformed field".into()),
        }
    }
    if !saw_id {
        out.errors.push("id: missing".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example() {
        // RFC 8461 §3.1.
        let r = parse_record("v=STSv1; id=20160831085700Z;");
        assert_eq!(r, StsRecord { id: Some("20160831085700Z".into()), errors: vec![] });
        assert_eq!(parse_record("v=STSv1;id=abc ; ext-1.x=v!al").errors, Vec::<String>::new());
    }

    #[test]
    fn selection() {
        let txt = |r: &[&str]| r.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(select(&txt(&["v=spf1 -all", "v=STSv1; id=1"])), Selection::One("v=STSv1; id=1".into()));
        assert_eq!(select(&txt(&["v=STSv10; id=1", "v=stsv1; id=1"])), Selection::None);
        assert_eq!(select(&txt(&["v=STSv1; id=1", "v=STSv1; id=2"])), Selection::Several(2));
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str)] = &[
            ("v=STSv1; id=2016-08-31", "id: not 1-32 letters or digits"),
            ("v=STSv1; id=", "id: not 1-32 letters or digits"),
            ("v=STSv1; id=123456789012345678901234567890123", "id: not 1-32 letters or digits"),
            ("v=STSv1; id=a; id=b", "id: duplicated"),
            ("v=STSv1; ID=a", "id: missing"),
            ("v=STSv1", "no field after v"),
            ("v=STSv1;", "no field after v"),
            ("v=STSv1; id = a", "malformed field"),
            ("v=STSv1; id=a; x=", "malformed field"),
            ("v=STSv1; id=a; _x=1", "malformed field"),
            ("v=STSv1; id=a; x=\u{fffd}", "malformed field"),
            ("v=STSv1;; id=a", "empty field between ';'"),
            ("v=STSv2; id=a", "v: must come first and be STSv1"),
            (" v=STSv1; id=a", "v: must come first and be STSv1"),
            ("id=a; v=STSv1", "v: must come first and be STSv1"),
        ];
        for (record, error) in cases {
            let r = parse_record(record);
            assert!(r.errors.iter().any(|e| e == error), "{record}: {:?}", r.errors);
        }
        assert_eq!(parse_record("v=STSv1; id=a; id=b").id.as_deref(), Some("a"));
        assert_eq!(parse_record("v=STSv1; id=a-b").id, None);
    }
}
