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

/// What a lookup is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    /// TXT at the domain: its SPF record.
    Spf,
    /// TXT at `_dmarc.<domain>`.
    Dmarc,
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

/// The raw material of a domain's policy columns: every answer the policy
/// stage received, for [`crate::policy`]'s parsers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyAnswers {
    /// TXT at the domain.
    pub spf: Option<Arc<Outcome>>,
    /// TXT at `_dmarc.<domain>`.
    pub dmarc: Option<Arc<Outcome>>,
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

/// One domain's policy lookups.
#[derive(Debug)]
pub struct PolicyScan {
    domain: String,
    answers: PolicyAnswers,
    /// Questions asked and not answered yet, with what each is for.
    waiting: Vec<(String, u16, Purpose)>,
    /// A fetch ready to be handed to the owner.
    pending_fetch: Option<FetchRequest>,
}

/// Whether a TXT outcome holds a record that announces an MTA-STS policy:
/// the fetch is worth making even when the record has other faults, so the
/// report can say both (RFC 8461 §3.1: `v=STSv1` first).
fn announces_policy(outcome: &Outcome) -> bool {
    outcome.status == LookupStatus::NoError && outcome.answer.txt.iter().any(|t| t.starts_with(b"v=STSv1"))
}

impl PolicyScan {
    /// The policy lookups of `domain`, whose MX answer listed `exchanges`
    /// (null MX and IP literals excluded by the caller); `selectors` are the
    /// DKIM selectors to probe.
    pub fn start(domain: &str, exchanges: &[String], selectors: &[String]) -> (Self, Vec<Need>) {
        let mut scan = Self {
            domain: domain.to_string(),
            answers: PolicyAnswers::default(),
            waiting: Vec::new(),
            pending_fetch: None,
        };
        let mut needs = Vec::new();
        scan.ask(&mut needs, domain.to_string(), rtype::TXT, Purpose::Spf, false);
        scan.ask(&mut needs, format!("_dmarc.{domain}"), rtype::TXT, Purpose::Dmarc, false);
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
            needs.push(Need { name: name.clone(), qtype, shared });
        }
        self.waiting.push((name, qtype, purpose));
    }

    /// Questions outstanding (the owner's count of pending lookups includes
    /// them) plus a fetch not finished.
    pub fn pending(&self) -> usize {
        let mut distinct: Vec<(&str, u16)> = self.waiting.iter().map(|(n, t, _)| (n.as_str(), *t)).collect();
        distinct.sort_unstable();
        distinct.dedup();
        distinct.len() + usize::from(matches!(self.answers.policy, PolicyFetch::Requested))
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
        let mut needs = Vec::new();
        for purpose in purposes {
            match purpose {
                Purpose::Spf => self.answers.spf = Some(Arc::clone(outcome)),
                Purpose::Dmarc => self.answers.dmarc = Some(Arc::clone(outcome)),
                Purpose::TlsRpt => self.answers.tlsrpt = Some(Arc::clone(outcome)),
                Purpose::Tlsa(i) => self.answers.tlsa[i].1 = Some(Arc::clone(outcome)),
                Purpose::Dkim(i) => self.answers.dkim[i].1 = Some(Arc::clone(outcome)),
                Purpose::MtaStsRecord => {
                    self.answers.mta_sts = Some(Arc::clone(outcome));
                    if announces_policy(outcome) {
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
        needs.iter().map(|n| (n.name.clone(), n.qtype, n.shared)).collect()
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

    #[test]
    fn an_mta_sts_record_leads_to_the_policy_host_then_one_fetch() {
        let (mut scan, needs) = PolicyScan::start("example.com", &[], &[]);
        for need in &needs {
            let answer =
                if need.name == "_mta-sts.example.com" { txt(&["v=STSv1; id=20240101;"]) } else { txt(&[]) };
            let follow = scan.on_outcome(&need.name, need.qtype, &answer).expect("ours");
            if need.name == "_mta-sts.example.com" {
                assert_eq!(
                    names(&follow),
                    vec![
                        ("mta-sts.example.com".into(), rtype::A, false),
                        ("mta-sts.example.com".into(), rtype::AAAA, false)
                    ]
                );
            } else {
                assert!(follow.is_empty());
            }
        }
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
    fn a_policy_host_without_address_needs_no_fetch() {
        let (mut scan, _) = PolicyScan::start("example.org", &[], &[]);
        scan.on_outcome("_mta-sts.example.org", rtype::TXT, &txt(&["v=STSv1; id=1"]));
        let gone = outcome(LookupStatus::NxDomain, Answer::default());
        scan.on_outcome("mta-sts.example.org", rtype::A, &gone);
        scan.on_outcome("mta-sts.example.org", rtype::AAAA, &gone);
        assert!(scan.take_fetch().is_none());
        for name in ["example.org", "_dmarc.example.org", "_smtp._tls.example.org"] {
            scan.on_outcome(name, rtype::TXT, &txt(&[]));
        }
        assert!(scan.is_done());
        assert!(
            matches!(scan.into_answers().policy, PolicyFetch::NoAddress(ref why) if why.contains("NXDOMAIN"))
        );
    }
}
