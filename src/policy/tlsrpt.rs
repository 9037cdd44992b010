//! SMTP TLS Reporting (RFC 8460 §3): the `_smtp._tls` TXT record.
//!
//! ```text
//! tlsrpt-record    = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
//! field-delim      = *WSP ";" *WSP
//! tlsrpt-field     = tlsrpt-rua / tlsrpt-extension   ; rua is required
//! tlsrpt-version   = %s"v=TLSRPTv1"
//! tlsrpt-rua       = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
//! tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value
//! ```
//!
//! Records not beginning with `v=TLSRPTv1` are discarded; if not exactly
//! one remains the domain does not implement TLS-RPT (several: `invalid`
//! here, so that it shows). The `rua` URIs must be `mailto:` or `https:`
//! ("Two URI schemes are supported"); anything else is invalid
//! (`tlsrpt_invalid`).

use crate::policy::mta_sts::{MtaStsReport, MtaStsStatus};
use crate::policy::tags::{
    self, Selection, TxtRecord, is_ext_name, is_ext_value, keywords, report_uri, starts_with_version,
    version_fields,
};

const VERSION: &str = "v=TLSRPTv1";

keywords! {
    /// Status of the `tlsrpt` column.
    TlsRptStatus {
        /// No `v=TLSRPTv1` record.
        None = "none",
        /// One valid record.
        Ok = "ok",
        /// Malformed, several records, or a bad `rua`.
        Invalid = "invalid",
        /// A DNS failure on the lookup.
        TempError = "temperror",
    }
}

/// The `tlsrpt` column (output contract, "policy stage").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRptReport {
    /// See [`TlsRptStatus`].
    pub status: TlsRptStatus,
    /// The record.
    pub record: Option<String>,
    /// The valid `rua` URIs, in order.
    pub rua: Vec<String>,
    /// Short messages naming the field.
    pub errors: Vec<String>,
}

/// The TXT name for `domain` (RFC 8460 §3).
pub fn record_name(domain: &str) -> String {
    format!("_smtp._tls.{domain}")
}

/// The TLS-RPT record among the TXT records at `_smtp._tls.<domain>`.
pub fn select(txt: &[TxtRecord]) -> Selection {
    tags::select(txt, |r| starts_with_version(r, VERSION.as_bytes()))
}

impl TlsRptReport {
    fn empty(status: TlsRptStatus) -> Self {
        Self { status, record: None, rua: Vec::new(), errors: Vec::new() }
    }

    /// The column from the TXT answer (`None`: the lookup failed).
    pub fn from_txt(answer: Option<&[TxtRecord]>) -> Self {
        let Some(txt) = answer else { return Self::empty(TlsRptStatus::TempError) };
        match select(txt) {
            Selection::None => Self::empty(TlsRptStatus::None),
            Selection::One(record) => parse(&record),
            Selection::Several(_) => Self {
                errors: vec!["several v=TLSRPTv1 records".into()],
                ..Self::empty(TlsRptStatus::Invalid)
            },
        }
    }

    /// The finding codes: `tlsrpt_invalid`.
    pub fn findings(&self) -> Vec<&'static str> {
        if self.status == TlsRptStatus::Invalid { vec!["tlsrpt_invalid"] } else { Vec::new() }
    }
}

/// Parses a TLS-RPT record.
pub fn parse(record: &str) -> TlsRptReport {
    let mut report =
        TlsRptReport { record: Some(record.to_string()), ..TlsRptReport::empty(TlsRptStatus::Ok) };
    let (version_ok, fields) = version_fields(record, VERSION);
    if !version_ok {
        report.errors.push("v: must come first and be TLSRPTv1".into());
    }
    let mut saw_rua = false;
    for field in fields {
        match field.split_once('=') {
            _ if field.is_empty() => report.errors.push("empty field between ';'".into()),
            Some(("rua", _)) if saw_rua => report.errors.push("rua: duplicated".into()),
            Some(("rua", list)) => {
                saw_rua = true;
                match rua_list(list) {
                    Ok(uris) => report.rua = uris,
                    Err(what) => report.errors.push(format!("rua: {what}")),
                }
            }
            Some((name, value)) if is_ext_name(name) && is_ext_value(value) => {}
            _ => report.errors.push("malformed field".into()),
        }
    }
    if !saw_rua {
        report.errors.push("rua: missing".into());
    }
    if !report.errors.is_empty() {
        report.status = TlsRptStatus::Invalid;
    }
    report
}

/// `tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)`, each `mailto:` or `https:`.
fn rua_list(list: &str) -> Result<Vec<String>, &'static str> {
    list.split(',')
        .map(|uri| {
            let uri = uri.trim_matches([' ', '\t']);
            let parsed = report_uri(uri).map_err(|_| "bad URI")?;
            match parsed.scheme.as_str() {
                "mailto" | "https" => Ok(uri.to_string()),
                _ => Err("not a mailto: or https: URI"),
            }
        })
        .collect()
}

/// `mta_sts_without_tlsrpt`: an MTA-STS record is published but no valid
/// TLS-RPT record, so delivery failures go unreported (RFC 8460 §3).
/// Unknown (a failed lookup on either side) is not reported.
pub fn mta_sts_without_tlsrpt(mta_sts: &MtaStsReport, tlsrpt: &TlsRptReport) -> bool {
    let has_mta_sts = !matches!(mta_sts.status, MtaStsStatus::None | MtaStsStatus::TempError);
    has_mta_sts && matches!(tlsrpt.status, TlsRptStatus::None | TlsRptStatus::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(records: &[&str]) -> Vec<TxtRecord> {
        records.iter().map(|r| r.as_bytes().to_vec()).collect()
    }

    #[test]
    fn rfc_examples() {
        // RFC 8460 §3.1.1 and §3.1.2.
        let r = parse("v=TLSRPTv1;rua=mailto:reports@example.com");
        assert_eq!(
            (r.status, r.rua.as_slice()),
            (TlsRptStatus::Ok, &["mailto:reports@example.com".to_string()][..])
        );
        let r = parse("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt");
        assert_eq!(r.rua, ["https://reporting.example.com/v1/tlsrpt"]);
        assert!(r.errors.is_empty() && r.findings().is_empty());
        let r = parse("v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.net/x; ext=1;");
        assert_eq!((r.status, r.rua.len()), (TlsRptStatus::Ok, 2));
    }

    #[test]
    fn selection_and_status() {
        assert_eq!(TlsRptReport::from_txt(None).status, TlsRptStatus::TempError);
        assert_eq!(
            TlsRptReport::from_txt(Some(&txt(&["v=spf1 -all", "v=TLSRPTv10;rua=mailto:a@b.example"]))).status,
            TlsRptStatus::None
        );
        let several = TlsRptReport::from_txt(Some(&txt(&[
            "v=TLSRPTv1;rua=mailto:a@example.com",
            "v=TLSRPTv1;rua=mailto:b@example.com",
        ])));
        assert_eq!((several.status, several.findings()), (TlsRptStatus::Invalid, vec!["tlsrpt_invalid"]));
        let one = TlsRptReport::from_txt(Some(&txt(&["v=TLSRPTv1;rua=mailto:a@example.com", "other"])));
        assert_eq!(one.status, TlsRptStatus::Ok);
        assert_eq!(record_name("example.com"), "_smtp._tls.example.com");
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str)] = &[
            ("v=TLSRPTv1", "rua: missing"),
            ("v=TLSRPTv1; ext=1", "rua: missing"),
            ("v=TLSRPTv1; RUA=mailto:a@example.com", "rua: missing"),
            ("v=TLSRPTv1; rua=http://r.example.com/x", "rua: not a mailto: or https: URI"),
            ("v=TLSRPTv1; rua=mailto:a@example.com,", "rua: bad URI"),
            ("v=TLSRPTv1; rua=reports@example.com", "rua: bad URI"),
            ("v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", "rua: duplicated"),
            ("v=TLSRPTv1; rua = mailto:a@example.com", "malformed field"),
            ("v=TLSRPTv1;; rua=mailto:a@example.com", "empty field between ';'"),
            ("v=TLSRPTv2; rua=mailto:a@example.com", "v: must come first and be TLSRPTv1"),
        ];
        for (record, error) in cases {
            let r = parse(record);
            assert!(r.errors.iter().any(|e| e == error), "{record}: {:?}", r.errors);
            assert_eq!(r.findings(), ["tlsrpt_invalid"], "{record}");
        }
    }

    #[test]
    fn without_tlsrpt() {
        let sts = MtaStsReport::from_txt(Some(&txt(&["v=STSv1; id=1"])));
        let none = TlsRptReport::from_txt(Some(&[]));
        let ok = TlsRptReport::from_txt(Some(&txt(&["v=TLSRPTv1;rua=mailto:a@example.com"])));
        assert!(mta_sts_without_tlsrpt(&sts, &none));
        assert!(!mta_sts_without_tlsrpt(&sts, &ok));
        assert!(!mta_sts_without_tlsrpt(&sts, &TlsRptReport::from_txt(None)));
        assert!(!mta_sts_without_tlsrpt(&MtaStsReport::from_txt(Some(&[])), &none));
    }
}
