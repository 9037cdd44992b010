//! `mxscan lookup`: a few domains, printed for people.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use super::args::LookupArgs;
use mxscan::analyze::findings;
use mxscan::input::{Item, Target, normalize};
use mxscan::output::jsonl::to_json;
use mxscan::policy::report::{PolicyReport, PolicyStage};
use mxscan::record::{DomainRecord, Status};
use mxscan::scan::{self, Collect, Counters, ScanConfig, Source};

pub(crate) fn run(args: LookupArgs) -> Result<ExitCode> {
    let cfg = ScanConfig {
        resolvers: super::resolvers(&args.resolver)?,
        rate: 100,
        concurrency: 64,
        timeout: args.resolver.timeout,
        retries: args.resolver.retries,
        sockets: 1,
        providers: Arc::new(super::provider_table(&args.resolver)?),
        // `lookup` always checks the mail policy.
        policy: Some(super::policy_config(&args.policy_options)?),
        // A few names: one engine thread has time to spare.
        engines: 1,
        ..ScanConfig::default()
    };
    let items: Vec<Item> = args
        .domains
        .iter()
        .zip(1..)
        .map(|(d, line)| match normalize(d) {
            Ok(domain) => Item::Target(Target { domain, input: d.clone(), rank: None, line }),
            Err(reason) => Item::Invalid { input: d.clone(), rank: None, reason, line },
        })
        .collect();
    let rows = Collect::default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (_keep, interrupts) = tokio::sync::watch::channel(0u8);
    runtime.block_on(scan::run(
        &cfg,
        Source::Items(items),
        Box::new(rows.clone()),
        Arc::new(Counters::default()),
        interrupts,
    ))?;

    let mut rows = std::mem::take(&mut *rows.0.lock().expect("not poisoned"));
    // In the order asked.
    rows.sort_by_key(|r| args.domains.iter().position(|d| *d == r.input));
    for row in &rows {
        if args.json {
            println!("{}", to_json(row));
        } else {
            print!("{}", render(row));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The text view of one row.
pub(crate) fn render(r: &DomainRecord) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let name = r.domain.as_deref().unwrap_or(&r.input);
    let _ = write!(s, "{name}  {}", r.status.as_str());
    if r.status == Status::Invalid {
        let _ = writeln!(s, ": {}", r.error.as_deref().unwrap_or(""));
        return s;
    }
    let _ = writeln!(
        s,
        "  ({} queries, {} ms{})",
        r.queries,
        r.elapsed_ms,
        r.resolver.as_deref().map(|x| format!(", via {x}")).unwrap_or_default()
    );
    if let Some(e) = &r.error {
        let _ = writeln!(s, "  error: {e}");
    }
    if let Some(c) = &r.domain_cname {
        let _ = writeln!(s, "  alias of {c}");
    }
    if r.null_mx == Some(true) {
        let _ = writeln!(s, "  null MX: the domain accepts no mail (RFC 7505)");
    }
    if let Some(p) = &r.provider {
        let category = r.provider_category.map(|c| c.as_str()).unwrap_or("?");
        let _ = write!(s, "  mail goes first to {p} ({category})");
        if r.providers.len() > 1 {
            let all: Vec<&str> = r.providers.iter().map(|p| &**p).collect();
            let _ = write!(s, "; all providers: {}", all.join(", "));
        }
        let _ = writeln!(s);
    } else if r.self_hosted == Some(true) {
        let _ = writeln!(s, "  self-hosted (every exchange under the domain's own registrable domain)");
    }
    if r.implicit_mx == Some(true) {
        let _ = writeln!(s, "  no MX: mail goes to the domain's own address (implicit MX)");
    } else if r.status == Status::Ok && r.mx.is_empty() {
        let _ = writeln!(s, "  no MX records");
    }
    for m in &r.mx {
        let addrs: Vec<String> =
            m.ipv4.iter().map(ToString::to_string).chain(m.ipv6.iter().map(ToString::to_string)).collect();
        let _ = write!(s, "  {:<10} {:>5}  {}", mxscan::record::tier_name(m.tier), m.preference, m.exchange);
        if let Some(c) = &m.cname {
            let _ = write!(s, " → {c}");
        }
        if addrs.is_empty() {
            let _ = write!(s, "  [{}]", m.address_status.as_str());
        } else {
            let _ = write!(s, "  {}", addrs.join(", "));
        }
        match (&m.provider, m.category, &m.org_domain) {
            (Some(p), Some(c), _) => {
                let _ = writeln!(s, "  ({p}, {})", c.as_str());
            }
            (_, _, Some(org)) => {
                let _ = writeln!(s, "  ({org})");
            }
            _ => {
                let _ = writeln!(s);
            }
        }
    }
    if let Some(PolicyStage::Report(policy)) = &r.policy {
        render_policy(&mut s, r, policy);
    }
    for code in &r.findings {
        if let Some(f) = findings::lookup(code) {
            let _ = writeln!(s, "  {:<8} {code}: {} ({})", f.severity.as_str(), f.summary, f.reference);
            let _ = writeln!(s, "           fix: {}", f.fix);
        }
    }
    s
}

/// The policy stage, one line per mechanism, with the facts behind its
/// findings (the findings themselves follow, each with its rule).
fn render_policy(s: &mut String, r: &DomainRecord, p: &PolicyReport) {
    use std::fmt::Write;
    let spf = &p.spf;
    let _ = write!(s, "  SPF      {}", spf.status.as_str());
    if let Some(record) = &spf.record {
        let _ = write!(s, ": {record}");
    }
    let _ = writeln!(s, "  [{} of 10 lookups, {} of 2 void]", spf.lookups, spf.void_lookups);
    for e in &spf.errors {
        let _ = writeln!(s, "           ! {e}");
    }
    let d = &p.dmarc;
    let _ = write!(s, "  DMARC    {}", d.status.as_str());
    if let (Some(record), Some(at)) = (&d.record, &d.found_at) {
        let _ = write!(s, ": {record}  (at {at})");
    }
    let _ = writeln!(s);
    for e in d.errors.iter().chain(d.rua_unauthorized.iter().map(|u| u as &String)) {
        let _ = writeln!(s, "           ! {e}");
    }
    let m = &p.mta_sts;
    let _ = write!(s, "  MTA-STS  {}", m.status.as_str());
    if let Some(mode) = m.mode {
        let _ = write!(s, ": mode {}", mode.as_str());
    }
    if let Some(age) = m.max_age {
        let _ = write!(s, ", max_age {age} s");
    }
    if let Some(coverage) = m.mx_coverage {
        let _ = write!(s, ", covers {:.0} % of the MX hosts", coverage * 100.0);
    }
    if let Some(days) = m.cert_days_left {
        let _ = write!(s, ", certificate {days} days left");
    }
    let _ = writeln!(s);
    if let Some(e) = &m.fetch_error {
        let _ = writeln!(s, "           ! policy fetch: {e}");
    }
    for host in &m.mx_uncovered {
        let _ = writeln!(s, "           ! {host} matches no mx pattern");
    }
    for pattern in &m.patterns_unused {
        let _ = writeln!(s, "           ! pattern {pattern} matches no MX host");
    }
    let t = &p.tlsrpt;
    let _ = writeln!(
        s,
        "  TLS-RPT  {}{}",
        t.status.as_str(),
        if t.rua.is_empty() { String::new() } else { format!(": {}", t.rua.join(", ")) }
    );
    let dnssec = match r.mx_authenticated {
        Some(true) => "MX answer DNSSEC-authenticated",
        Some(false) => "MX answer not authenticated",
        None => "MX authentication unknown",
    };
    let _ = writeln!(s, "  DANE     {dnssec}");
    for mx in r.mx.iter().filter(|m| !m.tlsa.is_empty()) {
        let ad = if mx.tlsa_authenticated == Some(true) { "authenticated" } else { "not authenticated" };
        let _ = writeln!(s, "           {}: {} TLSA ({ad})", mx.exchange, mx.tlsa.len());
    }
    for key in &p.dkim {
        let bits = key.key_bits.map(|b| format!(" {b} bits")).unwrap_or_default();
        let _ = writeln!(
            s,
            "  DKIM     {}: {} {}{bits}{}",
            key.selector,
            key.status.as_str(),
            key.key_type.as_deref().unwrap_or("?"),
            if key.testing { " (testing)" } else { "" }
        );
    }
}
