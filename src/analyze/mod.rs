//! Analysis of a domain's row: who runs each exchange (provider
//! fingerprints, registrable domains) and what is broken or risky (the
//! findings catalogue). Pure functions of the row; run on the writer
//! thread, off the query engine's path.

pub mod address;
pub mod findings;
pub mod providers;

use std::sync::Arc;

use crate::record::DomainRecord;
use providers::ProviderTable;

/// Fill in the analysis columns and every finding.
pub fn analyze(record: &mut DomainRecord, table: &ProviderTable) {
    let domain_org = record.domain.as_deref().and_then(psl::domain_str);
    for m in &mut record.mx {
        if m.is_null() || address::is_ip_literal(&m.exchange) {
            continue;
        }
        if let Some(p) = table.match_host(&m.exchange) {
            m.provider = Some(Arc::clone(&p.id));
            m.category = Some(p.category);
        }
        m.org_domain = psl::domain_str(&m.exchange).map(str::to_string);
    }

    // The provider that receives the mail first: most tier-1 exchanges,
    // ties to the smallest id (deterministic across runs).
    let mut counts: Vec<(&Arc<str>, usize)> = Vec::new();
    for m in record.mx.iter().filter(|m| m.tier == 1) {
        if let Some(p) = &m.provider {
            match counts.iter_mut().find(|(q, _)| *q == p) {
                Some((_, n)) => *n += 1,
                None => counts.push((p, 1)),
            }
        }
    }
    let first =
        counts.iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0))).map(|(p, _)| Arc::clone(p));
    record.provider_category = first.as_ref().and_then(|p| table.get(p)).map(|p| p.category);
    record.provider = first;

    record.providers.clear();
    for m in &record.mx {
        if let Some(p) = &m.provider
            && !record.providers.contains(p)
        {
            record.providers.push(Arc::clone(p));
        }
    }
    let mut real = record.mx.iter().filter(|m| !m.is_null()).peekable();
    record.self_hosted =
        real.peek().is_some() && domain_org.is_some() && real.all(|m| m.org_domain.as_deref() == domain_org);

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
        assert!(!r.self_hosted);
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
        assert!(r.self_hosted);
        assert_eq!(r.mx[0].org_domain.as_deref(), Some("example.co.uk"));
        let mut r = row("example.com", &[(0, 1, ".")]);
        analyze(&mut r, &t);
        assert!(!r.self_hosted, "a null MX hosts nothing");
        assert_eq!(r.mx[0].org_domain, None);
    }
}
