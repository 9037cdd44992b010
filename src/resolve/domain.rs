//! The resolution of one domain, as a pure state machine: it is told the
//! outcome of each lookup and answers with the lookups it needs next. No
//! sockets, no clocks (those are the [`super::core`]'s business), so every
//! path is testable with hand-made outcomes.
//!
//! The steps follow RFC 5321 §5.1: ask MX (the resolver follows a CNAME at
//! the domain); for each exchange ask A and AAAA; if the answer is NOERROR
//! without MX, ask A and AAAA of the domain itself (the implicit MX). A null
//! MX (RFC 7505) and an exchange written as an IP address are not looked up.

use std::sync::Arc;

use super::policy::{FetchRequest, FetchResult, PolicyScan};
use super::{LookupStatus, Outcome};
use crate::analyze::address::is_ip_literal;
use crate::dns::wire::rtype;
use crate::input::Target;
use crate::policy::report::PolicyStage;
use crate::record::{AddressStatus, DomainRecord, MxEntry, Status, sort_as_text};

/// A lookup the domain needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Name to ask, lowercase, no trailing dot (shared, not copied, by
    /// the lookups that ask it).
    pub name: Arc<str>,
    /// Record type.
    pub qtype: u16,
    /// Worth keeping for other domains (exchange addresses are; a domain's
    /// own records are not).
    pub shared: bool,
}

/// Address lookups of one host (an exchange, or the domain for the implicit
/// MX check).
#[derive(Debug)]
struct HostLookups {
    name: Arc<str>,
    a: Option<Arc<Outcome>>,
    aaaa: Option<Arc<Outcome>>,
    /// For an NXDOMAIN exchange: its registrable domain, asked for SOA to
    /// tell a typo (the organisation exists) from a dangling MX (nobody
    /// owns the name: anyone may register it and receive the mail).
    org: Option<String>,
    org_outcome: Option<Arc<Outcome>>,
    /// The exchange is itself a registrable domain (NXDOMAIN says it all).
    org_is_self: bool,
}

impl HostLookups {
    fn new(name: Arc<str>) -> Self {
        Self { name, a: None, aaaa: None, org: None, org_outcome: None, org_is_self: false }
    }

    fn complete(&self) -> bool {
        self.a.is_some() && self.aaaa.is_some()
    }

    fn org_nxdomain(&self) -> bool {
        let gone = |o: &Option<Arc<Outcome>>| o.as_ref().is_some_and(|o| o.status == LookupStatus::NxDomain);
        (self.org_is_self && self.status() == AddressStatus::NxDomain) || gone(&self.org_outcome)
    }

    fn needs(&self, shared: bool) -> [Need; 2] {
        [rtype::A, rtype::AAAA].map(|qtype| Need { name: Arc::clone(&self.name), qtype, shared })
    }

    /// Take an outcome if it is one of ours; true if taken.
    fn accept(&mut self, name: &str, qtype: u16, outcome: &Arc<Outcome>) -> bool {
        if name != &*self.name {
            return false;
        }
        let slot = match qtype {
            rtype::A => &mut self.a,
            rtype::AAAA => &mut self.aaaa,
            _ => return false,
        };
        if slot.is_some() {
            return false;
        }
        *slot = Some(Arc::clone(outcome));
        true
    }

    /// Combined status: any address wins; then NXDOMAIN (the name is gone);
    /// then a failure (nothing is known); else the name exists without
    /// addresses.
    fn status(&self) -> AddressStatus {
        let both = [&self.a, &self.aaaa];
        let outcomes = || both.iter().filter_map(|o| o.as_deref());
        if outcomes().any(|o| !o.answer.ipv4.is_empty() || !o.answer.ipv6.is_empty()) {
            return AddressStatus::Ok;
        }
        if outcomes().any(|o| o.status == LookupStatus::NxDomain) {
            return AddressStatus::NxDomain;
        }
        for o in outcomes() {
            match o.status {
                // The vocabulary has no "error": another RCODE is a server failure.
                LookupStatus::ServFail | LookupStatus::Error => return AddressStatus::ServFail,
                LookupStatus::Refused => return AddressStatus::Refused,
                LookupStatus::Timeout => return AddressStatus::Timeout,
                LookupStatus::NoError | LookupStatus::NxDomain => {}
            }
        }
        AddressStatus::NoData
    }

    fn canonical(&self) -> Option<String> {
        [&self.a, &self.aaaa].into_iter().flatten().find_map(|o| o.answer.canonical.clone())
    }
}

/// Whether an exchange is a name to look up: not the null MX, not an IP
/// address written as a name, not a label holding an escaped octet.
fn is_resolvable(exchange: &str) -> bool {
    exchange != "." && !is_ip_literal(exchange) && !exchange.contains('\\')
}

/// One domain on its way through the lookups.
#[derive(Debug)]
pub struct DomainScan {
    target: Target,
    mx_only: bool,
    mx: Option<Arc<Outcome>>,
    exchanges: Vec<HostLookups>,
    implicit: Option<HostLookups>,
    pending: usize,
    /// DKIM selectors to probe when the policy stage runs (`--policy`).
    policy_selectors: Option<Arc<[String]>>,
    /// The policy stage, once the MX answer came back NOERROR.
    policy: Option<PolicyScan>,
}

impl DomainScan {
    /// A domain about to be scanned; `mx_only` skips every address lookup.
    pub fn new(target: Target, mx_only: bool) -> Self {
        Self {
            target,
            mx_only,
            mx: None,
            exchanges: Vec::new(),
            implicit: None,
            pending: 1,
            policy_selectors: None,
            policy: None,
        }
    }

    /// Run the policy stage too, probing these DKIM selectors.
    pub fn with_policy(mut self, selectors: Arc<[String]>) -> Self {
        self.policy_selectors = Some(selectors);
        self
    }

    /// The normalised name.
    pub fn domain(&self) -> &str {
        &self.target.domain
    }

    /// The first lookup: the domain's MX.
    pub fn start(&self) -> Need {
        Need { name: Arc::from(self.target.domain.as_str()), qtype: rtype::MX, shared: false }
    }

    /// All lookups (and the policy fetch) have come back.
    pub fn is_done(&self) -> bool {
        self.pending == 0 && self.policy.as_ref().is_none_or(PolicyScan::is_done)
    }

    /// The policy stage's HTTPS fetch, once, when it is due.
    pub fn take_fetch(&mut self) -> Option<FetchRequest> {
        self.policy.as_mut()?.take_fetch()
    }

    /// The policy fetch came back.
    pub fn on_fetch(&mut self, result: FetchResult) {
        if let Some(policy) = self.policy.as_mut() {
            policy.on_fetch(result);
        }
    }

    /// Take the outcome of `(name, qtype)`; return the lookups that follow
    /// from it.
    pub fn on_outcome(&mut self, name: &str, qtype: u16, outcome: &Arc<Outcome>) -> Vec<Need> {
        if let Some(needs) = self.policy.as_mut().and_then(|p| p.on_outcome(name, qtype, outcome)) {
            return needs;
        }
        if qtype == rtype::MX && self.mx.is_none() && name == self.target.domain {
            self.pending -= 1;
            self.mx = Some(Arc::clone(outcome));
            return self.after_mx(outcome);
        }
        if qtype == rtype::SOA {
            let mut taken = false;
            for host in &mut self.exchanges {
                if host.org.as_deref() == Some(name) && host.org_outcome.is_none() {
                    host.org_outcome = Some(Arc::clone(outcome));
                    taken = true;
                }
            }
            if taken {
                self.pending -= 1;
            }
            return Vec::new();
        }
        if let Some(host) = self.implicit.as_mut()
            && host.accept(name, qtype, outcome)
        {
            self.pending -= 1;
            return Vec::new();
        }
        let Some(i) = self.exchanges.iter_mut().position(|h| h.accept(name, qtype, outcome)) else {
            return Vec::new();
        };
        self.pending -= 1;
        self.check_org(i).into_iter().collect()
    }

    /// Once an exchange is known to be NXDOMAIN, ask whether its
    /// registrable domain exists (one SOA query per organisation, shared by
    /// the domain's exchanges and cached for the scan).
    fn check_org(&mut self, i: usize) -> Option<Need> {
        let host = &self.exchanges[i];
        if !host.complete() || host.status() != AddressStatus::NxDomain {
            return None;
        }
        let org = psl::domain_str(&host.name)?.to_string();
        if *org == *host.name {
            self.exchanges[i].org_is_self = true;
            return None;
        }
        let sibling = self.exchanges.iter().find(|h| h.org.as_deref() == Some(org.as_str()));
        let (asked, known) = match sibling {
            Some(h) => (true, h.org_outcome.clone()),
            None => (false, None),
        };
        let host = &mut self.exchanges[i];
        host.org = Some(org.clone());
        host.org_outcome = known;
        if asked {
            return None; // the sibling's question (or answer) serves both
        }
        self.pending += 1;
        Some(Need { name: Arc::from(org), qtype: rtype::SOA, shared: true })
    }

    fn after_mx(&mut self, outcome: &Outcome) -> Vec<Need> {
        if outcome.status != LookupStatus::NoError {
            return Vec::new();
        }
        let mut policy_needs = Vec::new();
        if let Some(selectors) = &self.policy_selectors {
            let exchanges: Vec<String> = outcome
                .answer
                .mx
                .iter()
                .map(|mx| mx.exchange.clone())
                .filter(|name| is_resolvable(name))
                .collect();
            let (policy, needs) = PolicyScan::start(&self.target.domain, &exchanges, selectors);
            self.policy = Some(policy);
            policy_needs = needs;
        }
        if self.mx_only {
            return policy_needs;
        }
        let mut needs = Vec::new();
        if outcome.answer.mx.is_empty() {
            let host = HostLookups::new(Arc::from(self.target.domain.as_str()));
            needs.extend(host.needs(false));
            self.implicit = Some(host);
        } else {
            for mx in &outcome.answer.mx {
                let name = &mx.exchange;
                if is_resolvable(name) && !self.exchanges.iter().any(|h| *h.name == **name) {
                    let host = HostLookups::new(Arc::from(name.as_str()));
                    needs.extend(host.needs(true));
                    self.exchanges.push(host);
                }
            }
        }
        self.pending += needs.len();
        needs.extend(policy_needs);
        needs
    }

    /// The output row, before analysis ([`crate::analyze::analyze`] adds
    /// providers and findings). `queries` and `elapsed_ms` come from the
    /// caller, who owns the clock; `resolvers` names the resolver indexes.
    pub fn into_record(self, queries: u16, elapsed_ms: u32, resolvers: &[Arc<str>]) -> DomainRecord {
        let Self { target, mx, exchanges, implicit, mx_only, policy, .. } = self;
        let mx = mx.expect("a finished domain has its MX outcome");
        let status = match mx.status {
            LookupStatus::NoError => Status::Ok,
            LookupStatus::NxDomain => Status::NxDomain,
            LookupStatus::ServFail => Status::ServFail,
            LookupStatus::Refused => Status::Refused,
            LookupStatus::Timeout => Status::Timeout,
            LookupStatus::Error => Status::Error,
        };
        let mut entries = if status == Status::Ok { mx_entries(&mx, &exchanges) } else { Vec::new() };
        entries.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
        assign_tiers(&mut entries);
        let implicit_status = implicit.as_ref().map(HostLookups::status);
        // Unknown is null, not false.
        let answered = status.knows_mx();
        let implicit_mx = match (status, implicit_status) {
            _ if !answered => None,
            // NXDOMAIN: no name, no addresses. MX present: the implicit MX
            // applies only when there is none (RFC 5321 §5.1).
            (Status::NxDomain, _) => Some(false),
            _ if !entries.is_empty() => Some(false),
            (_, Some(AddressStatus::Ok)) => Some(true),
            (_, Some(AddressStatus::NxDomain | AddressStatus::NoData)) => Some(false),
            // The domain's A/AAAA lookups failed, or were not made (`--mx-only`).
            _ => None,
        };
        DomainRecord {
            domain: Some(target.domain),
            input: target.input,
            rank: target.rank,
            line: target.line,
            status,
            error: mx.error.clone(),
            domain_cname: mx.answer.canonical.clone(),
            mx_ttl: if entries.is_empty() { None } else { mx.answer.ttl },
            null_mx: answered.then(|| entries.iter().any(|m| m.exchange == ".")),
            implicit_mx,
            mx: entries,
            findings: Vec::new(),
            queries,
            elapsed_ms,
            resolver: mx.resolver.and_then(|i| resolvers.get(i as usize)).cloned(),
            scanned_at_ms: crate::record::now_ms(),
            provider: None,
            provider_category: None,
            providers: Vec::new(),
            self_hosted: None,
            implicit_status,
            addresses_checked: !mx_only,
            mx_authenticated: policy.is_some().then_some(mx.answer.authenticated),
            policy: policy.map(|p| PolicyStage::Answers(Box::new(p.into_answers()))),
        }
    }
}

fn mx_entries(mx: &Outcome, exchanges: &[HostLookups]) -> Vec<MxEntry> {
    mx.answer
        .mx
        .iter()
        .map(|rr| {
            let host = exchanges.iter().find(|h| *h.name == *rr.exchange);
            let mut entry = MxEntry::new(rr.preference, rr.exchange.clone());
            if let Some(host) = host {
                for o in [&host.a, &host.aaaa].into_iter().flatten() {
                    entry.ipv4.extend_from_slice(&o.answer.ipv4);
                    entry.ipv6.extend_from_slice(&o.answer.ipv6);
                }
                sort_as_text(&mut entry.ipv4);
                entry.ipv4.dedup();
                sort_as_text(&mut entry.ipv6);
                entry.ipv6.dedup();
                entry.cname = host.canonical();
                entry.address_status = host.status();
                entry.org_nxdomain = host.org_nxdomain();
            }
            entry
        })
        .collect()
}

/// Tier = 1 + rank of the preference among the distinct values present
/// (entries must be sorted by preference). Saturates at 255.
pub fn assign_tiers(entries: &mut [MxEntry]) {
    let mut tier = 0u8;
    let mut last = None;
    for e in entries {
        if last != Some(e.preference) {
            tier = tier.saturating_add(1);
            last = Some(e.preference);
        }
        e.tier = tier;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::{Answer, MxRecord};

    fn target(d: &str) -> Target {
        Target { domain: d.into(), input: d.into(), rank: Some(3), line: 1 }
    }

    fn outcome(status: LookupStatus, answer: Answer) -> Arc<Outcome> {
        Arc::new(Outcome { status, answer, resolver: Some(0), error: None })
    }

    fn mx_answer(records: &[(u16, &str)]) -> Answer {
        Answer {
            mx: records.iter().map(|&(p, e)| MxRecord { preference: p, exchange: e.into() }).collect(),
            ttl: Some(300),
            ..Answer::default()
        }
    }

    fn a(addrs: &[&str]) -> Answer {
        Answer { ipv4: addrs.iter().map(|s| s.parse().unwrap()).collect(), ..Answer::default() }
    }

    #[test]
    fn exchanges_are_looked_up_once_and_tiered() {
        let mut scan = DomainScan::new(target("example.com"), false);
        assert_eq!(scan.start().qtype, rtype::MX);
        let needs = scan.on_outcome(
            "example.com",
            rtype::MX,
            &outcome(
                LookupStatus::NoError,
                mx_answer(&[
                    (20, "mx2.example.net"),
                    (10, "mx1.example.net"),
                    (30, "mx2.example.net"),
                    (10, "192.0.2.1"),
                ]),
            ),
        );
        let names: Vec<_> = needs.iter().map(|n| (&*n.name, n.qtype, n.shared)).collect();
        assert_eq!(
            names,
            vec![
                ("mx2.example.net", rtype::A, true),
                ("mx2.example.net", rtype::AAAA, true),
                ("mx1.example.net", rtype::A, true),
                ("mx1.example.net", rtype::AAAA, true),
            ]
        );
        for n in &needs {
            assert!(!scan.is_done());
            let ans = if n.qtype == rtype::A { a(&["45.0.0.9", "45.0.0.10"]) } else { Answer::default() };
            scan.on_outcome(&n.name, n.qtype, &outcome(LookupStatus::NoError, ans));
        }
        assert!(scan.is_done());
        let mut r = scan.into_record(5, 12, &["127.0.0.1:53".into()]);
        crate::analyze::analyze(&mut r, &crate::analyze::providers::ProviderTable::embedded());
        let rows: Vec<_> =
            r.mx.iter().map(|m| (m.preference, m.exchange.as_str(), m.tier, m.address_status)).collect();
        assert_eq!(
            rows,
            vec![
                (10, "192.0.2.1", 1, AddressStatus::Skipped),
                (10, "mx1.example.net", 1, AddressStatus::Ok),
                (20, "mx2.example.net", 2, AddressStatus::Ok),
                (30, "mx2.example.net", 3, AddressStatus::Ok),
            ]
        );
        assert_eq!(r.mx[1].ipv4[0].to_string(), "45.0.0.10", "sorted as text");
        assert_eq!(r.findings, vec!["mx_duplicate", "mx_is_ip_literal"]);
        assert_eq!((r.status, r.mx_ttl, r.queries), (Status::Ok, Some(300), 5));
    }

    #[test]
    fn no_mx_falls_back_to_the_domain_addresses() {
        let mut scan = DomainScan::new(target("example.org"), false);
        let needs =
            scan.on_outcome("example.org", rtype::MX, &outcome(LookupStatus::NoError, Answer::default()));
        assert_eq!(needs.len(), 2);
        assert!(needs.iter().all(|n| &*n.name == "example.org" && !n.shared));
        scan.on_outcome("example.org", rtype::A, &outcome(LookupStatus::NoError, a(&["45.9.9.9"])));
        scan.on_outcome("example.org", rtype::AAAA, &outcome(LookupStatus::NoError, Answer::default()));
        let mut r = scan.into_record(3, 1, &[]);
        crate::analyze::analyze(&mut r, &crate::analyze::providers::ProviderTable::embedded());
        assert_eq!(r.implicit_mx, Some(true));
        assert_eq!(r.findings, vec!["implicit_mx"]);
    }

    #[test]
    fn failures_stop_early_and_mx_only_asks_nothing_more() {
        let mut scan = DomainScan::new(target("gone.example"), false);
        assert!(
            scan.on_outcome("gone.example", rtype::MX, &outcome(LookupStatus::NxDomain, Answer::default()))
                .is_empty()
        );
        assert!(scan.is_done());
        assert_eq!(scan.into_record(1, 1, &[]).status, Status::NxDomain);

        let mut scan = DomainScan::new(target("example.com"), true);
        let needs = scan.on_outcome(
            "example.com",
            rtype::MX,
            &outcome(LookupStatus::NoError, mx_answer(&[(0, ".")])),
        );
        assert!(needs.is_empty() && scan.is_done());
        let mut r = scan.into_record(1, 1, &[]);
        crate::analyze::analyze(&mut r, &crate::analyze::providers::ProviderTable::embedded());
        assert!(r.null_mx == Some(true) && r.findings.is_empty());
        assert_eq!(r.implicit_mx, Some(false), "a null MX is an MX: no implicit MX");
    }

    /// Unknown is null, not false: `null_mx` and `implicit_mx` say "no"
    /// only when an answer says so.
    #[test]
    fn unknown_is_null() {
        let record = |mx_only: bool, mx: LookupStatus, answer: Answer, implicit: &[(u16, LookupStatus)]| {
            let mut scan = DomainScan::new(target("example.org"), mx_only);
            scan.on_outcome("example.org", rtype::MX, &outcome(mx, answer));
            for &(qtype, status) in implicit {
                scan.on_outcome("example.org", qtype, &outcome(status, Answer::default()));
            }
            let r = scan.into_record(1, 1, &[]);
            (r.null_mx, r.implicit_mx)
        };
        let (a, aaaa) = (rtype::A, rtype::AAAA);
        for failed in
            [LookupStatus::ServFail, LookupStatus::Refused, LookupStatus::Timeout, LookupStatus::Error]
        {
            assert_eq!(record(false, failed, Answer::default(), &[]), (None, None), "{failed:?}");
        }
        // NXDOMAIN is an answer: no MX of any kind, no address.
        assert_eq!(record(false, LookupStatus::NxDomain, Answer::default(), &[]), (Some(false), Some(false)));
        // MX present: no implicit MX, whether or not addresses were asked.
        for mx_only in [false, true] {
            let r = record(mx_only, LookupStatus::NoError, mx_answer(&[(10, "mx.example.net")]), &[]);
            assert_eq!(r, (Some(false), Some(false)));
        }
        // No MX: the implicit MX needs the domain's own A/AAAA answers.
        let no_mx = || Answer::default();
        assert_eq!(record(true, LookupStatus::NoError, no_mx(), &[]), (Some(false), None), "--mx-only");
        let both = [(a, LookupStatus::NoError), (aaaa, LookupStatus::NoError)];
        assert_eq!(record(false, LookupStatus::NoError, no_mx(), &both), (Some(false), Some(false)));
        let failed = [(a, LookupStatus::Timeout), (aaaa, LookupStatus::NoError)];
        assert_eq!(record(false, LookupStatus::NoError, no_mx(), &failed), (Some(false), None));
    }

    #[test]
    fn address_status_combination() {
        let mut h = HostLookups::new("mx.example".into());
        h.a = Some(outcome(LookupStatus::NoError, Answer::default()));
        h.aaaa = Some(outcome(LookupStatus::Timeout, Answer::default()));
        assert_eq!(h.status(), AddressStatus::Timeout);
        h.a = Some(outcome(LookupStatus::NxDomain, Answer::default()));
        assert_eq!(h.status(), AddressStatus::NxDomain);
        h.a = Some(outcome(LookupStatus::NoError, a(&["45.1.1.1"])));
        assert_eq!(h.status(), AddressStatus::Ok);
        h.a = Some(outcome(LookupStatus::NoError, Answer::default()));
        h.aaaa = Some(outcome(LookupStatus::NoError, Answer::default()));
        assert_eq!(h.status(), AddressStatus::NoData);
    }
}
