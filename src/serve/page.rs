//! The pages, rendered on the server. Every piece of data goes through
//! [`esc`]; the markup around it is constant. The look is in
//! `assets/style.css` (light and dark), the one script in `assets/app.js`.

use std::fmt::Write;

use crate::analyze::findings::{self, Severity};
use crate::analyze::providers::ProviderTable;
use crate::policy::report::{PolicyReport, PolicyStage};
use crate::record::{DomainRecord, Status};

/// The stylesheet.
pub(crate) const STYLE: &str = include_str!("assets/style.css");
/// The script (theme switch; nothing the page needs to work).
pub(crate) const SCRIPT: &str = include_str!("assets/app.js");

/// Text safe inside HTML text and attribute values (the report's escaper).
pub(crate) use crate::report::esc;

/// A host name, escaped, with a line-break opportunity after each dot: a
/// long exchange name wraps at its labels, not inside them.
fn host(name: &str) -> String {
    esc(name).replace('.', ".<wbr>")
}

/// Catalogue text (escaped) with its `code spans` as `<code>`.
fn prose(text: &str) -> String {
    let escaped = esc(text);
    // Odd parts were between backticks; with an unpaired one all stay literal.
    let paired = escaped.matches('`').count().is_multiple_of(2);
    let mut out = String::with_capacity(escaped.len() + 16);
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 && paired {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            if i % 2 == 1 {
                out.push('`');
            }
            out.push_str(part);
        }
    }
    out
}

/// The RFC Editor's page for the first `RFC N [§x.y]` of a catalogue
/// reference, at the section when one is named.
pub(crate) fn rfc_url(reference: &str) -> Option<String> {
    let at = reference.find("RFC ")?;
    let rest = &reference[at + 4..];
    let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if number.is_empty() {
        return None;
    }
    let after = rest[number.len()..].trim_start();
    let section: String = after
        .strip_prefix('§')
        .map(|s| s.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect::<String>())
        .map(|s| s.trim_end_matches('.').to_string())
        .unwrap_or_default();
    Some(if section.is_empty() {
        format!("https://www.rfc-editor.org/rfc/rfc{number}")
    } else {
        format!("https://www.rfc-editor.org/rfc/rfc{number}#section-{section}")
    })
}

pub(super) fn layout(title: &str, query: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · mxscan</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/static/style.css\"><script src=\"/static/app.js\" defer></script></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><a class=\"brand\" href=\"/\">mxscan</a><nav><a href=\"/scan\">Scan</a></nav>\
         <button type=\"button\" id=\"theme\" class=\"theme\" aria-label=\"Switch between light and dark theme\">◐</button>\
         <form class=\"lookup\" action=\"/\" method=\"get\" role=\"search\">\
         <label for=\"q\" class=\"visually-hidden\">Domains to look up</label>\
         <input id=\"q\" name=\"q\" type=\"search\" value=\"{query}\" placeholder=\"example.com (or a list)\" \
         autocomplete=\"off\" spellcheck=\"false\" required>\
         <button type=\"submit\">Look up</button></form></header><main id=\"main\">{body}</main>\
         <footer>mxscan {version} · findings carry their rule; codes as in <a href=\"/api/findings\">/api/findings</a></footer>\
         </body></html>\n",
        title = esc(title),
        query = esc(query),
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// The start page, with the form's text and an error to show.
pub(crate) fn home(query: &str, error: Option<&str>) -> String {
    let mut body = String::from("<h1>Mail exchangers of a domain</h1>");
    if let Some(error) = error {
        let _ = write!(body, "<p class=\"alert\" role=\"alert\">{}</p>", esc(error));
    }
    body.push_str(
        "<p>Type a domain above: its MX records by tier with preferences and addresses, who runs them, null and \
         implicit MX, what is broken or risky with the rule behind each finding, and its mail policy (SPF, DMARC, \
         MTA-STS, TLS-RPT, DANE). Paste several names (spaces, commas or new lines) for a table.</p>",
    );
    let _ = write!(body, "<p>At most {} names at once.</p>", super::MAX_NAMES);
    layout("Lookup", query, &body)
}

/// A short page that says one thing (errors, not found).
pub(crate) fn message(title: &str, text: &str) -> String {
    layout(title, "", &format!("<h1>{}</h1><p class=\"alert\" role=\"alert\">{}</p>", esc(title), esc(text)))
}

fn status_badge(status: Status) -> String {
    let class = if status == Status::Ok { "ok" } else { "bad" };
    format!("<span class=\"badge {class}\">{}</span>", esc(status.as_str()))
}

/// Icon and word for a severity: the meaning survives without colour.
fn severity_mark(severity: Severity) -> (&'static str, &'static str) {
    match severity {
        Severity::Error => ("✖", "Error"),
        Severity::Warning => ("▲", "Warning"),
        Severity::Info => ("ℹ", "Info"),
    }
}

fn provider_name(table: &ProviderTable, id: &str) -> String {
    table.get(id).map_or_else(|| id.to_string(), |p| p.name.clone())
}

/// Both forms of a name that has an IDN label.
fn name_forms(name: &str) -> (String, Option<String>) {
    let (unicode, result) = idna::domain_to_unicode(name);
    if result.is_ok() && unicode != name {
        (unicode, Some(name.to_string()))
    } else {
        (name.to_string(), None)
    }
}

/// What the row says about where mail goes, in a sentence or two.
fn verdict(r: &DomainRecord, table: &ProviderTable) -> String {
    match r.status {
        Status::Invalid => return format!("Not a domain name: {}.", esc(r.error.as_deref().unwrap_or("?"))),
        Status::NxDomain => return "The domain does not exist (NXDOMAIN): mail to it bounces.".into(),
        Status::Ok => {}
        other => {
            return format!(
                "The MX lookup failed ({}){}: nothing can be said about this domain's mail until it answers.",
                esc(other.as_str()),
                r.error.as_deref().map(|e| format!(": {}", esc(e))).unwrap_or_default()
            );
        }
    }
    let mut s = String::new();
    if let Some(target) = &r.domain_cname {
        let _ = write!(s, "The domain is an alias of <code>{}</code>; its MX is the target's. ", esc(target));
    }
    if r.null_mx == Some(true) {
        s.push_str("<strong>Null MX</strong>: the domain says it accepts no mail (RFC 7505). ");
    }
    if r.implicit_mx == Some(true) {
        s.push_str(
            "<strong>No MX records</strong>, but the domain has an address: senders deliver to the domain itself \
             (implicit MX, RFC 5321 §5.1). ",
        );
    } else if r.mx.is_empty() && r.null_mx != Some(true) {
        s.push_str(
            "<strong>No MX records</strong> and no address: mail to this domain cannot be delivered. ",
        );
    }
    if let Some(id) = &r.provider {
        let category = r.provider_category.map_or("?", |c| c.as_str());
        let _ = write!(
            s,
            "Mail goes first to <strong>{}</strong> ({}).",
            esc(&provider_name(table, id)),
            esc(category)
        );
        if r.providers.len() > 1 {
            let all: Vec<String> = r.providers.iter().map(|p| esc(&provider_name(table, p))).collect();
            let _ = write!(s, " All providers: {}.", all.join(", "));
        }
    } else if r.self_hosted == Some(true) {
        s.push_str("Self-hosted: every exchange is under the domain's own registrable domain.");
    } else if !r.mx.is_empty() && r.null_mx != Some(true) {
        s.push_str("The exchanges match no known provider.");
    }
    s
}

fn tiers_table(r: &DomainRecord, table: &ProviderTable) -> String {
    if r.mx.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<section aria-labelledby=\"tiers\"><h2 id=\"tiers\">Exchangers by tier</h2><div class=\"scroll\">\
         <table class=\"tiers\"><thead><tr><th scope=\"col\">Tier</th><th scope=\"col\" class=\"num\">Preference</th>\
         <th scope=\"col\">Exchange</th><th scope=\"col\">Addresses</th><th scope=\"col\">Provider</th>\
         <th scope=\"col\">Category</th><th scope=\"col\">CNAME</th><th scope=\"col\">Address lookup</th></tr></thead><tbody>",
    );
    for m in &r.mx {
        let addrs: Vec<String> =
            m.ipv4.iter().map(ToString::to_string).chain(m.ipv6.iter().map(ToString::to_string)).collect();
        let tier_class = format!("tier-{}", m.tier.min(4));
        let _ = write!(
            s,
            "<tr class=\"{tier_class}\"><td><span class=\"tier\">{tier}</span></td><td class=\"num\">{pref}</td>\
             <td><code>{exchange}</code></td><td>{addrs}</td><td>{provider}</td><td>{category}</td><td>{cname}</td>\
             <td><span class=\"badge {status_class}\">{status}</span></td></tr>",
            tier = esc(&crate::record::tier_name(m.tier)),
            pref = m.preference,
            exchange = host(if m.exchange.is_empty() { "." } else { &m.exchange }),
            addrs = if addrs.is_empty() {
                "—".into()
            } else {
                addrs.iter().map(|a| esc(a)).collect::<Vec<_>>().join("<br>")
            },
            provider = m.provider.as_deref().map_or_else(
                || m.org_domain
                    .as_deref()
                    .map_or("—".into(), |o| format!("<span class=\"muted\">{}</span>", esc(o))),
                |p| esc(&provider_name(table, p))
            ),
            category = esc(m.category.map_or("—", |c| c.as_str())),
            cname = m.cname.as_deref().map_or("—".into(), |c| format!("<code>{}</code>", esc(c))),
            status_class = if m.address_status.as_str() == "ok" { "ok" } else { "bad" },
            status = esc(m.address_status.as_str()),
        );
    }
    s.push_str("</tbody></table></div></section>");
    s
}

fn findings_section(r: &DomainRecord) -> String {
    let mut s = String::from("<section aria-labelledby=\"findings\"><h2 id=\"findings\">Findings</h2>");
    if r.findings.is_empty() {
        s.push_str("<p class=\"none\">No findings.</p></section>");
        return s;
    }
    for severity in [Severity::Error, Severity::Warning, Severity::Info] {
        let list: Vec<&findings::Finding> = r
            .findings
            .iter()
            .filter_map(|c| findings::lookup(c))
            .filter(|f| f.severity == severity)
            .collect();
        if list.is_empty() {
            continue;
        }
        let (icon, word) = severity_mark(severity);
        let class = severity.as_str();
        let _ = write!(
            s,
            "<h3 class=\"sev-{class}\"><span class=\"icon\" aria-hidden=\"true\">{icon}</span> {word} ({n})</h3>\
             <ul class=\"findings sev-{class}\">",
            n = list.len()
        );
        for f in list {
            let rule = match rfc_url(f.reference) {
                Some(url) => {
                    format!("<a href=\"{}\" rel=\"noopener noreferrer\">{}</a>", esc(&url), esc(f.reference))
                }
                None if f.reference == "—" => "no RFC rule: operational practice".into(),
                None => esc(f.reference),
            };
            let _ = write!(
                s,
                "<li id=\"f-{code}\"><span class=\"icon\" aria-hidden=\"true\">{icon}</span> \
                 <span class=\"sev\">{word}</span> <code>{code}</code>: {summary}\
                 <p class=\"fix\"><strong>Fix:</strong> {fix}</p><p class=\"rule\">Rule: {rule}</p></li>",
                code = esc(f.code),
                summary = prose(f.summary),
                fix = prose(f.fix),
            );
        }
        s.push_str("</ul>");
    }
    s.push_str("</section>");
    s
}

fn policy_section(r: &DomainRecord) -> String {
    let Some(PolicyStage::Report(p)) = &r.policy else { return String::new() };
    let p: &PolicyReport = p;
    let mut rows: Vec<(&str, String, String)> = Vec::new();
    let list = |items: &[String]| {
        items.iter().map(|e| format!("<br><span class=\"muted\">! {}</span>", esc(e))).collect::<String>()
    };
    let spf = &p.spf;
    rows.push((
        "SPF",
        spf.status.as_str().to_string(),
        format!(
            "{}<br><span class=\"muted\">{} of 10 lookups, {} of 2 void</span>{}",
            spf.record.as_deref().map_or("—".into(), |r| format!("<code>{}</code>", esc(r))),
            spf.lookups,
            spf.void_lookups,
            list(&spf.errors)
        ),
    ));
    let d = &p.dmarc;
    let mut dmarc_notes: Vec<String> = d.errors.clone();
    dmarc_notes.extend(d.rua_unauthorized.iter().map(|u| format!("report destination not authorised: {u}")));
    rows.push((
        "DMARC",
        d.status.as_str().to_string(),
        format!(
            "{}{}{}",
            d.record.as_deref().map_or("—".into(), |r| format!("<code>{}</code>", esc(r))),
            d.found_at
                .as_deref()
                .map(|at| format!(" <span class=\"muted\">at {}</span>", esc(at)))
                .unwrap_or_default(),
            list(&dmarc_notes)
        ),
    ));
    let m = &p.mta_sts;
    let mut facts = Vec::new();
    if let Some(mode) = m.mode {
        facts.push(format!("mode {}", mode.as_str()));
    }
    if let Some(age) = m.max_age {
        facts.push(format!("max_age {age} s"));
    }
    if let Some(c) = m.mx_coverage {
        facts.push(format!("covers {:.0} % of the MX hosts", c * 100.0));
    }
    if let Some(days) = m.cert_days_left {
        facts.push(format!("certificate: {days} days left"));
    }
    let mut notes: Vec<String> = m.fetch_error.iter().map(|e| format!("policy fetch: {e}")).collect();
    notes.extend(m.mx_uncovered.iter().map(|h| format!("{h} matches no mx pattern")));
    notes.extend(m.patterns_unused.iter().map(|p| format!("pattern {p} matches no MX host")));
    rows.push((
        "MTA-STS",
        m.status.as_str().to_string(),
        format!("{}{}", if facts.is_empty() { "—".into() } else { esc(&facts.join(", ")) }, list(&notes)),
    ));
    let t = &p.tlsrpt;
    rows.push((
        "TLS-RPT",
        t.status.as_str().to_string(),
        if t.rua.is_empty() { "—".into() } else { esc(&t.rua.join(", ")) },
    ));
    let dane: Vec<String> = r
        .mx
        .iter()
        .filter(|m| !m.tlsa.is_empty())
        .map(|m| {
            let ad = if m.tlsa_authenticated == Some(true) { "authenticated" } else { "not authenticated" };
            format!("<code>{}</code>: {} TLSA ({ad})", esc(&m.exchange), m.tlsa.len())
        })
        .collect();
    let mx_ad = match r.mx_authenticated {
        Some(true) => "MX answer DNSSEC-authenticated",
        Some(false) => "MX answer not authenticated",
        None => "MX authentication unknown",
    };
    rows.push((
        "DANE",
        if dane.is_empty() { "none".into() } else { "tlsa".into() },
        format!("{mx_ad}{}", dane.iter().map(|d| format!("<br>{d}")).collect::<String>()),
    ));
    for key in &p.dkim {
        rows.push((
            "DKIM",
            key.status.as_str().to_string(),
            format!(
                "selector <code>{}</code>: {}{}{}",
                esc(&key.selector),
                esc(key.key_type.as_deref().unwrap_or("?")),
                key.key_bits.map(|b| format!(", {b} bits")).unwrap_or_default(),
                if key.testing { " (testing)" } else { "" }
            ),
        ));
    }
    let mut s = String::from(
        "<section aria-labelledby=\"policy\"><h2 id=\"policy\">Mail policy</h2><div class=\"scroll\"><table class=\"policy\">\
         <thead><tr><th scope=\"col\">Mechanism</th><th scope=\"col\">Status</th><th scope=\"col\">Record and facts</th></tr></thead><tbody>",
    );
    for (name, status, detail) in rows {
        let _ = write!(
            s,
            "<tr><th scope=\"row\">{name}</th><td><span class=\"badge\">{}</span></td><td>{detail}</td></tr>",
            esc(&status)
        );
    }
    s.push_str("</tbody></table></div></section>");
    s
}

/// The records behind the row, as `dig` would print them.
fn records_section(r: &DomainRecord) -> String {
    let Some(domain) = &r.domain else { return String::new() };
    let mut s = String::new();
    let _ = writeln!(s, ";; {domain} MX, via {}", r.resolver.as_deref().unwrap_or("?"));
    let ttl = r.mx_ttl.map_or("-".to_string(), |t| t.to_string());
    if let Some(target) = &r.domain_cname {
        let _ = writeln!(s, "{domain}.\t-\tIN\tCNAME\t{target}.");
    }
    for m in &r.mx {
        let exchange = if m.exchange.is_empty() { String::new() } else { m.exchange.clone() };
        let _ = writeln!(
            s,
            "{}.\t{ttl}\tIN\tMX\t{} {exchange}.",
            r.domain_cname.as_deref().unwrap_or(domain),
            m.preference
        );
    }
    if r.mx.is_empty() {
        let _ = writeln!(s, ";; no MX records ({})", r.status.as_str());
    }
    for m in r.mx.iter().filter(|m| !m.exchange.is_empty()) {
        if let Some(c) = &m.cname {
            let _ = writeln!(s, "{}.\t-\tIN\tCNAME\t{c}.", m.exchange);
        }
        let owner = m.cname.as_deref().unwrap_or(&m.exchange);
        for a in &m.ipv4 {
            let _ = writeln!(s, "{owner}.\t-\tIN\tA\t{a}");
        }
        for a in &m.ipv6 {
            let _ = writeln!(s, "{owner}.\t-\tIN\tAAAA\t{a}");
        }
        if m.ipv4.is_empty() && m.ipv6.is_empty() {
            let _ = writeln!(s, ";; {}: {}", m.exchange, m.address_status.as_str());
        }
    }
    format!(
        "<section aria-labelledby=\"records\"><h2 id=\"records\">Records</h2><p class=\"muted\">The MX TTL is the \
         resolver's; address TTLs are not kept (<code>-</code>).</p><pre class=\"dig\">{}</pre></section>",
        esc(&s)
    )
}

/// The page of one domain; `common` is the "how common is this" section
/// (empty without a loaded scan).
pub(crate) fn domain(r: &DomainRecord, table: &ProviderTable, common: &str) -> String {
    let name = r.domain.as_deref().unwrap_or(&r.input);
    let (shown, ascii) = name_forms(name);
    let mut body = String::new();
    let _ = write!(body, "<h1><span class=\"domain\">{}</span> {}</h1>", esc(&shown), status_badge(r.status));
    if let Some(ascii) = &ascii {
        let _ = write!(body, "<p class=\"muted\">A-label: <code>{}</code></p>", esc(ascii));
    }
    let _ = write!(body, "<p class=\"verdict\">{}</p>", verdict(r, table));
    if r.status != Status::Invalid {
        let _ = write!(
            body,
            "<p class=\"muted evidence\">Asked via {} · {} queries · {} ms · \
             <a href=\"/d/{permalink}\">permalink</a> · <a href=\"/api/lookup/{permalink}\">JSON</a></p>",
            esc(r.resolver.as_deref().unwrap_or("?")),
            r.queries,
            r.elapsed_ms,
            permalink = esc(name),
        );
    }
    body.push_str(&tiers_table(r, table));
    body.push_str(&findings_section(r));
    body.push_str(common);
    body.push_str(&policy_section(r));
    body.push_str(&records_section(r));
    layout(&shown, name, &body)
}

/// Several domains as one table.
pub(crate) fn table(query: &str, rows: &[DomainRecord], providers: &ProviderTable) -> String {
    let mut body = format!("<h1>{} domains</h1>", rows.len());
    body.push_str(
        "<div class=\"scroll\"><table class=\"many\"><thead><tr><th scope=\"col\">Domain</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">Receives mail first</th><th scope=\"col\" class=\"num\">MX</th><th scope=\"col\" class=\"num\">Tiers</th>\
         <th scope=\"col\" class=\"num\">Errors</th><th scope=\"col\" class=\"num\">Warnings</th><th scope=\"col\" class=\"num\">Info</th></tr></thead><tbody>",
    );
    for r in rows {
        let count = |sev: Severity| {
            r.findings.iter().filter(|c| findings::lookup(c).is_some_and(|f| f.severity == sev)).count()
        };
        let mut tiers: Vec<u8> = r.mx.iter().map(|m| m.tier).collect();
        tiers.dedup();
        let name = match &r.domain {
            Some(d) => format!("<a href=\"/d/{}\">{}</a>", esc(d), esc(&name_forms(d).0)),
            None => format!(
                "{} <span class=\"muted\">({})</span>",
                esc(&r.input),
                esc(r.error.as_deref().unwrap_or(""))
            ),
        };
        let first = if r.null_mx == Some(true) {
            "null MX".to_string()
        } else if r.implicit_mx == Some(true) {
            "the domain itself (implicit MX)".to_string()
        } else {
            r.provider.as_deref().map_or("—".into(), |p| esc(&provider_name(providers, p)))
        };
        let _ = write!(
            body,
            "<tr><td>{name}</td><td>{}</td><td>{first}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            status_badge(r.status),
            r.mx.len(),
            tiers.len(),
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info),
        );
    }
    body.push_str("</tbody></table></div>");
    layout("Lookups", query, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_code_spans_become_code_and_hosts_wrap_at_dots() {
        assert_eq!(
            prose("`+all` or `all`: <anyone>"),
            "<code>+all</code> or <code>all</code>: &lt;anyone&gt;"
        );
        assert_eq!(prose("one ` alone"), "one ` alone");
        assert_eq!(host("mx.example.com"), "mx.<wbr>example.<wbr>com");
    }

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn rfc_references_link_to_their_section() {
        assert_eq!(
            rfc_url("RFC 7505 §3").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc7505#section-3")
        );
        assert_eq!(
            rfc_url("RFC 2181 §10.3; RFC 5321 §5.1").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc2181#section-10.3")
        );
        assert_eq!(
            rfc_url("RFC 7208 §4.6, §12").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc7208#section-4.6")
        );
        assert_eq!(rfc_url("RFC 9989").as_deref(), Some("https://www.rfc-editor.org/rfc/rfc9989"));
        assert_eq!(rfc_url("—"), None);
        // Every catalogue entry that names an RFC gets a link.
        for f in findings::CATALOGUE {
            assert_eq!(rfc_url(f.reference).is_some(), f.reference.contains("RFC "), "{}", f.code);
        }
    }

    #[test]
    fn a_hostile_row_renders_escaped() {
        let mut row =
            DomainRecord::invalid("<script>alert(1)</script>".into(), None, "invalid character '<'".into());
        row.findings = vec!["mx_duplicate"];
        let page = domain(&row, &ProviderTable::embedded(), "");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // No inline script at all: the CSP forbids it.
        assert_eq!(page.matches("<script").count(), 1);
        assert!(page.contains("<script src=\"/static/app.js\" defer></script>"));
    }
}
