//! The `mta_sts` column through its three steps.

use super::*;

const NOW: i64 = 1_780_000_000_000;
const POLICY: &[u8] =
    b"version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.backup.example.com\nmax_age: 86400\n";

fn txt(records: &[&str]) -> Vec<TxtRecord> {
    records.iter().map(|r| r.as_bytes().to_vec()).collect()
}

fn mx(list: &[(&str, u8)]) -> Vec<(String, u8)> {
    list.iter().map(|(h, t)| (h.to_string(), *t)).collect()
}

fn fetched(body: &[u8], days: i64) -> Fetch<'_> {
    Fetch::Body { body, cert_not_after_ms: Some(NOW + days * DAY_MS + 1) }
}

#[test]
fn txt_step() {
    assert_eq!(MtaStsReport::from_txt(None).status, MtaStsStatus::TempError);
    assert_eq!(MtaStsReport::from_txt(Some(&[])).status, MtaStsStatus::None);
    assert_eq!(MtaStsReport::from_txt(Some(&txt(&["v=spf1 -all"]))).status, MtaStsStatus::None);
    let several = MtaStsReport::from_txt(Some(&txt(&["v=STSv1; id=1", "v=STSv1; id=2"])));
    assert_eq!((several.status, several.record.as_deref()), (MtaStsStatus::RecordInvalid, None));
    assert_eq!(several.findings(), ["mta_sts_record_invalid"]);
    let bad = MtaStsReport::from_txt(Some(&txt(&["v=STSv1; id=a.b"])));
    assert_eq!((bad.status, bad.id.as_deref()), (MtaStsStatus::RecordInvalid, None));
    assert!(!bad.needs_fetch());
    let ok = MtaStsReport::from_txt(Some(&txt(&["v=STSv1; id=20160831085700Z;"])));
    assert_eq!((ok.status, ok.id.as_deref()), (MtaStsStatus::Ok, Some("20160831085700Z")));
    assert!(ok.needs_fetch());
    assert_eq!(record_name("example.com"), "_mta-sts.example.com");
    assert_eq!(policy_url("example.com"), "https://mta-sts.example.com/.well-known/mta-sts.txt");
}

#[test]
fn full_run_enforce() {
    let set = mx(&[("mx1.example.com", 1), ("a.backup.example.com", 2), ("b.a.backup.example.com", 2)]);
    let r = MtaStsReport::from_txt(Some(&txt(&["v=STSv1; id=1"])))
        .with_fetch(fetched(POLICY, 30), NOW)
        .with_mx(&set);
    assert_eq!(r.status, MtaStsStatus::Ok);
    assert_eq!((r.mode, r.max_age), (Some(Mode::Enforce), Some(86_400)));
    assert_eq!(r.mx_uncovered, ["b.a.backup.example.com"]);
    assert!(r.patterns_unused.is_empty());
    assert_eq!(r.mx_coverage, Some(2.0 / 3.0));
    assert_eq!(r.cert_days_left, Some(30));
    assert_eq!(r.findings(), ["mta_sts_mx_uncovered"]);
    assert_eq!(r.mx_uncovered_severity(&set), Some(Severity::Warning));
    let tier1 = mx(&[("mx9.example.com", 1)]);
    assert_eq!(r.clone().with_mx(&tier1).mx_uncovered_severity(&tier1), Some(Severity::Error));
    // A second fetch outcome is ignored.
    let again = r.clone().with_fetch(Fetch::Failed { error: "timeout", cert_not_after_ms: None }, NOW);
    assert_eq!(again, r);
}

#[test]
fn testing_mode_expiring_cert_and_unused_pattern() {
    let body = b"version: STSv1\nmode: testing\nmx: mx1.example.com\nmx: old.example.com\nmax_age: 86400\n";
    let r = MtaStsReport::from_txt(Some(&txt(&["v=STSv1; id=1"])))
        .with_fetch(fetched(body, 3), NOW)
        .with_mx(&mx(&[("mx1.example.com", 1)]));
    assert_eq!(r.patterns_unused, ["old.example.com"]);
    assert_eq!(r.findings(), ["mta_sts_pattern_unused", "mta_sts_cert_expiring", "mta_sts_testing"]);
}

#[test]
fn fetch_failure_and_invalid_policy() {
    let r = MtaStsReport::from_txt(Some(&txt(&["v=STSv1; id=1"])))
        .with_fetch(Fetch::Failed { error: "HTTP 404", cert_not_after_ms: Some(NOW - 1) }, NOW)
        .with_mx(&mx(&[("mx1.example.com", 1)]));
    assert_eq!((r.status, r.fetch_error.as_deref()), (MtaStsStatus::FetchFailed, Some("HTTP 404")));
    assert_eq!(r.cert_days_left, Some(-1));
    assert_eq!(r.mx_coverage, None, "no policy, no coverage");
    assert_eq!(r.findings(), ["mta_sts_policy_unavailable", "mta_sts_cert_expiring"]);

    let r = MtaStsReport::from_txt(Some(&txt(&["v=STSv1; id=1"])))
        .with_fetch(fetched(b"version: STSv1\nmode: enforce\nmax_age: 1\n", 100), NOW)
        .with_mx(&mx(&[("mx1.example.com", 1)]));
    assert_eq!((r.status, r.mode), (MtaStsStatus::PolicyInvalid, Some(Mode::Enforce)));
    assert!(r.mx_uncovered.is_empty());
    assert_eq!(r.findings(), ["mta_sts_policy_invalid"]);
    assert_eq!(r.mx_uncovered_severity(&mx(&[("mx1.example.com", 1)])), None);
}

#[test]
fn mode_none_is_not_checked_for_coverage_findings() {
    let r = MtaStsReport::from_txt(Some(&txt(&["v=STSv1; id=1"])))
        .with_fetch(fetched(b"version: STSv1\nmode: none\nmax_age: 1\n", 100), NOW)
        .with_mx(&mx(&[("mx1.example.com", 1)]));
    assert_eq!(r.mx_uncovered, ["mx1.example.com"]);
    assert!(r.findings().is_empty());
}

#[test]
fn days() {
    assert_eq!(days_left(NOW, NOW), 0);
    assert_eq!(days_left(NOW + DAY_MS - 1, NOW), 0);
    assert_eq!(days_left(NOW - 1, NOW), -1);
    assert_eq!(days_left(i64::MAX, i64::MIN), i32::MAX);
    assert_eq!(days_left(i64::MIN, i64::MAX), i32::MIN);
    assert!(cert_expiring(13) && cert_expiring(-5) && !cert_expiring(14));
}
