//! Analysis of a domain's row: who runs each exchange (provider
//! fingerprints, registrable domains) and what is broken or risky (the
//! findings catalogue). Pure functions of the row; run on the writer
//! thread, off the query engine's path.

pub mod address;
pub mod findings;
pub mod providers;

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::policy::report::{self, PolicyStage};
use crate::record::DomainRecord;
use providers::{Category, ProviderTable};

/// What is known about one exchange name, whoever uses it.
#[derive(Debug, Clone, Default)]
struct ExchangeInfo {
    provider: Option<(Arc<str>, Category)>,
    org_domain: Option<Arc<str>>,
}

fn exchange_info(exchange: &str, table: &ProviderTable) -> ExchangeInfo {
    if exchange == "." || address::is_ip_literal(exchange) {
        return ExchangeInfo::default();
    }
    ExchangeInfo {
        provider: table.match_host(exchange).map(|p| (Arc::clone(&p.id), p.category)),
        org_domain: psl::domain_str(exchange).map(Arc::from),
    }
}

/// The analysis of a scan's rows, remembering each exchange it has seen:
/// millions of domains share a few thousand provider hosts, so most rows
/// are answered from the map (bounded: cleared when full).
#[derive(Debug)]
pub struct Analyzer {
    table: Arc<ProviderTable>,
    seen: FxHashMap<Box<str>, ExchangeInfo>,
}

impl Analyzer {
    /// Exchange names remembered at most.
    const CAPACITY: usize = 65_536;

    /// An analyzer over `table`.
    pub fn new(table: Arc<ProviderTable>) -> Self {
        Self { table, seen: FxHashMap::default() }
    }

    /// Fill in the analysis columns and every finding of `record`.
    pub fn analyze(&mut self, record: &mut DomainRecord) {
        let Self { table, seen } = self;
        fill(record, |exchange| {
            if let Some(info) = seen.get(exchange) {
                return info.clone();
            }
            if seen.len() >= Self::CAPACITY {
                seen.clear();
            }
            let info = exchange_info(exchange, table);
            seen.insert(exchange.into(), info.clone());
            info
        });
    }
}

/// Fill in the analysis columns and every finding (no memory between rows;
/// [`Analyzer`] is the fast path for a whole scan).
pub fn analyze(record: &mut DomainRecord, table: &ProviderTable) {
    fill(record, |exchange| exchange_info(exchange, table));
}

fn fill(record: &mut DomainRecord, mut info: impl FnMut(&str) -> ExchangeInfo) {
    let domain_org = record.domain.as_deref().and_then(psl::domain_str);
    for m in &mut record.mx {
        let ExchangeInfo { provider, org_domain } = info(&m.exchange);
        (m.provider, m.category) = match provider {
            Some((id, category)) => (Some(id), Some(category)),
            None => (None, None),
        };
        m.org_domain = org_domain;
    }

    // The provider that receives the mail first: most tier-1 exchanges,
    // ties to the smallest id (deterministic across runs).
    let mut counts: Vec<(&Arc<str>, Option<Category>, usize)> = Vec::new();
    for m in record.mx.iter().filter(|m| m.tier == 1) {
        if let Some(p) = &m.provider {
            match counts.iter_mut().find(|(q, _, _)| *q == p) {
                Some((_, _, n)) => *n += 1,
                None => counts.push((p, m.category, 1)),
            }
        }
    }
    let first = counts.iter().max_by(|a, b| a.2.cmp(&b.2).then_with(|| b.0.cmp(a.0)));
    record.provider_category = first.and_then(|(_, c, _)| *c);
    record.provider = first.map(|(p, _, _)| Arc::clone(p));

    record.providers.clear();
    for m in &record.mx {
        if let Some(p) = &m.provider
            && !record.providers.contains(p)
        {
            record.providers.push(Arc::clone(p));
        }
    }
    let mut real = record.mx.iter().filter(|m| !m.is_null()).peekable();
    // Unknown exchanges (the MX lookup failed) tell nothing: null, not false.
    record.self_hosted = record.knows_mx().then(|| {
        real.peek().is_some() && domain_org.is_some() && real.all(|m| m.org_domain.as_deref() == domain_org)
    });

    if let Some(PolicyStage::Answers(answers)) = &record.policy {
        let report = report::build(answers, &mut record.mx, record.mx_authenticated, record.scanned_at_ms);
        record.policy = Some(PolicyStage::Report(Box::new(report)));
    }

    record.findings = findings::detect(record);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AddressStatus, MxEntry, Status};

    fn row(domain: &str, mx: &[(u16, u8, &str)]) -> DomainRecord {
        let mut r = DomainRecord::invalid(domain.into(), None, String::new());
        r.domain = Some(domain.into());
        r.status = Status::Ok;
        r.error = None;
        r.addresses_checked = true;
        r.mx = mx
            .iter()
            .map(|&(p, tier, e)| MxEntry {
                tier,
                address_status: AddressStatus::Ok,
                ..MxEntry::new(p, e.into())
            })
            .collect();
        r
    }

    const TABLE: &str = r#"
[[provider]]
id = "google"
name = "Google"
category = "mailbox"
suffixes = ["google.com"]
[[provider]]
id = "microsoft"
name = "Microsoft"
category = "mailbox"
suffixes = ["mail.protection.outlook.com"]
[[provider]]
id = "mimecast"
name = "Mimecast"
category = "gateway"
suffixes = ["mimecast.com"]
"#;

    #[test]
    fn provider_columns() {
        let t = ProviderTable::from_toml(TABLE).unwrap();
        // Tier-1 tie between google and microsoft: the smallest id wins.
        let mut r = row(
            "example.co.uk",
            &[
                (5, 1, "aspmx.l.google.com"),
                (5, 1, "x.mail.protection.outlook.com"),
                (9, 2, "eu.mimecast.com"),
            ],
        );
        analyze(&mut r, &t);
        assert_eq!(r.provider.as_deref(), Some("google"));
        assert_eq!(r.provider_category.map(|c| c.as_str()), Some("mailbox"));
        let ids: Vec<&str> = r.providers.iter().map(|p| &**p).collect();
        assert_eq!(ids, vec!["google", "microsoft", "mimecast"]);
        assert_eq!(r.mx[2].org_domain.as_deref(), Some("mimecast.com"));
        assert_eq!(r.self_hosted, Some(false));
        assert!(r.findings.contains(&"mixed_providers"));

        // Unknown tier 1: no provider, though tier 2 has one.
        let mut r =
            row("shop.example.co.uk", &[(1, 1, "mx.hoster.example"), (2, 2, "alt1.aspmx.l.google.com")]);
        analyze(&mut r, &t);
        assert_eq!(r.provider, None);
        assert_eq!(r.providers.len(), 1);
        assert_eq!(r.mx[0].org_domain.as_deref(), Some("hoster.example"));

        // Self-hosted: every exchange under the domain's registrable domain.
        let mut r =
            row("www.example.co.uk", &[(1, 1, "mx1.example.co.uk"), (2, 2, "mx2.mail.example.co.uk")]);
        analyze(&mut r, &t);
        assert_eq!(r.self_hosted, Some(true));
        assert_eq!(r.mx[0].org_domain.as_deref(), Some("example.co.uk"));
        let mut r = row("example.com", &[(0, 1, ".")]);
        analyze(&mut r, &t);
        assert_eq!(r.self_hosted, Some(false), "a null MX hosts nothing");
        assert_eq!(r.mx[0].org_domain, None);

        // The MX lookup failed: whether it is self-hosted is unknown (null),
        // not "no"; NXDOMAIN is an answer (no exchange at all: false).
        for (status, want) in
            [(Status::Timeout, None), (Status::ServFail, None), (Status::NxDomain, Some(false))]
        {
            let mut r = row("www.example.co.uk", &[]);
            r.status = status;
            analyze(&mut r, &t);
            assert_eq!(r.self_hosted, want, "{status:?}");
        }
        let mut r = DomainRecord::invalid("not a name!".into(), None, "x".into());
        analyze(&mut r, &t);
        assert_eq!(r.self_hosted, None, "nothing was asked for an invalid line");
    }
}
