//! DMARC record selection, parsing and findings.

use super::*;

fn txt(records: &[&[u8]]) -> Vec<TxtRecord> {
    records.iter().map(|r| r.to_vec()).collect()
}

#[test]
fn selection_by_version_tag() {
    assert!(is_dmarc_record(b"v=DMARC1; p=none"));
    assert!(is_dmarc_record(b"v = DMARC1 ;p=none"));
    assert!(is_dmarc_record(b"v=DMARC1"));
    assert!(is_dmarc_record(b" V=DMARC1;p=none"), "ABNF \"v\" is case-insensitive; FWS may lead");
    assert!(!is_dmarc_record(b"v=dmarc1; p=none"), "DMARC1 is case-sensitive");
    assert!(!is_dmarc_record(b"v=DMARC10; p=none"));
    assert!(!is_dmarc_record(b"p=none; v=DMARC1"));
    assert!(!is_dmarc_record(b"v=spf1 -all"));
    assert!(!is_dmarc_record(b""));
    assert!(!is_dmarc_record(b"   "));
    assert_eq!(select(&txt(&[b"v=spf1 -all", b"google-site-verification=x"])), Selection::None);
    assert_eq!(
        select(&txt(&[b"v=spf1 -all", b"v=DMARC1; p=reject"])),
        Selection::One("v=DMARC1; p=reject".into())
    );
    assert_eq!(select(&txt(&[b"v=DMARC1; p=reject", b"v=DMARC1; p=none"])), Selection::Several(2));
}

#[test]
fn rfc_7489_example_records() {
    // RFC 7489 Appendix B.2.1 and B.2.3.
    let r = parse("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com");
    assert_eq!(r.status, DmarcStatus::Ok);
    assert_eq!(r.p, Some(Policy::None));
    assert_eq!(r.rua, ["mailto:dmarc-feedback@example.com"]);
    assert!(r.errors.is_empty());
    assert_eq!(r.findings(), ["dmarc_policy_none"]);

    let r = parse(
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com; \
         ruf=mailto:auth-reports@thirdparty.example.net; pct=25",
    );
    assert_eq!((r.p, r.pct), (Some(Policy::Quarantine), Some(25)));
    assert_eq!(r.ruf, ["mailto:auth-reports@thirdparty.example.net"]);
    assert_eq!(r.findings(), ["dmarc_partial_pct", "dmarc_retired_tag"]);
}

#[test]
fn every_tag_read() {
    let r = parse(
        "v=DMARC1;p=Reject;sp=quarantine;np=REJECT;adkim=s;aspf=r;t=y;psd=n;fo=0:d;\
         rua=mailto:a@example.com!10m , https://r.example.com/x;ruf=mailto:f@example.com;xnew=what ever",
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.status, DmarcStatus::Ok);
    assert_eq!((r.p, r.sp, r.np), (Some(Policy::Reject), Some(Policy::Quarantine), Some(Policy::Reject)));
    assert_eq!((r.adkim, r.aspf), (Some(Alignment::Strict), Some(Alignment::Relaxed)));
    assert_eq!((r.t, r.psd, r.pct), (Some(true), Some(Psd::No), None));
    assert_eq!(r.rua, ["mailto:a@example.com!10m", "https://r.example.com/x"]);
    assert!(r.findings().is_empty());
    assert_eq!(Policy::Reject.as_str(), "reject");
}

#[test]
fn errors_name_the_tag() {
    let cases: &[(&str, &str)] = &[
        ("v=DMARC1; p=rejected", "p: not none, quarantine or reject"),
        ("v=DMARC1; p=", "p: not none, quarantine or reject"),
        ("v=DMARC1; sp=all", "sp: not none, quarantine or reject"),
        ("v=DMARC1; p=none; np=x", "np: not none, quarantine or reject"),
        ("v=DMARC1; p=none; adkim=x", "adkim: not r or s"),
        ("v=DMARC1; p=none; aspf=relaxed", "aspf: not r or s"),
        ("v=DMARC1; p=none; pct=101", "pct: not an integer 0-100"),
        ("v=DMARC1; p=none; pct=0100", "pct: not an integer 0-100"),
        ("v=DMARC1; p=none; pct=-1", "pct: not an integer 0-100"),
        ("v=DMARC1; p=none; t=yes", "t: not y or n"),
        ("v=DMARC1; p=none; psd=x", "psd: not y, n or u"),
        ("v=DMARC1; p=none; fo=2", "fo: not a ':'-list of 0, 1, d, s"),
        ("v=DMARC1; p=none; fo=", "fo: not a ':'-list of 0, 1, d, s"),
        ("v=DMARC1; p=none; rua=reports@example.com", "rua: bad URI"),
        ("v=DMARC1; p=none; rua=mailto:a@example.com,", "rua: empty URI in the list"),
        ("v=DMARC1; p=none; ruf=mailto:a@example.com!10x", "ruf: bad size suffix"),
        ("v=DMARC1; p=none; rua=mailto:a@example.com!", "rua: bad size suffix"),
        ("v=DMARC1; p=none; rua=mailto:a b@example.com", "rua: bad URI"),
        ("v=DMARC1; p=none; p=reject", "p: duplicated (first kept)"),
        ("v=DMARC1; p=none; junk", "malformed tag"),
        ("v=DMARC1;; p=none", "empty tag between ';'"),
        ("v=DMARC1; p=none; v=DMARC1", "v: duplicated (first kept)"),
        ("v=DMARC1; p=none; x-y=z", "malformed tag"),
        ("p=none; v=DMARC1", "v: must be the first tag"),
        ("v=DMARC2; p=none", "v: must be DMARC1"),
        ("v=DMARC1", "p: missing"),
        ("v=DMARC1; rua=mailto:a@example.com", "p: missing"),
    ];
    for (record, error) in cases {
        let r = parse(record);
        assert!(r.errors.iter().any(|e| e == error), "{record}: {:?}", r.errors);
        assert_eq!(r.status, DmarcStatus::Invalid, "{record}");
        assert!(r.findings().contains(&"dmarc_syntax_error"), "{record}");
    }
    // The first value of a duplicated tag is kept.
    assert_eq!(parse("v=DMARC1; p=none; p=reject").p, Some(Policy::None));
    // A bad value leaves its column null.
    assert_eq!(parse("v=DMARC1; p=none; pct=101").pct, None);
    assert!(parse("v=DMARC1; p=none; rua=mailto:a@x.example,bad").rua.is_empty());
}

#[test]
fn unknown_and_retired_tags_are_not_errors() {
    let r = parse("v=DMARC1; p=reject; rf=afrf; ri=86400; foo=bar; pct=100");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.pct, Some(100));
    assert_eq!(r.findings(), ["dmarc_retired_tag"]);
    // rf and ri are not checked: RFC 9989 made them unknown tags.
    assert!(parse("v=DMARC1; p=reject; ri=soon").errors.is_empty());
}

#[test]
fn effective_policy_rules() {
    // RFC 7489 §6.6.3 step 6: a bad p with a valid rua acts as p=none.
    let r = parse("v=DMARC1; p=bogus; rua=mailto:a@example.com");
    assert_eq!((r.p, r.effective_policy()), (None, Some(Policy::None)));
    assert!(r.findings().contains(&"dmarc_policy_none"));
    // A bad p without a usable rua: no DMARC processing.
    assert_eq!(parse("v=DMARC1; p=bogus").effective_policy(), None);
    // RFC 9989: a missing p reads as none (the error stays, for RFC 7489).
    let r = parse("v=DMARC1; sp=reject");
    assert_eq!(r.effective_policy(), Some(Policy::None));
    assert!(r.errors.contains(&"p: missing".to_string()));
    assert_eq!(parse("v=DMARC1; p=reject").effective_policy(), Some(Policy::Reject));
    assert_eq!(DmarcReport::empty(DmarcStatus::None).effective_policy(), None);
}

#[test]
fn non_utf8_octets_fail_their_tag() {
    let record = tags::text(b"v=DMARC1; p=rej\xffect; rua=mailto:a@example.com").into_owned();
    let r = parse(&record);
    assert_eq!(r.p, None);
    assert_eq!(r.errors, ["p: not none, quarantine or reject"]);
    assert!(r.record.unwrap().contains('\u{fffd}'));
}

#[test]
fn policy_domain_from_found_at() {
    let mut r = parse("v=DMARC1; p=none");
    assert_eq!(r.policy_domain(), None);
    r.found_at = Some("_dmarc.example.com".into());
    assert_eq!(r.policy_domain(), Some("example.com"));
}
