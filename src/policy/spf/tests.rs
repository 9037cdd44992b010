//! Unit tests: the RFC's records, every syntax error kind with its
//! position, selection, and the audit's counting.

use std::collections::HashMap;

use super::*;

/// Every record RFC 7208 shows (§3–§9, Appendix A, D, E), each parses and
/// prints back as written (modulo `+` and case).
#[test]
fn rfc_records_parse() {
    for text in [
        "v=spf1",
        "v=spf1 +all",
        "v=spf1 -all",
        "v=spf1 a -all",
        "v=spf1 a mx -all",
        "v=spf1 a:example.org -all",
        "v=spf1 a:A.EXAMPLE.COM -all",
        "v=spf1 a:authorized-spf.example.com -all",
        "v=spf1 mx",
        "v=spf1 mx -all",
        "v=spf1 +mx -all",
        "v=spf1 mx:example.org -all",
        "v=spf1 mx mx:example.org -all",
        "v=spf1 mx/30 mx:example.org/30 -all",
        "v=spf1 +mx a:colo.example.com/28 -all",
        "v=spf1 ptr -all",
        "v=spf1 -ptr +all",
        "v=spf1 ip4:192.0.2.128/28 -all",
        "v=spf1 ip4:192.0.2.1 ip4:192.0.2.129 -all",
        "v=spf1 -ip4:192.0.2.0/24 +all",
        "v=spf1 ip4:192.0.2.0/24 mx -all",
        "v=spf1 include:example.com include:example.org -all",
        "v=spf1 redirect=_spf.example.com",
        "v=spf1 +mx redirect=_spf.example.com",
        "v=spf1 mx redirect=%{l1r+}._at_.%{o}._spf.%{d}",
        "v=spf1 mx -all exp=explain._spf.%{d}",
        "v=spf1 mx ?exists:%{ir}.whitelist.example.org -all",
        "v=spf1 mx exists:%{l}._spf_verify.%{d} -all",
        "v=spf1 mx exists:%{ir}._spf_rate.%{d} -all",
        "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
        "v=spf1 exists:%{l1r+}.%{d}",
        "v=spf1 exists:_h.%{h}._l.%{l}._o.%{o}._i.%{i}._spf.%{d} ?all",
        "v=spf1 ip6:2001:db8::/32 a//64 a/24//64 -all",
        "v=spf1 moo.cow-far_out=man:dog/cat ip4:192.0.2.1 -all",
    ] {
        let record = Record::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let printed = record.to_string();
        let again = Record::parse(&printed).unwrap();
        let kinds = |r: &Record| r.terms.iter().map(|t| t.kind.clone()).collect::<Vec<_>>();
        assert_eq!(kinds(&again), kinds(&record), "{text}");
        assert_eq!(printed.to_lowercase(), text.to_lowercase().replace(" +", " "), "{text}");
    }
}

#[test]
fn parsed_structure() {
    let record = Record::parse(
        "V=SPF1 -ip4:192.0.2.0/24 ~A:mail.example.com/24//64 ?mx include:x.example redirect=r.example",
    )
    .unwrap();
    let kinds: Vec<_> = record.terms.iter().map(|t| (t.pos, t.kind.to_string())).collect();
    assert_eq!(
        kinds,
        [
            (7, "-ip4:192.0.2.0/24".to_string()),
            (25, "~a:mail.example.com/24//64".to_string()),
            (52, "?mx".to_string()),
            (56, "include:x.example".to_string()),
            (74, "redirect=r.example".to_string()),
        ]
    );
    let Some((Qualifier::SoftFail, Mechanism::A(Some(domain), cidr))) = record.directives().nth(1) else {
        panic!("{record:?}")
    };
    assert_eq!(domain.constant().as_deref(), Some("mail.example.com"));
    assert_eq!(*cidr, DualCidr { v4: Some(24), v6: Some(64) });
    assert_eq!(record.redirect().and_then(MacroString::constant).as_deref(), Some("r.example"));
}

/// Every error kind, with the term and its byte offset.
#[test]
fn syntax_errors_name_term_and_position() {
    for (text, want) in [
        ("v=spf1 a mx ip4:1.2.3.4/33", "ip4:1.2.3.4/33 at 12: CIDR length out of range"),
        ("v=spf1 ip6:::1/129", "ip6:::1/129 at 7: CIDR length out of range"),
        ("v=spf1 a/33", "a/33 at 7: CIDR length out of range"),
        ("v=spf1 mx//129", "mx//129 at 7: CIDR length out of range"),
        ("v=spf1 ip4:1.2.3.4/024", "ip4:1.2.3.4/024 at 7: invalid CIDR length"),
        ("v=spf1 ip4:1.2.3.4/", "ip4:1.2.3.4/ at 7: invalid CIDR length"),
        ("v=spf1 a/024", "a/024 at 7: invalid CIDR length"),
        ("v=spf1 -all foo", "foo at 12: unknown mechanism"),
        ("v=spf1 -all:x", "-all:x at 7: unexpected argument"),
        ("v=spf1 ptr/24", "ptr/24 at 7: unexpected argument"),
        ("v=spf1 ax", "ax at 7: unknown mechanism"),
        ("v=spf1 include", "include at 7: missing domain-spec"),
        ("v=spf1 include:", "include: at 7: missing domain-spec"),
        ("v=spf1 exists", "exists at 7: missing domain-spec"),
        ("v=spf1 a:", "a: at 7: missing domain-spec"),
        ("v=spf1 redirect=", "redirect= at 7: missing domain-spec"),
        ("v=spf1 a:museum", "a:museum at 7: domain-spec must end in a top label or a macro"),
        ("v=spf1 a:1.2.3.4", "a:1.2.3.4 at 7: domain-spec must end in a top label or a macro"),
        (
            "v=spf1 include:example.com-",
            "include:example.com- at 7: domain-spec must end in a top label or a macro",
        ),
        ("v=spf1 exists:%(ir).sbl.example.org", "exists:%(ir).sbl.example.org at 7: invalid macro"),
        ("v=spf1 exists:%{x}.example.org", "exists:%{x}.example.org at 7: invalid macro"),
        ("v=spf1 exists:%{c}.example.org", "exists:%{c}.example.org at 7: invalid macro"),
        ("v=spf1 exists:%{d0}.example.org", "exists:%{d0}.example.org at 7: invalid macro"),
        ("v=spf1 foo=%", "foo=% at 7: invalid macro"),
        ("v=spf1 a:ex\u{e9}.com", "a:ex\u{e9}.com at 7: invalid character"),
        ("v=spf1 a:example.com\rptr", "a:example.com\rptr at 7: invalid character"),
        ("v=spf1 ip4:1.2.3", "ip4:1.2.3 at 7: invalid ip4 address"),
        ("v=spf1 ip4:01.2.3.4", "ip4:01.2.3.4 at 7: invalid ip4 address"),
        ("v=spf1 ip4:256.2.3.4", "ip4:256.2.3.4 at 7: invalid ip4 address"),
        ("v=spf1 ip4:", "ip4: at 7: missing domain-spec"),
        ("v=spf1 ip6:1.2.3.4", "ip6:1.2.3.4 at 7: invalid ip6 address"),
        ("v=spf1 ip6:::1//64", "ip6:::1//64 at 7: invalid CIDR length"),
        ("v=spf1 1x=y", "1x=y at 7: invalid modifier name"),
        ("v=spf1 -redirect=x.example", "-redirect=x.example at 7: qualifier on a modifier"),
        ("v=spf1 redirect=a.example redirect=b.example", "redirect=b.example at 26: duplicate redirect"),
        ("v=spf1 exp=a.example  EXP=b.example", "EXP=b.example at 22: duplicate exp"),
    ] {
        let error = Record::parse(text).expect_err(text);
        assert_eq!(error.to_string(), want, "{text:?}");
    }
}

#[test]
fn long_terms_are_shortened_in_messages() {
    let text = format!("v=spf1 a:{}.-", "x".repeat(300));
    let error = Record::parse(&text).unwrap_err();
    assert!(error.term.len() < 70 && error.term.ends_with("..."), "{error}");
    assert_eq!(error.pos, 7);
}

#[test]
fn whitespace_between_terms() {
    // 1*SP between terms and *SP at the end (§4.6.1); nothing else separates.
    let record = Record::parse("v=spf1  a   -all  ").unwrap();
    assert_eq!(record.terms.iter().map(|t| t.pos).collect::<Vec<_>>(), [8, 12]);
    assert!(Record::parse("v=spf1 a\t-all").is_err());
}

#[test]
fn selection() {
    assert_eq!(select_record::<&[u8]>(&[]), Selection::None);
    assert_eq!(select_record(&[b"v=spf10".as_slice(), b"google-site-verification=x"]), Selection::None);
    assert_eq!(select_record(&[b"v=spf1mx".as_slice()]), Selection::None);
    assert_eq!(select_record(&[b"spam".as_slice(), b"V=SpF1 -all"]), Selection::One("V=SpF1 -all".into()));
    assert_eq!(select_record(&[b"v=spf1".as_slice()]), Selection::One("v=spf1".into()));
    assert_eq!(select_record(&[b"v=spf1 -all".as_slice(), b"v=spf1 -all"]), Selection::Multiple(2));
}

/// A map of answers; a name missing from it is NXDOMAIN.
fn audit(domain: &str, zone: &[(&str, u16, &[&str])]) -> SpfAudit {
    let zone: HashMap<(String, u16), Vec<Vec<u8>>> = zone
        .iter()
        .map(|(name, qtype, rrs)| {
            ((name.to_string(), *qtype), rrs.iter().map(|r| r.as_bytes().to_vec()).collect())
        })
        .collect();
    let resolve = |name: &str, qtype: u16| match zone.get(&(name.to_string(), qtype)) {
        Some(rrs) if rrs == &[b"FAIL".to_vec()] => Answer::Failed,
        Some(rrs) => Answer::Records(rrs.clone()),
        None if zone.keys().any(|(n, _)| n == name) => Answer::NoData,
        None => Answer::NxDomain,
    };
    let mut audit = SpfAudit::new(domain, resolve(domain, qtype::TXT));
    while let Some(query) = audit.next_query() {
        let answer = resolve(&query.name, query.qtype);
        audit.answer(&query, answer);
    }
    assert!(audit.is_done());
    audit
}

#[test]
fn audit_of_a_plain_record() {
    let a = audit(
        "example.com",
        &[
            ("example.com", qtype::TXT, &["v=spf1 mx a:mail.example.com include:_spf.example.net ~all"]),
            ("example.com", qtype::MX, &["mail.example.com"]),
            ("mail.example.com", qtype::A, &["\x01\x02\x03\x04"]),
            ("_spf.example.net", qtype::TXT, &["v=spf1 ip4:192.0.2.0/24 -all"]),
        ],
    );
    let report = a.report();
    assert_eq!(report.status, SpfStatus::Ok);
    assert_eq!(report.record.as_deref(), Some("v=spf1 mx a:mail.example.com include:_spf.example.net ~all"));
    assert_eq!(report.all, Some('~'));
    assert_eq!((report.lookups, report.void_lookups), (3, 0));
    assert_eq!(report.includes, ["_spf.example.net"]);
    assert!(report.errors.is_empty());
    assert!(a.findings().codes().is_empty());
    assert!(a.authorizes_senders());
}

#[test]
fn audit_none_multiple_and_failure() {
    let none = audit("example.com", &[("example.com", qtype::TXT, &["google-site-verification=x"])]);
    assert_eq!(none.report().status, SpfStatus::None);
    assert_eq!(none.report().record, None);
    let multiple = audit("example.com", &[("example.com", qtype::TXT, &["v=spf1 -all", "v=spf1 +all"])]);
    assert_eq!(multiple.report().status, SpfStatus::PermError);
    assert_eq!(multiple.findings().codes(), ["spf_multiple_records"]);
    let failed = audit("example.com", &[("example.com", qtype::TXT, &["FAIL"])]);
    assert_eq!(failed.report().status, SpfStatus::TempError);
    assert_eq!(failed.findings().codes(), ["spf_temperror"]);
}

#[test]
fn audit_syntax_error() {
    let a = audit("example.com", &[("example.com", qtype::TXT, &["v=spf1 a mx ip4:1.2.3.4/33 -all"])]);
    let report = a.report();
    assert_eq!(report.status, SpfStatus::PermError);
    assert_eq!(report.errors, ["ip4:1.2.3.4/33 at 12: CIDR length out of range"]);
    assert_eq!(a.findings().codes(), ["spf_syntax_error"]);
    // The record is still reported, and nothing was looked up.
    assert_eq!(report.record.as_deref(), Some("v=spf1 a mx ip4:1.2.3.4/33 -all"));
    assert_eq!(report.lookups, 0);
}

#[test]
fn audit_counts_through_includes_and_stops_past_ten() {
    let a = audit(
        "example.com",
        &[
            ("example.com", qtype::TXT, &["v=spf1 include:one.example include:two.example -all"]),
            ("one.example", qtype::TXT, &["v=spf1 a:x.example a:x.example a:x.example a:x.example"]),
            ("two.example", qtype::TXT, &["v=spf1 exists:x.example exists:x.example include:three.example"]),
            ("three.example", qtype::TXT, &["v=spf1 a:x.example a:x.example"]),
            ("x.example", qtype::A, &["\x01\x02\x03\x04"]),
        ],
    );
    let report = a.report();
    // 1 + 4 + 1 + 2 + 1 + 2 = 11: the walk stops at the second `a` of three.
    assert_eq!(report.lookups, 11);
    assert_eq!(report.status, SpfStatus::PermError);
    assert_eq!(a.findings().codes(), ["spf_too_many_lookups"]);
    assert_eq!(report.errors, ["more than 10 DNS lookups (at three.example: a:x.example)"]);
    assert_eq!(report.includes, ["one.example", "two.example"]);
}

#[test]
fn audit_include_loop_terminates() {
    let a = audit(
        "example.com",
        &[
            ("example.com", qtype::TXT, &["v=spf1 include:loop.example -all"]),
            ("loop.example", qtype::TXT, &["v=spf1 include:example.com"]),
        ],
    );
    assert_eq!(a.report().lookups, 11);
    assert!(a.findings().too_many_lookups);
}

#[test]
fn audit_void_lookups() {
    let a = audit(
        "example.com",
        &[
            ("example.com", qtype::TXT, &["v=spf1 a:gone.example mx:gone2.example exists:x.example a -all"]),
            ("x.example", qtype::AAAA, &["\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"]),
        ],
    );
    let report = a.report();
    // gone, gone2: NXDOMAIN; x.example has no A (exists asks A only); the
    // domain's own `a` has no address of either family: four void.
    assert_eq!((report.lookups, report.void_lookups), (4, 4));
    assert_eq!(a.findings().codes(), ["spf_too_many_void_lookups"]);
    assert_eq!(report.errors, ["more than 2 void lookups (at exists:x.example)"]);
    // An `a` target with only AAAA is not void.
    let v6 = audit(
        "example.com",
        &[
            ("example.com", qtype::TXT, &["v=spf1 a:x.example -all"]),
            ("x.example", qtype::AAAA, &["\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"]),
        ],
    );
    assert_eq!(v6.report().void_lookups, 0);
}

#[test]
fn audit_missing_and_failing_targets() {
    let a = audit(
        "example.com",
        &[
            ("example.com", qtype::TXT, &["v=spf1 include:nospf.example include:broken.example -all"]),
            ("nospf.example", qtype::TXT, &["some other text"]),
            ("broken.example", qtype::TXT, &["FAIL"]),
        ],
    );
    let report = a.report();
    assert_eq!(report.status, SpfStatus::PermError);
    assert_eq!(a.findings().codes(), ["spf_include_missing", "spf_temperror"]);
    assert_eq!(
        report.errors,
        ["nospf.example: no SPF record (include target)", "broken.example: TXT lookup failed"]
    );
    let redirect = audit(
        "example.com",
        &[("example.com", qtype::TXT, &["v=spf1 redirect=gone.example"]), ("x", qtype::A, &[])],
    );
    assert_eq!(redirect.report().errors, ["gone.example: no SPF record (redirect target)"]);
    assert!(redirect.findings().include_missing);
    assert!(!redirect.findings().no_all);
}

#[test]
fn audit_errors_in_included_records() {
    let a = audit(
        "example.com",
        &[
            ("example.com", qtype::TXT, &["v=spf1 include:bad.example -all"]),
            ("bad.example", qtype::TXT, &["v=spf1 ip4:1.2.3.4/33"]),
        ],
    );
    assert_eq!(a.report().errors, ["bad.example: ip4:1.2.3.4/33 at 7: CIDR length out of range"]);
    assert_eq!(a.findings().codes(), ["spf_syntax_error"]);
}

#[test]
fn audit_redirect_ignored_with_all_and_followed_otherwise() {
    let with_all =
        audit("example.com", &[("example.com", qtype::TXT, &["v=spf1 -all redirect=other.example"])]);
    // §6.1: ignored, so the missing target is no error and not counted.
    assert_eq!(with_all.report().status, SpfStatus::Ok);
    assert_eq!(with_all.report().lookups, 0);
    assert_eq!(with_all.report().includes, ["other.example"]);
    let followed = audit(
        "example.com",
        &[
            ("example.com", qtype::TXT, &["v=spf1 ip4:192.0.2.1 redirect=other.example"]),
            ("other.example", qtype::TXT, &["v=spf1 mx -all"]),
            ("other.example", qtype::MX, &["mx.other.example"]),
        ],
    );
    assert_eq!(followed.report().lookups, 2);
    assert_eq!(followed.report().status, SpfStatus::Ok);
}

#[test]
fn audit_macros_are_counted_not_queried() {
    let mut a = SpfAudit::new(
        "example.com",
        Answer::Records(vec![
            b"v=spf1 exists:%{ir}.rbl.example include:%{d2}._spf.example ptr -all".to_vec(),
        ]),
    );
    assert_eq!(a.next_query(), None);
    assert!(a.is_done());
    assert_eq!(a.report().lookups, 3);
    assert_eq!(
        a.unexpanded(),
        [
            "example.com: exists:%{ir}.rbl.example",
            "example.com: include:%{d2}._spf.example",
            "example.com: ptr"
        ]
    );
    assert_eq!(a.findings().codes(), ["spf_ptr"]);
}

#[test]
fn audit_mx_with_more_than_ten_hosts() {
    let hosts: Vec<String> = (0..11).map(|i| format!("mx{i}.example.com")).collect();
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let a = audit(
        "example.com",
        &[("example.com", qtype::TXT, &["v=spf1 mx -all"]), ("example.com", qtype::MX, &hosts)],
    );
    assert_eq!(a.report().status, SpfStatus::PermError);
    assert_eq!(a.report().errors, ["mx: 11 MX records, more than 10"]);
}

#[test]
fn all_findings_and_authorization() {
    let case = |record: &str| {
        let a = SpfAudit::new("example.com", Answer::Records(vec![record.as_bytes().to_vec()]));
        (a.report().all, a.findings().codes(), a.authorizes_senders())
    };
    assert_eq!(case("v=spf1 -all"), (Some('-'), vec![], false));
    assert_eq!(case("v=spf1 ~all"), (Some('~'), vec![], false));
    assert_eq!(case("v=spf1 ?all"), (Some('?'), vec!["spf_neutral_all"], false));
    assert_eq!(case("v=spf1 all"), (Some('+'), vec!["spf_plus_all"], true));
    assert_eq!(case("v=spf1 +all"), (Some('+'), vec!["spf_plus_all"], true));
    assert_eq!(case("v=spf1"), (None, vec!["spf_no_all"], false));
    assert_eq!(case("v=spf1 ip4:192.0.2.1"), (None, vec!["spf_no_all"], true));
    assert_eq!(case("v=spf1 -ip4:192.0.2.1 -all +ip4:192.0.2.2"), (Some('-'), vec![], false));
    assert_eq!(case("v=spf1 -all ip4:192.0.2.1 ~all"), (Some('-'), vec![], false));
    assert_eq!(case("v=spf1 -ptr ?all"), (Some('?'), vec!["spf_neutral_all", "spf_ptr"], false));
}

/// Runs `check_host()` against a map; a name missing from it is NXDOMAIN.
fn check(ip: &str, mail_from: &str, zone: &[(&str, u16, &[&[u8]])]) -> (SpfResult, Vec<Query>) {
    let sender =
        Sender { ip: ip.parse().unwrap(), helo: "helo.example.org".into(), mail_from: mail_from.into() };
    let mut check = CheckHost::new(sender, "mx.receiver.example", 0);
    let mut asked = Vec::new();
    while let Some(query) = check.next_query() {
        let answer = match zone.iter().find(|(n, t, _)| *n == query.name && *t == query.qtype) {
            Some((_, _, rrs)) => Answer::Records(rrs.iter().map(|r| r.to_vec()).collect()),
            None if zone.iter().any(|(n, _, _)| *n == query.name) => Answer::NoData,
            None => Answer::NxDomain,
        };
        // A stray answer changes nothing; the real one moves on.
        check.answer(&Query { name: "other.example".into(), qtype: query.qtype }, Answer::Failed);
        check.answer(&query, answer);
        asked.push(query);
    }
    (check.result().cloned().expect("a result once nothing is asked"), asked)
}

#[test]
fn check_host_asks_one_question_at_a_time() {
    let sender = Sender {
        ip: "192.0.2.1".parse().unwrap(),
        helo: "h.example".into(),
        mail_from: "a@example.com".into(),
    };
    let mut check = CheckHost::new(sender, "r.example", 0);
    let first = check.next_query().unwrap();
    assert_eq!(first, Query { name: "example.com".into(), qtype: qtype::TXT });
    assert_eq!(check.next_query(), None, "nothing more before the answer");
    assert_eq!(check.result(), None);
    check.answer(&first, Answer::Records(vec![b"v=spf1 a -all".to_vec()]));
    assert_eq!(check.next_query(), Some(Query { name: "example.com".into(), qtype: qtype::A }));
}

#[test]
fn check_host_mechanisms() {
    let zone: &[(&str, u16, &[&[u8]])] = &[
        ("example.com", qtype::TXT, &[b"v=spf1 a:v6.example.com/24//64 mx include:inc.example.net ptr -all"]),
        ("v6.example.com", qtype::AAAA, &[&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]]),
        ("example.com", qtype::MX, &[b"mx.example.com"]),
        ("mx.example.com", qtype::A, &[&[192, 0, 2, 10]]),
        ("inc.example.net", qtype::TXT, &[b"v=spf1 ip4:198.51.100.0/24 -all"]),
        ("7.113.0.203.in-addr.arpa", qtype::PTR, &[b"host.example.com.", b"elsewhere.example.net"]),
        ("host.example.com", qtype::A, &[&[203, 0, 113, 7]]),
    ];
    assert_eq!(check("2001:db8::ffff", "a@example.com", zone).0, SpfResult::Pass, "a//64");
    assert_eq!(check("192.0.2.10", "a@example.com", zone).0, SpfResult::Pass, "mx");
    assert_eq!(check("198.51.100.9", "a@example.com", zone).0, SpfResult::Pass, "include");
    let (result, asked) = check("203.0.113.7", "a@example.com", zone);
    assert_eq!(result, SpfResult::Pass, "ptr");
    // The PTR name outside example.com is never validated.
    assert!(!asked.iter().any(|q| q.name == "elsewhere.example.net"));
    assert_eq!(check("192.0.2.99", "a@example.com", zone).0, SpfResult::Fail { explanation: None });
    // An IPv4-mapped IPv6 client is an IPv4 client (§5).
    assert_eq!(check("::ffff:192.0.2.10", "a@example.com", zone).0, SpfResult::Pass);
}

#[test]
fn check_host_identities_and_errors() {
    let zone: &[(&str, u16, &[&[u8]])] = &[
        ("helo.example.org", qtype::TXT, &[b"v=spf1 ip4:192.0.2.1 -all exp=why.example.org"]),
        ("why.example.org", qtype::TXT, &[b"%{l} at %{o} from %{c} not allowed"]),
        ("broken.example", qtype::TXT, &[b"v=spf1 ip4:192.0.2.1/33 +all"]),
    ];
    // An empty MAIL FROM checks the HELO name as postmaster@helo (§2.4, §4.3).
    assert_eq!(check("192.0.2.1", "", zone).0, SpfResult::Pass);
    assert_eq!(
        check("192.0.2.2", "", zone).0,
        SpfResult::Fail {
            explanation: Some("postmaster at helo.example.org from 192.0.2.2 not allowed".into())
        }
    );
    assert_eq!(check("192.0.2.1", "a@broken.example", zone).0, SpfResult::PermError);
    assert_eq!(check("192.0.2.1", "a@nowhere.example", zone).0, SpfResult::None);
    // §4.3: a single-label or malformed domain is none without a lookup.
    let (result, asked) = check("192.0.2.1", "a@localhost", zone);
    assert_eq!((result, asked.len()), (SpfResult::None, 0));
}
