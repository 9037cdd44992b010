//! The policy stage's lookups for one domain, as a sans-IO state machine
//! beside [`super::domain::DomainScan`]: told each outcome, it answers with
//! the lookups that follow, and once it has the policy host's addresses it
//! asks its owner for one HTTPS fetch (the engine makes it; this module has
//! no sockets and no clock).
//!
//! Per domain (once its MX answer is NOERROR): TXT at the domain (SPF,
//! RFC 7208 §4.4), `_dmarc.<domain>` (RFC 7489 §6.1), `_mta-sts.<domain>`
//! (RFC 8461 §3.1), `_smtp._tls.<domain>` (RFC 8460 §3), TLSA at
//! `_25._tcp.<exchange>` once per distinct exchange (RFC 7672 §2.2, shared
//! across domains like addresses), and DKIM keys at
//! `<selector>._domainkey.<domain>` for the configured selectors (RFC 6376
//! §3.6.2.1). A `_mta-sts` record that announces a policy leads to the A and
//! AAAA of `mta-sts.<domain>` and then the fetch (RFC 8461 §3.3).

use std::net::IpAddr;
use std::sync::Arc;

use super::domain::Need;
use super::{LookupStatus, Outcome};
use crate::dns::wire::rtype;
use crate::policy::dmarc::discovery::{DmarcLookup, TxtAnswer};
use crate::policy::dmarc::external::{authorization_queries, rua_unauthorized};
use crate::policy::dmarc::{DmarcReport, DmarcStatus};
use crate::policy::mta_sts::MtaStsReport;
use crate::policy::spf::{self, SpfAudit, SpfReport};

/// What a lookup is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    /// TXT at the domain: its SPF record.
    Spf,
    /// A question of the SPF audit (include/redirect targets' TXT, the
    /// `a`/`mx`/`exists` terms' records, RFC 7208 §4.6.4).
    SpfTerm,
    /// TXT at a name of the DMARC discovery (RFC 9989 tree walk, RFC 7489
    /// organisational domain).
    Dmarc,
    /// TXT at `<domain>._report._dmarc.<host>` for the `rua` URI at this
    /// index of the authorisation queries (RFC 7489 §7.1).
    RuaAuth(usize),
    /// TXT at `_mta-sts.<domain>`.
    MtaStsRecord,
    /// A or AAAA of `mta-sts.<domain>`, the policy host.
    PolicyHost,
    /// TXT at `_smtp._tls.<domain>`.
    TlsRpt,
    /// TLSA of an exchange (index into `tlsa`).
    Tlsa(usize),
    /// A DKIM key (index into `dkim`).
    Dkim(usize),
}

/// An HTTPS fetch the policy stage needs: the MTA-STS policy of `domain` from
/// `mta-sts.<domain>` at these addresses (resolved by the scan's own engine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The mail domain.
    pub domain: String,
    /// Addresses of `mta-sts.<domain>`, IPv4 first.
    pub addrs: Vec<IpAddr>,
}

/// How the fetch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResult {
    /// The policy text, or why there is none (HTTP status, redirect, TLS or
    /// certificate error, timeout, too large).
    pub body: Result<String, String>,
    /// The policy host's certificate's notAfter, Unix milliseconds, when a
    /// certificate was seen (also when it failed validation).
    pub cert_not_after_ms: Option<i64>,
}

/// The policy host's state: the record may announce a policy; then its
/// addresses are needed, then the fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PolicyFetch {
    /// No fetch (no usable `_mta-sts` record, or not decided yet).
    #[default]
    None,
    /// Waiting for the host's addresses.
    Resolving {
        /// The host's A outcome, once back.
        a: Option<Arc<Outcome>>,
        /// Its AAAA outcome.
        aaaa: Option<Arc<Outcome>>,
    },
    /// Handed to the owner.
    Requested,
    /// Done.
    Done(FetchResult),
    /// The policy host has no address (or its lookups failed): the text says
    /// which.
    NoAddress(String),
}

/// What the SPF audit concluded (RFC 7208).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfSummary {
    /// The `spf` column.
    pub report: SpfReport,
    /// Its `spf_*` finding codes.
    pub codes: Vec<&'static str>,
    /// The record lets some host send (for `null_mx_spf_allows_senders`).
    pub authorizes_senders: bool,
}

/// The raw material of a domain's policy columns: every answer the policy
/// stage received, for [`crate::policy`]'s parsers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyAnswers {
    /// The SPF audit's result.
    pub spf: Option<SpfSummary>,
    /// The DMARC that applies, with the `rua` authorisation checked.
    pub dmarc: Option<DmarcReport>,
    /// TXT at `_mta-sts.<domain>`.
    pub mta_sts: Option<Arc<Outcome>>,
    /// The policy fetch.
    pub policy: PolicyFetch,
    /// TXT at `_smtp._tls.<domain>`.
    pub tlsrpt: Option<Arc<Outcome>>,
    /// Per distinct exchange: its name and its TLSA outcome.
    pub tlsa: Vec<(String, Option<Arc<Outcome>>)>,
    /// Per probed selector: its name and its TXT outcome.
    pub dkim: Vec<(String, Option<Arc<Outcome>>)>,
}

/// One `rua` authorisation query (RFC 7489 §7.1): the name asked and, once
/// back, the TXT records (`None` inside when the lookup failed).
#[derive(Debug)]
struct RuaAuthorisation {
    name: String,
    answer: Option<Option<Vec<Vec<u8>>>>,
}

/// One domain's policy lookups.
#[derive(Debug)]
pub struct PolicyScan {
    domain: String,
    answers: PolicyAnswers,
    dmarc: DmarcLookup,
    /// The SPF audit, once the domain's TXT is in.
    spf: Option<SpfAudit>,
    /// The `rua` authorisation queries of the DMARC found.
    rua_auth: Vec<RuaAuthorisation>,
    /// Questions asked and not answered yet, with what each is for (a
    /// question asked for two purposes stands twice, but is one lookup).
    waiting: Vec<(String, u16, Purpose)>,
    /// Distinct questions among `waiting`: the lookups outstanding.
    outstanding: usize,
    /// A fetch ready to be handed to the owner.
    pending_fetch: Option<FetchRequest>,
}

/// An outcome as the SPF machines take it (RFC 7208 §4.6.4 counts NODATA
/// and NXDOMAIN as void).
fn spf_answer(outcome: &Outcome, qtype: u16) -> spf::Answer {
    let records: Vec<Vec<u8>> = match qtype {
        rtype::TXT => outcome.answer.txt.clone(),
        rtype::A => outcome.answer.ipv4.iter().map(|a| a.octets().to_vec()).collect(),
        rtype::AAAA => outcome.answer.ipv6.iter().map(|a| a.octets().to_vec()).collect(),
        rtype::MX => outcome.answer.mx.iter().map(|m| m.exchange.as_bytes().to_vec()).collect(),
        _ => Vec::new(),
    };
    match outcome.status {
        LookupStatus::NoError if records.is_empty() => spf::Answer::NoData,
        LookupStatus::NoError => spf::Answer::Records(records),
        LookupStatus::NxDomain => spf::Answer::NxDomain,
        _ => spf::Answer::Failed,
    }
}

/// A TXT outcome as the policy parsers take it: the records (none for
/// NODATA or NXDOMAIN), or `None` when the lookup failed.
pub fn txt_answer(outcome: &Outcome) -> TxtAnswer<'_> {
    match outcome.status {
        LookupStatus::NoError => Some(&outcome.answer.txt),
        LookupStatus::NxDomain => Some(&[]),
        _ => None,
    }
}

impl PolicyScan {
    /// The policy lookups of `domain`, whose MX answer listed `exchanges`
    /// (null MX and IP literals excluded by the caller); `selectors` are the
    /// DKIM selectors to probe.
    pub fn start(domain: &str, exchanges: &[String], selectors: &[String]) -> (Self, Vec<Need>) {
        let mut scan = Self {
            domain: domain.to_string(),
            answers: PolicyAnswers::default(),
            dmarc: DmarcLookup::new(domain),
            spf: None,
            rua_auth: Vec::new(),
            waiting: Vec::new(),
            outstanding: 0,
            pending_fetch: None,
        };
        let mut needs = Vec::new();
        scan.ask(&mut needs, domain.to_string(), rtype::TXT, Purpose::Spf, false);
        if let Some(name) = scan.dmarc.next_query().map(str::to_string) {
            scan.ask(&mut needs, name, rtype::TXT, Purpose::Dmarc, false);
        }
        scan.ask(&mut needs, format!("_mta-sts.{domain}"), rtype::TXT, Purpose::MtaStsRecord, false);
        scan.ask(&mut needs, format!("_smtp._tls.{domain}"), rtype::TXT, Purpose::TlsRpt, false);
        for exchange in exchanges {
            if scan.answers.tlsa.iter().any(|(e, _)| e == exchange) {
                continue;
            }
            let i = scan.answers.tlsa.len();
            scan.answers.tlsa.push((exchange.clone(), None));
            scan.ask(&mut needs, format!("_25._tcp.{exchange}"), rtype::TLSA, Purpose::Tlsa(i), true);
        }
        for selector in selectors {
            let i = scan.answers.dkim.len();
            scan.answers.dkim.push((selector.clone(), None));
            scan.ask(
                &mut needs,
                format!("{selector}._domainkey.{domain}"),
                rtype::TXT,
                Purpose::Dkim(i),
                false,
            );
        }
        (scan, needs)
    }

    /// Ask `(name, qtype)` for `purpose`; a question already asked is not
    /// sent twice (its outcome serves every purpose waiting on it).
    fn ask(&mut self, needs: &mut Vec<Need>, name: String, qtype: u16, purpose: Purpose, shared: bool) {
        let asked = self.waiting.iter().any(|(n, t, _)| *n == name && *t == qtype);
        if !asked {
            needs.push(Need { name: Arc::from(name.as_str()), qtype, shared });
            self.outstanding += 1;
        }
        self.waiting.push((name, qtype, purpose));
    }

    /// Questions outstanding (the owner's count of pending lookups includes
    /// them) plus a fetch not finished.
    pub fn pending(&self) -> usize {
        self.outstanding + usize::from(matches!(self.answers.policy, PolicyFetch::Requested))
    }

    /// Whether everything has come back.
    pub fn is_done(&self) -> bool {
        self.pending() == 0
    }

    /// Take the outcome of `(name, qtype)` if the policy stage asked it.
    /// Returns `None` when it is not ours, else the lookups that follow.
    pub fn on_outcome(&mut self, name: &str, qtype: u16, outcome: &Arc<Outcome>) -> Option<Vec<Need>> {
        let mut purposes = Vec::new();
        self.waiting.retain(|(n, t, p)| {
            let ours = n == name && *t == qtype;
            if ours {
                purposes.push(p.clone());
            }
            !ours
        });
        if purposes.is_empty() {
            return None;
        }
        // One outcome answers every purpose that waited on the question.
        self.outstanding -= 1;
        let mut needs = Vec::new();
        for purpose in purposes {
            match purpose {
                Purpose::Spf => {
                    self.spf = Some(SpfAudit::new(&self.domain, spf_answer(outcome, qtype)));
                    self.advance_spf(&mut needs);
                }
                Purpose::SpfTerm => {
                    if let Some(audit) = self.spf.as_mut() {
                        let query = spf::Query { name: name.to_string(), qtype };
                        audit.answer(&query, spf_answer(outcome, qtype));
                    }
                    self.advance_spf(&mut needs);
                }
                Purpose::Dmarc => self.on_dmarc(outcome, &mut needs),
                Purpose::RuaAuth(i) => {
                    self.rua_auth[i].answer = Some(txt_answer(outcome).map(<[Vec<u8>]>::to_vec));
                    self.finish_dmarc();
                }
                Purpose::TlsRpt => self.answers.tlsrpt = Some(Arc::clone(outcome)),
                Purpose::Tlsa(i) => self.answers.tlsa[i].1 = Some(Arc::clone(outcome)),
                Purpose::Dkim(i) => self.answers.dkim[i].1 = Some(Arc::clone(outcome)),
                Purpose::MtaStsRecord => {
                    self.answers.mta_sts = Some(Arc::clone(outcome));
                    if MtaStsReport::from_txt(txt_answer(outcome)).needs_fetch() {
                        self.answers.policy = PolicyFetch::Resolving { a: None, aaaa: None };
                        let host = format!("mta-sts.{}", self.domain);
                        self.ask(&mut needs, host.clone(), rtype::A, Purpose::PolicyHost, false);
                        self.ask(&mut needs, host, rtype::AAAA, Purpose::PolicyHost, false);
                    }
                }
                Purpose::PolicyHost => self.on_policy_host(qtype, outcome),
            }
        }
        Some(needs)
    }

    /// Ask what the SPF audit wants next (its targets are shared across
    /// domains like exchanges: `_spf.google.com` is one lookup per scan);
    /// once it is done, keep its result.
    fn advance_spf(&mut self, needs: &mut Vec<Need>) {
        let Some(audit) = self.spf.as_mut() else { return };
        let mut queries = Vec::new();
        while let Some(query) = audit.next_query() {
            queries.push(query);
        }
        let done = audit.is_done() && self.answers.spf.is_none();
        for query in queries {
            self.ask(needs, query.name, query.qtype, Purpose::SpfTerm, true);
        }
        if done && let Some(audit) = &self.spf {
            self.answers.spf = Some(SpfSummary {
                report: audit.report(),
                codes: audit.findings().codes(),
                authorizes_senders: audit.authorizes_senders(),
            });
        }
    }

    /// One answer of the DMARC discovery: ask the next name, or, once it
    /// is complete, the `rua` authorisation records of the record found.
    fn on_dmarc(&mut self, outcome: &Outcome, needs: &mut Vec<Need>) {
        self.dmarc.answer(txt_answer(outcome));
        if let Some(name) = self.dmarc.next_query().map(str::to_string) {
            return self.ask(needs, name, rtype::TXT, Purpose::Dmarc, false);
        }
        let report = self.dmarc.finish().report();
        for (i, (_uri, name)) in authorization_queries(&report).into_iter().enumerate() {
            self.rua_auth.push(RuaAuthorisation { name: name.clone(), answer: None });
            self.ask(needs, name, rtype::TXT, Purpose::RuaAuth(i), false);
        }
        self.answers.dmarc = Some(report);
        self.finish_dmarc();
    }

    /// With every authorisation answer in, name the unauthorised `rua`s.
    fn finish_dmarc(&mut self) {
        let Some(report) = self.answers.dmarc.as_mut() else { return };
        if self.rua_auth.iter().any(|q| q.answer.is_none()) || report.status == DmarcStatus::TempError {
            return;
        }
        let answers: Vec<(String, Option<Vec<Vec<u8>>>)> =
            self.rua_auth.iter().map(|q| (q.name.clone(), q.answer.clone().flatten())).collect();
        report.rua_unauthorized = rua_unauthorized(report, &answers);
    }

    fn on_policy_host(&mut self, qtype: u16, outcome: &Arc<Outcome>) {
        let PolicyFetch::Resolving { a, aaaa } = &mut self.answers.policy else { return };
        if qtype == rtype::A {
            *a = Some(Arc::clone(outcome));
        } else {
            *aaaa = Some(Arc::clone(outcome));
        }
        let (Some(a), Some(aaaa)) = (a.clone(), aaaa.clone()) else { return };
        let addrs: Vec<IpAddr> = a
            .answer
            .ipv4
            .iter()
            .map(|&v4| IpAddr::V4(v4))
            .chain(aaaa.answer.ipv6.iter().map(|&v6| IpAddr::V6(v6)))
            .collect();
        if addrs.is_empty() {
            let why = match (a.status, aaaa.status) {
                (LookupStatus::NxDomain, _) | (_, LookupStatus::NxDomain) => {
                    "policy host does not exist (NXDOMAIN)"
                }
                (LookupStatus::NoError, LookupStatus::NoError) => "policy host has no address",
                _ => "policy host lookup failed",
            };
            self.answers.policy = PolicyFetch::NoAddress(why.to_string());
        } else {
            self.answers.policy = PolicyFetch::Requested;
            self.pending_fetch = Some(FetchRequest { domain: self.domain.clone(), addrs });
        }
    }

    /// The fetch to make, once (the owner makes it and reports back with
    /// [`Self::on_fetch`]).
    pub fn take_fetch(&mut self) -> Option<FetchRequest> {
        self.pending_fetch.take()
    }

    /// The fetch came back.
    pub fn on_fetch(&mut self, result: FetchResult) {
        if self.answers.policy == PolicyFetch::Requested {
            self.answers.policy = PolicyFetch::Done(result);
        }
    }

    /// Everything received, for the report.
    pub fn into_answers(self) -> PolicyAnswers {
        self.answers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::Answer;

    fn outcome(status: LookupStatus, answer: Answer) -> Arc<Outcome> {
        Arc::new(Outcome { status, answer, resolver: Some(0), error: None })
    }

    fn txt(records: &[&str]) -> Arc<Outcome> {
        let answer =
            Answer { txt: records.iter().map(|r| r.as_bytes().to_vec()).collect(), ..Answer::default() };
        outcome(LookupStatus::NoError, answer)
    }

    fn names(needs: &[Need]) -> Vec<(String, u16, bool)> {
        needs.iter().map(|n| (n.name.to_string(), n.qtype, n.shared)).collect()
    }

    #[test]
    fn asks_each_record_once_and_tlsa_per_distinct_exchange() {
        let exchanges =
            ["mx1.example.net".to_string(), "mx1.example.net".to_string(), "mx2.example.net".to_string()];
        let (scan, needs) = PolicyScan::start("example.com", &exchanges, &["google".to_string()]);
        assert_eq!(
            names(&needs),
            vec![
                ("example.com".into(), rtype::TXT, false),
                ("_dmarc.example.com".into(), rtype::TXT, false),
                ("_mta-sts.example.com".into(), rtype::TXT, false),
                ("_smtp._tls.example.com".into(), rtype::TXT, false),
                ("_25._tcp.mx1.example.net".into(), rtype::TLSA, true),
                ("_25._tcp.mx2.example.net".into(), rtype::TLSA, true),
                ("google._domainkey.example.com".into(), rtype::TXT, false),
            ]
        );
        assert_eq!(scan.pending(), 7);
    }

    /// Answer every question (and every follow-up) with `answer`, which
    /// returns `None` to leave a question unanswered; returns what is left.
    fn drive(
        scan: &mut PolicyScan,
        mut needs: Vec<Need>,
        answer: impl Fn(&str, u16) -> Option<Arc<Outcome>>,
    ) -> Vec<Need> {
        let mut left = Vec::new();
        while let Some(need) = needs.pop() {
            match answer(&need.name, need.qtype) {
                Some(outcome) => {
                    needs.extend(scan.on_outcome(&need.name, need.qtype, &outcome).expect("ours"))
                }
                None => left.push(need),
            }
        }
        left
    }

    #[test]
    fn an_mta_sts_record_leads_to_the_policy_host_then_one_fetch() {
        let (mut scan, needs) = PolicyScan::start("example.com", &[], &[]);
        let left = drive(&mut scan, needs, |name, _| match name {
            "_mta-sts.example.com" => Some(txt(&["v=STSv1; id=20240101;"])),
            "mta-sts.example.com" => None,
            _ => Some(txt(&[])),
        });
        assert_eq!(
            names(&left),
            vec![
                ("mta-sts.example.com".into(), rtype::AAAA, false),
                ("mta-sts.example.com".into(), rtype::A, false)
            ]
        );
        assert!(scan.on_outcome("unrelated.example", rtype::TXT, &txt(&[])).is_none());
        let a = Answer { ipv4: vec!["127.0.80.1".parse().unwrap()], ..Answer::default() };
        scan.on_outcome("mta-sts.example.com", rtype::A, &outcome(LookupStatus::NoError, a));
        assert!(scan.take_fetch().is_none(), "both address lookups first");
        scan.on_outcome(
            "mta-sts.example.com",
            rtype::AAAA,
            &outcome(LookupStatus::NoError, Answer::default()),
        );
        let fetch = scan.take_fetch().expect("a fetch");
        assert_eq!(fetch.addrs, vec!["127.0.80.1".parse::<IpAddr>().unwrap()]);
        assert!(scan.take_fetch().is_none(), "once");
        assert!(!scan.is_done(), "the fetch is outstanding");
        let result = FetchResult { body: Ok("version: STSv1\n".into()), cert_not_after_ms: Some(1) };
        scan.on_fetch(result.clone());
        assert!(scan.is_done());
        assert_eq!(scan.into_answers().policy, PolicyFetch::Done(result));
    }

    #[test]
    fn an_invalid_mta_sts_record_or_a_host_without_address_needs_no_fetch() {
        let (mut scan, needs) = PolicyScan::start("example.org", &[], &[]);
        let gone = outcome(LookupStatus::NxDomain, Answer::default());
        let left = drive(&mut scan, needs, |name, _| match name {
            "_mta-sts.example.org" => Some(txt(&["v=STSv1; id=1"])),
            "mta-sts.example.org" => Some(Arc::clone(&gone)),
            _ => Some(txt(&[])),
        });
        assert!(left.is_empty() && scan.take_fetch().is_none() && scan.is_done());
        assert!(
            matches!(scan.into_answers().policy, PolicyFetch::NoAddress(ref why) if why.contains("NXDOMAIN"))
        );

        // `id` must be 1–32 alphanumerics (RFC 8461 §3.1): no policy is fetched.
        let (mut scan, needs) = PolicyScan::start("example.net", &[], &[]);
        drive(&mut scan, needs, |name, _| match name {
            "_mta-sts.example.net" => Some(txt(&["v=STSv1; id=not-alphanumeric"])),
            _ => Some(txt(&[])),
        });
        assert!(scan.is_done());
        assert_eq!(scan.into_answers().policy, PolicyFetch::None);
    }

    #[test]
    fn dmarc_walks_up_and_checks_external_report_authorisation() {
        let (mut scan, needs) = PolicyScan::start("mail.shop.example.com", &[], &[]);
        let record = "v=DMARC1; p=reject; rua=mailto:d@example.com,mailto:r@reports.example.net";
        let asked = std::cell::RefCell::new(Vec::new());
        drive(&mut scan, needs, |name, _| {
            asked.borrow_mut().push(name.to_string());
            match name {
                "_dmarc.example.com" => Some(txt(&[record])),
                "example.com._report._dmarc.reports.example.net" => Some(txt(&[])),
                _ => Some(txt(&[])),
            }
        });
        assert!(scan.is_done());
        let asked = asked.into_inner();
        assert!(asked.contains(&"_dmarc.mail.shop.example.com".to_string()), "{asked:?}");
        let dmarc = scan.into_answers().dmarc.expect("a DMARC report");
        assert_eq!(dmarc.found_at.as_deref(), Some("_dmarc.example.com"));
        assert_eq!(dmarc.rua_unauthorized, vec!["mailto:r@reports.example.net".to_string()]);
    }
}
