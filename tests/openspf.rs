//! The OpenSPF test suite for RFC 7208 (release 2014.04,
//! `tests/data/openspf/rfc7208-tests.yml`, its LICENSE beside it; read from
//! `rfc7208-tests.json`, the same document converted once with Python's
//! `yaml.safe_load_all` and `json.dump`, so that no YAML crate is needed).
//!
//! Every scenario's `zonedata` is served from memory to the sans-IO
//! machines (`policy::spf::{SpfAudit, CheckHost}`).
//!
//! Zone data conventions (the suite's header and its reference driver,
//! pyspf's `testspf.py`):
//!
//! - Only TXT is ever asked (RFC 7208 §3.1: the SPF RR type is not used).
//!   The suite writes most policies as `SPF:` entries and relies on "auto-
//!   magic duplication of SPF to TXT records (by test suite drivers)": a
//!   name with `SPF` entries and no `TXT` entry at all serves its SPF
//!   entries as TXT; `TXT: NONE` is an explicit "no TXT records" that stops
//!   the duplication (the "Record lookup" section tests exactly this).
//! - `TIMEOUT` at a name: every question for a type the name has no records
//!   of times out (`Answer::Failed`); the types it has answer normally
//!   (`spftimeout`: the TXT answers, only the SPF type would time out).
//! - A CNAME is followed for the other types; a name with no records of
//!   the type is NODATA, a name not in the zone NXDOMAIN.
//! - YAML `\xNN` escapes are code points; those below 256 are the bytes
//!   the record holds (`"\x80"` is the octet 0x80, not UTF-8).
//!
//! Two tests:
//!
//! - [`check_host_every_case`]: `CheckHost` (RFC 7208 §4 `check_host()`)
//!   with the case's IP, HELO and MAIL FROM: every case of the suite, the
//!   result must be one of the expected ones, and the explanation (when the
//!   suite gives one) must match.
//! - [`static_audit_in_scope`]: the static audit (no sender) of the domain
//!   `check_host()` starts at. Its verdict stands for the results it
//!   allows: `none` → none, `permerror` → permerror, `temperror` →
//!   temperror, `ok` → any of pass, fail, softfail, neutral (an evaluation
//!   that errs nowhere). **Scope rule:** a case is in scope unless its
//!   expected result depends on evaluation against the sender in one of
//!   these ways (each listed case names its kind in [`OUT_OF_SCOPE`]):
//!   1. `Matched`: the sender matches a mechanism before evaluation reaches
//!      the term that makes the record an error (a lookup past the 10th, a
//!      void lookup past the 2nd, a missing include, a DNS failure); the
//!      static walk reaches every term and calls the error;
//!   2. the error comes from the sender's data: a macro expanded to an
//!      invalid name, the `ptr` or `%{p}` lookups of the sender's address,
//!      the address records of MX hosts;
//!   3. §4.3's initial processing rejects the sender's domain before any
//!      record is read, so the audit is asked about a domain `check_host()`
//!      never looks up.
//!
//!   The 2014.04 suite has one case of kind 1 (`include-at-limit`) and
//!   none of kinds 2 and 3 (its initial-processing cases name domains
//!   without records, so the audit says `none` as well), so only `Matched`
//!   is spelled out.
//!
//!   Every listed case must actually disagree with the audit (so the list
//!   cannot hide a bug by growing), and every other case must agree.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use mxscan::policy::spf::{Answer, CheckHost, Query, Sender, SpfAudit, SpfResult, SpfStatus, qtype};
use serde_json::Value;

/// Why a case's expected result is beyond a static audit (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    Matched,
}

/// The cases outside the static audit's scope, by kind.
const OUT_OF_SCOPE: &[(&str, Reason)] = &[
    // e8: `a include:inc(8 × a) ip4:1.2.3.4 mx`: the ip4 matches at the
    // 10th lookup; the `mx` after it would be the 11th.
    ("include-at-limit", Reason::Matched),
];

#[derive(Debug)]
enum Rr {
    Txt(Vec<u8>),
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx(String),
    Ptr(String),
    Cname(String),
}

/// A scenario's zone: records by lowercase name, and the names that time out.
#[derive(Debug, Default)]
struct Zone {
    names: HashMap<String, Vec<Rr>>,
    timeout: HashSet<String>,
}

/// A YAML string as octets: code points below 256 are bytes.
fn octets(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for c in text.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => out.extend_from_slice(c.to_string().as_bytes()),
        }
    }
    out
}

fn text_of(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => octets(s),
        // Several character-strings, joined without separator (§3.3).
        Value::Array(parts) => parts.iter().flat_map(text_of).collect(),
        other => panic!("not text: {other}"),
    }
}

fn name_key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    fn load(zonedata: &Value) -> Self {
        let mut zone = Self::default();
        for (name, rrs) in zonedata.as_object().expect("zonedata is a map") {
            let key = name_key(name);
            let mut records = Vec::new();
            let (mut spf, mut has_txt) = (Vec::new(), false);
            for rr in rrs.as_array().expect("a name's records are a list") {
                if rr.as_str() == Some("TIMEOUT") {
                    zone.timeout.insert(key.clone());
                    continue;
                }
                let (rtype, value) = rr.as_object().and_then(|o| o.iter().next()).expect("one record");
                match rtype.as_str() {
                    "SPF" => spf.push(text_of(value)),
                    "TXT" => {
                        has_txt = true;
                        if value.as_str() != Some("NONE") {
                            records.push(Rr::Txt(text_of(value)));
                        }
                    }
                    "A" => records.push(Rr::A(value.as_str().unwrap().parse().unwrap())),
                    "AAAA" => records.push(Rr::Aaaa(value.as_str().unwrap().parse().unwrap())),
                    "MX" => records.push(Rr::Mx(value[1].as_str().unwrap().to_string())),
                    "PTR" => records.push(Rr::Ptr(value.as_str().unwrap().to_string())),
                    "CNAME" => records.push(Rr::Cname(value.as_str().unwrap().to_string())),
                    other => panic!("record type {other}"),
                }
            }
            if !has_txt {
                records.extend(spf.into_iter().map(Rr::Txt));
            }
            zone.names.insert(key, records);
        }
        zone
    }

    fn resolve(&self, query: &Query) -> Answer {
        let mut name = name_key(&query.name);
        for _ in 0..8 {
            let Some(rrs) = self.names.get(&name) else {
                return if self.timeout.contains(&name) { Answer::Failed } else { Answer::NxDomain };
            };
            if let Some(Rr::Cname(target)) = rrs.iter().find(|r| matches!(r, Rr::Cname(_))) {
                name = name_key(target);
                continue;
            }
            let records: Vec<Vec<u8>> = rrs
                .iter()
                .filter_map(|rr| match (rr, query.qtype) {
                    (Rr::Txt(t), qtype::TXT) => Some(t.clone()),
                    (Rr::A(a), qtype::A) => Some(a.octets().to_vec()),
                    (Rr::Aaaa(a), qtype::AAAA) => Some(a.octets().to_vec()),
                    (Rr::Mx(n), qtype::MX) | (Rr::Ptr(n), qtype::PTR) => Some(n.as_bytes().to_vec()),
                    _ => None,
                })
                .collect();
            return if !records.is_empty() {
                Answer::Records(records)
            } else if self.timeout.contains(&name) {
                Answer::Failed
            } else {
                Answer::NoData
            };
        }
        Answer::Failed // a CNAME loop
    }
}

struct Case {
    id: String,
    zone: std::rc::Rc<Zone>,
    ip: IpAddr,
    helo: String,
    mail_from: String,
    expected: Vec<String>,
    explanation: Option<String>,
}

fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/openspf/rfc7208-tests.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let sections: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for section in &sections {
        let zone = std::rc::Rc::new(Zone::load(&section["zonedata"]));
        for (id, case) in section["tests"].as_object().unwrap() {
            let expected = match &case["result"] {
                Value::String(s) => vec![s.clone()],
                Value::Array(list) => list.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
                other => panic!("{id}: result {other}"),
            };
            out.push(Case {
                id: id.clone(),
                zone: zone.clone(),
                ip: case["host"].as_str().unwrap().parse().unwrap(),
                helo: case["helo"].as_str().unwrap().to_string(),
                mail_from: case["mailfrom"].as_str().unwrap().to_string(),
                expected,
                explanation: case.get("explanation").and_then(Value::as_str).map(str::to_string),
            });
        }
    }
    out
}

/// The domain `check_host()` starts at: MAIL FROM's domain, or the HELO
/// name for an empty reverse path (§2.4).
fn start_domain(case: &Case) -> String {
    match case.mail_from.rsplit_once('@') {
        Some((_, domain)) => domain.to_string(),
        None if case.mail_from.is_empty() => case.helo.clone(),
        None => case.mail_from.clone(),
    }
}

fn run_audit(case: &Case) -> SpfStatus {
    let domain = start_domain(case);
    let txt = case.zone.resolve(&Query { name: domain.clone(), qtype: qtype::TXT });
    let mut audit = SpfAudit::new(&domain, txt);
    let mut rounds = 0;
    loop {
        let mut queries = Vec::new();
        while let Some(q) = audit.next_query() {
            queries.push(q);
        }
        if queries.is_empty() {
            break;
        }
        for q in &queries {
            audit.answer(q, case.zone.resolve(q));
        }
        rounds += 1;
        assert!(rounds < 100, "{}: the audit does not finish", case.id);
    }
    assert!(audit.is_done(), "{}: no query left but not done", case.id);
    audit.report().status
}

fn allowed_by(status: SpfStatus) -> &'static [&'static str] {
    match status {
        SpfStatus::None => &["none"],
        SpfStatus::PermError => &["permerror"],
        SpfStatus::TempError => &["temperror"],
        SpfStatus::Ok => &["pass", "fail", "softfail", "neutral"],
    }
}

#[test]
fn static_audit_in_scope() {
    let cases = cases();
    let (mut in_scope, mut passing, mut out_disagreeing) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let status = run_audit(case);
        let agrees = allowed_by(status).iter().any(|r| case.expected.iter().any(|e| e == r));
        match OUT_OF_SCOPE.iter().find(|(id, _)| *id == case.id) {
            Some((_, reason)) => {
                if agrees {
                    failures
                        .push(format!("{}: listed out of scope ({reason:?}) but the audit agrees", case.id));
                } else {
                    out_disagreeing += 1;
                }
            }
            None => {
                in_scope += 1;
                if agrees {
                    passing += 1;
                } else {
                    failures.push(format!(
                        "{}: audit {} but expected {:?}",
                        case.id,
                        status.as_str(),
                        case.expected
                    ));
                }
            }
        }
    }
    println!(
        "static audit: {} cases, {in_scope} in scope, {passing} passing; {} out of scope",
        cases.len(),
        OUT_OF_SCOPE.len()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(cases.len(), 203, "the 2014.04 suite has 203 cases");
    assert_eq!(out_disagreeing, OUT_OF_SCOPE.len(), "every out-of-scope id is a case of the suite");
    assert_eq!(passing, in_scope);
}

fn run_check(case: &Case) -> (SpfResult, usize) {
    let sender = Sender { ip: case.ip, helo: case.helo.clone(), mail_from: case.mail_from.clone() };
    let mut check = CheckHost::new(sender, "receiver.example.net", 0);
    let mut asked = 0;
    while let Some(query) = check.next_query() {
        asked += 1;
        assert!(check.next_query().is_none(), "{}: one question at a time", case.id);
        check.answer(&query, case.zone.resolve(&query));
        assert!(asked < 100, "{}: the check does not finish", case.id);
    }
    let result = check.result().unwrap_or_else(|| panic!("{}: no question and no result", case.id));
    (result.clone(), asked)
}

#[test]
fn check_host_every_case() {
    let cases = cases();
    let mut failures = Vec::new();
    let mut explained = 0;
    for case in &cases {
        let (result, _) = run_check(case);
        if !case.expected.iter().any(|e| e == result.as_str()) {
            failures.push(format!("{}: {} but expected {:?}", case.id, result.as_str(), case.expected));
            continue;
        }
        if let (Some(want), SpfResult::Fail { explanation }) = (&case.explanation, &result) {
            // `DEFAULT`: the receiver's own text, i.e. no `exp=` explanation.
            let got = explanation.as_deref().unwrap_or("DEFAULT");
            // `v-macro-ip6` expects `%{ir}` of an IPv6 address in uppercase
            // nibbles (pyspf's spelling); RFC 7208 §7.4 spells the same
            // expansion in lowercase (`1.0.b.c.0.0...`), which CheckHost
            // follows. DNS names compare case-insensitively; only this
            // human-readable text shows the difference.
            let same = if case.id == "v-macro-ip6" { got.eq_ignore_ascii_case(want) } else { got == want };
            if !same {
                failures.push(format!("{}: explanation {got:?} but expected {want:?}", case.id));
            }
            explained += 1;
        }
    }
    println!(
        "check_host: {} cases, {} passing, {explained} explanations checked",
        cases.len(),
        cases.len() - failures.len()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(cases.len(), 203);
}
