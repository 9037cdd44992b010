//! Report destinations outside the organisation (RFC 7489 §7.1): when the
//! organisational domain of a `rua` URI's host differs from that of the
//! domain the record was published for, the receiver of the reports must
//! agree by publishing a TXT record starting `v=DMARC1` at
//! `<policy domain>._report._dmarc.<host>` (a wildcard
//! `*._report._dmarc.<host>` serves too; the resolver expands it).
//! Without it receivers send no reports there (`dmarc_rua_unauthorized`).
//!
//! The host of a `mailto:` URI is its address's domain; of an `https:` URI
//! its authority's host (§7.1 step 1 speaks of "the host portion of the
//! authority component").

use super::{DmarcReport, is_dmarc_record};
use crate::policy::tags::{TxtRecord, report_uri};

/// The name where `host` authorises reports about `policy_domain`
/// (§7.1 steps 2–3).
pub fn authorization_name(policy_domain: &str, host: &str) -> String {
    format!("{policy_domain}._report._dmarc.{host}")
}

/// The `rua` URIs of `report` that need an authorisation record, each
/// with the name to ask (TXT). Several URIs may share a name: ask it once.
pub fn authorization_queries(report: &DmarcReport) -> Vec<(String, String)> {
    let Some(policy_domain) = report.policy_domain() else { return Vec::new() };
    let own_org = org(policy_domain);
    report
        .rua
        .iter()
        .filter_map(|published| {
            let uri = published.split('!').next().unwrap_or_default();
            let host = report_uri(uri).ok()?.host?;
            (org(&host) != own_org).then(|| (published.clone(), authorization_name(policy_domain, &host)))
        })
        .collect()
}

/// The `rua_unauthorized` column: the URIs of [`authorization_queries`]
/// whose name answered without any `v=DMARC1` record (§7.1 steps 5–6).
/// `answers` holds (name, TXT answer); a failed lookup (`None`) or a name
/// not in `answers` leaves its URI out: unknown is not unauthorised.
pub fn rua_unauthorized(report: &DmarcReport, answers: &[(String, Option<Vec<TxtRecord>>)]) -> Vec<String> {
    authorization_queries(report)
        .into_iter()
        .filter(|(_, name)| {
            let answer = answers.iter().find(|(asked, _)| asked.eq_ignore_ascii_case(name));
            matches!(answer, Some((_, Some(records))) if !records.iter().any(|r| is_dmarc_record(r)))
        })
        .map(|(uri, _)| uri)
        .collect()
}

/// The organisational domain by the public suffix list, or the name
/// itself when it has none (a public suffix, an odd name).
fn org(name: &str) -> &str {
    psl::domain_str(name).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::dmarc::parse;

    fn report(record: &str, found_at: &str) -> DmarcReport {
        let mut r = parse(record);
        r.found_at = Some(found_at.into());
        r
    }

    #[test]
    fn rfc_example_blue_red() {
        // RFC 7489 §7.1: blue.example.com sending reports to red.example.net.
        let r = report("v=DMARC1; p=none; rua=mailto:reports@red.example.net", "_dmarc.blue.example.com");
        assert_eq!(
            authorization_queries(&r),
            [(
                "mailto:reports@red.example.net".to_string(),
                "blue.example.com._report._dmarc.red.example.net".to_string()
            )]
        );
    }

    #[test]
    fn same_organisation_needs_nothing() {
        let r = report(
            "v=DMARC1; p=none; rua=mailto:d@reports.example.com,https://example.com/r",
            "_dmarc.mail.example.com",
        );
        assert!(authorization_queries(&r).is_empty());
        assert!(authorization_queries(&parse("v=DMARC1; p=none; rua=mailto:a@other.example")).is_empty());
    }

    #[test]
    fn unauthorized_only_when_answered_without_record() {
        let r = report(
            "v=DMARC1; p=reject; rua=mailto:a@vendor.example!10m,mailto:b@other.example,https://rpt.third.example/x",
            "_dmarc.example.com",
        );
        let queries = authorization_queries(&r);
        assert_eq!(queries.len(), 3);
        assert_eq!(queries[0].1, "example.com._report._dmarc.vendor.example");
        let answers = vec![
            ("example.com._report._dmarc.vendor.example".to_string(), Some(vec![b"v=DMARC1".to_vec()])),
            ("example.com._report._dmarc.other.example".to_string(), Some(vec![b"v=spf1 -all".to_vec()])),
            ("example.com._report._dmarc.rpt.third.example".to_string(), None),
        ];
        assert_eq!(rua_unauthorized(&r, &answers), ["mailto:b@other.example"]);
        let mut r = r;
        r.rua_unauthorized = rua_unauthorized(&r, &answers);
        assert!(r.findings().contains(&"dmarc_rua_unauthorized"));
        let empty = vec![("example.com._report._dmarc.vendor.example".to_string(), Some(Vec::new()))];
        assert_eq!(rua_unauthorized(&r, &empty), ["mailto:a@vendor.example!10m"]);
    }
}
