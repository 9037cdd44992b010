//! The report as one self-contained HTML page: the text report's tables
//! plus inline SVG bar charts. No scripts, fonts, images or style sheets
//! are fetched (a Content-Security-Policy says so too), and every string
//! taken from the data is escaped.

use std::fmt::Write;

use super::chart::{Bar, chart};
use super::model::Report;
use super::{domains, thousands};

const STYLE: &str = r#"
:root{--fg:#1c2230;--muted:#5d6778;--bg:#fff;--panel:#f5f7fa;--line:#e2e6ed;--zebra:#f8f9fc;
--accent:#2f6fdb;--self:#2a9d8f;--other:#a3abb9;--error:#cf3f35;--warning:#d9961a;--info:#5c86d6;--unknown:#8a93a3}
@media (prefers-color-scheme:dark){:root{--fg:#e4e8ef;--muted:#9aa4b5;--bg:#14171d;--panel:#1c2028;
--line:#2c323d;--zebra:#191d24;--other:#5d6675}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 28px 56px}
h1{font-size:26px;margin:0 0 2px;letter-spacing:-.01em}
h2{font-size:18px;margin:0 0 2px}
.sub,.hint{color:var(--muted);margin:0 0 12px}
section{margin-top:34px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:32px;align-items:start}
.grid{margin-top:34px}
.grid>section{margin-top:0}
section>.grid{margin-top:4px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:14px;margin-top:20px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:12px 16px}
.card span{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card b{display:block;font-size:22px;font-weight:650;margin-top:2px;overflow-wrap:anywhere}
.card small{color:var(--muted)}
.note{background:#fff6dc;color:#5a4500;border:1px solid #efd78c;border-radius:6px;padding:8px 12px;margin-top:16px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:5px 10px;text-align:left;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
tbody tr:nth-child(even){background:var(--zebra)}
.n{text-align:right;white-space:nowrap}
td.id{white-space:nowrap}
td.text{overflow-wrap:break-word}
td small,td code{color:var(--muted)}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
tr.sum td{font-style:italic;color:var(--muted)}
tr.total td{font-weight:600;border-top:2px solid var(--line)}
.sev{display:inline-block;white-space:nowrap;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.sev.error{background:var(--error)}.sev.warning{background:var(--warning)}
.sev.info{background:var(--info)}.sev.unknown{background:var(--unknown)}
svg{display:block;max-width:100%;height:auto;margin:4px 0 14px}
svg text{font:13px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:var(--fg)}
svg text.val{fill:var(--muted)}
svg line{stroke:var(--line)}
.bar{fill:var(--accent)}.bar.self{fill:var(--self)}.bar.other{fill:var(--other)}
.bar.error{fill:var(--error)}.bar.warning{fill:var(--warning)}.bar.info{fill:var(--info)}.bar.unknown{fill:var(--unknown)}
footer{margin-top:40px;color:var(--muted);font-size:12px}
@media (max-width:820px){.grid,.cards{grid-template-columns:1fr}}
"#;

/// Text from the data, safe in element content and quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn pct(p: f64) -> String {
    format!("{p:.1}%")
}

/// How a column is laid out.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Col {
    /// A name that must not wrap (an id, a code, a host name).
    Id,
    /// Prose: wraps between words.
    Text,
    /// A number, right-aligned.
    Num,
}

/// Longest text from the data shown in a cell; the rest is in a tooltip.
const CELL_MAX: usize = 64;

/// Text from the data for a cell: escaped, and cut (with the whole in a
/// tooltip) when it is long, so a hostile name cannot stretch the page.
pub(crate) fn data(s: &str) -> String {
    if s.chars().count() <= CELL_MAX {
        return esc(s);
    }
    let cut: String = s.chars().take(CELL_MAX - 1).collect();
    format!("<span title=\"{}\">{}…</span>", esc(s), esc(&cut))
}

/// A table: headings, then rows of cells that are already HTML, each with
/// a row class (or "").
pub(crate) fn table(out: &mut String, head: &[(&str, Col)], rows: &[(Vec<String>, &str)]) {
    out.push_str("<table><thead><tr>");
    for (h, col) in head {
        let _ = write!(out, "<th{}>{}</th>", if *col == Col::Num { r#" class="n""# } else { "" }, esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    if rows.is_empty() {
        let _ = writeln!(out, "<tr><td class=\"text\" colspan=\"{}\">none</td></tr>", head.len());
    }
    for (cells, class) in rows {
        if class.is_empty() {
            out.push_str("<tr>");
        } else {
            let _ = write!(out, r#"<tr class="{class}">"#);
        }
        for (cell, (_, col)) in cells.iter().zip(head) {
            let class = match col {
                Col::Id => "id",
                Col::Text => "text",
                Col::Num => "n",
            };
            let _ = write!(out, "<td class=\"{class}\">{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// A catalogue summary: escaped, `code` spans set as code.
fn summary_html(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

pub(crate) fn section(out: &mut String, title: &str, hint: &str) {
    let _ = writeln!(out, "<section><h2>{}</h2><p class=\"hint\">{}</p>", esc(title), esc(hint));
}

pub(crate) fn card(out: &mut String, label: &str, value: &str, detail: &str) {
    let _ = write!(
        out,
        "<div class=\"card\"><span>{}</span><b>{}</b><small>{}</small></div>",
        esc(label),
        esc(value),
        esc(detail)
    );
}

/// A page's start, up to `<main>`: no scripts, fonts or fetches (the CSP
/// says so), the style inline.
pub(crate) fn page_start(title: &str) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body><main>\n",
        esc(title)
    );
    o
}

/// Render the page.
pub fn render(r: &Report) -> String {
    let mut o = page_start(&format!("mxscan report: {}", r.source));
    let files = if r.files == 1 { "1 file".to_string() } else { format!("{} files", r.files) };
    let _ = writeln!(
        o,
        "<header><h1>Mail infrastructure report</h1><p class=\"sub\">{} · {files} · {} rows</p></header>",
        data(&r.source),
        thousands(r.rows)
    );
    for note in &r.notes {
        let _ = writeln!(o, "<p class=\"note\">{}</p>", esc(note));
    }
    cards(&mut o, r);
    status_and_adoption(&mut o, r);
    providers(&mut o, r);
    categories_and_gateways(&mut o, r);
    rank_buckets(&mut o, r);
    findings(&mut o, r);
    if let Some(p) = &r.policy {
        policy(&mut o, p);
    }
    exchangers(&mut o, r);
    let _ = write!(
        o,
        "<footer>mxscan {} · mxscan report</footer>\n</main></body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    o
}

fn cards(o: &mut String, r: &Report) {
    let a = &r.mx_adoption;
    let ok_pct = r.status.iter().find(|s| s.status == "ok").map_or(0.0, |s| s.pct);
    o.push_str("<div class=\"cards\">");
    card(o, "Domains", &thousands(r.rows), "rows in the scan");
    card(o, "Resolved", &pct(ok_pct), &format!("{} with status ok", thousands(a.ok)));
    card(o, "Have MX", &pct(a.has_mx.pct), &format!("{} of the ok domains", thousands(a.has_mx.count)));
    match r.providers.as_ref().and_then(|p| p.top.first()) {
        Some(p) => card(o, "Largest provider", &pct(p.pct), p.name.as_deref().unwrap_or(&p.provider)),
        None => {
            let errors: u64 = r.findings.iter().filter(|f| f.severity == "error").map(|f| f.count).sum();
            card(o, "Error findings", &thousands(errors), "domain × finding");
        }
    }
    o.push_str("</div>\n");
}

fn status_and_adoption(o: &mut String, r: &Report) {
    let a = &r.mx_adoption;
    o.push_str("<div class=\"grid\">\n");
    section(o, "Domains by status", "Outcome of each domain's MX lookup; % of rows.");
    let mut rows: Vec<(Vec<String>, &str)> =
        r.status.iter().map(|s| (vec![data(&s.status), thousands(s.count), pct(s.pct)], "")).collect();
    rows.push((vec!["total".into(), thousands(r.rows), pct(if r.rows > 0 { 100.0 } else { 0.0 })], "total"));
    table(o, &[("status", Col::Id), ("domains", Col::Num), ("%", Col::Num)], &rows);
    o.push_str("</section>\n");
    section(o, "MX adoption", &format!("Among the {} domains with status ok.", thousands(a.ok)));
    let rows: Vec<(Vec<String>, &str)> = [
        ("has MX", a.has_mx),
        ("null MX only", a.null_mx_only),
        ("implicit MX (A/AAAA, no MX)", a.implicit_mx),
        ("none", a.none),
    ]
    .iter()
    .map(|(l, c)| (vec![esc(l), thousands(c.count), pct(c.pct)], ""))
    .collect();
    table(o, &[("", Col::Text), ("domains", Col::Num), ("%", Col::Num)], &rows);
    o.push_str("</section>\n</div>\n");
}

/// A provider cell: its display name when known, and its id.
fn provider_cell(id: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{} <small>{}</small>", esc(name), data(id)),
        None => data(id),
    }
}

fn providers(o: &mut String, r: &Report) {
    let Some(p) = &r.providers else { return };
    section(
        o,
        "Provider share",
        &format!(
            "Who receives the mail first (tier-1 exchanges): top {} of {} providers, % of the {} domains with MX.",
            p.top.len(),
            p.distinct,
            thousands(p.domains_with_mx)
        ),
    );
    let mut bars: Vec<Bar> = p
        .top
        .iter()
        .map(|t| Bar {
            label: t.name.clone().unwrap_or_else(|| t.provider.clone()),
            count: t.count,
            pct: t.pct,
            class: "",
        })
        .collect();
    bars.push(Bar {
        label: "self-hosted".into(),
        count: p.self_hosted.count,
        pct: p.self_hosted.pct,
        class: "self",
    });
    bars.push(Bar {
        label: "other / unknown".into(),
        count: p.other_unknown.count,
        pct: p.other_unknown.pct,
        class: "other",
    });
    o.push_str("<div class=\"grid\"><div>");
    chart(o, "Provider share", 560.0, &bars);
    o.push_str("</div><div>");
    let mut rows: Vec<(Vec<String>, &str)> = p
        .top
        .iter()
        .map(|t| {
            let cat = t.category.as_deref().map(data).unwrap_or_default();
            (vec![provider_cell(&t.provider, t.name.as_deref()), cat, thousands(t.count), pct(t.pct)], "")
        })
        .collect();
    for (label, c) in [("self-hosted", p.self_hosted), ("other / unknown", p.other_unknown)] {
        rows.push((vec![label.into(), String::new(), thousands(c.count), pct(c.pct)], "sum"));
    }
    table(
        o,
        &[("provider", Col::Text), ("category", Col::Id), ("domains", Col::Num), ("%", Col::Num)],
        &rows,
    );
    o.push_str("</div></div></section>\n");
}

fn categories_and_gateways(o: &mut String, r: &Report) {
    if r.gateways.is_none() && r.categories.is_none() {
        return;
    }
    o.push_str("<div class=\"grid\">\n");
    if let Some(cats) = &r.categories {
        section(o, "Categories", "What the tier-1 provider does; % of domains with MX.");
        let bars: Vec<Bar> = cats
            .iter()
            .map(|c| Bar {
                label: c.category.clone(),
                count: c.count,
                pct: c.pct,
                class: match c.category.as_str() {
                    "self-hosted" => "self",
                    "unknown" => "other",
                    _ => "",
                },
            })
            .collect();
        chart(o, "Category share", 560.0, &bars);
        o.push_str("</section>\n");
    }
    if let Some(g) = &r.gateways {
        section(
            o,
            "Gateways",
            &format!(
                "{} ({} of domains with MX) behind a filtering gateway; % of those.",
                domains(g.domains),
                pct(g.pct_of_mx)
            ),
        );
        let rows: Vec<(Vec<String>, &str)> = g
            .rows
            .iter()
            .map(|t| {
                (vec![provider_cell(&t.provider, t.name.as_deref()), thousands(t.count), pct(t.pct)], "")
            })
            .collect();
        table(o, &[("gateway", Col::Text), ("domains", Col::Num), ("%", Col::Num)], &rows);
        o.push_str("</section>\n");
    }
    o.push_str("</div>\n");
}

fn rank_buckets(o: &mut String, r: &Report) {
    let Some(buckets) = &r.rank_buckets else { return };
    section(o, "Providers by rank", "Cumulative popularity buckets; % of the bucket's domains with MX.");
    let rows: Vec<(Vec<String>, &str)> = buckets
        .iter()
        .map(|b| {
            let top: Vec<String> = b
                .top
                .iter()
                .map(|p| format!("{} <small>{}</small>", data(&p.provider), pct(p.pct)))
                .collect();
            (vec![data(&b.bucket), thousands(b.domains), thousands(b.with_mx), top.join(" · ")], "")
        })
        .collect();
    let head =
        [("bucket", Col::Id), ("domains", Col::Num), ("with MX", Col::Num), ("top providers", Col::Text)];
    table(o, &head, &rows);
    o.push_str("</section>\n");
}

fn findings(o: &mut String, r: &Report) {
    section(o, "Findings", "Domains with each finding, by severity then count; % of ok domains.");
    let bars: Vec<Bar> = r
        .findings
        .iter()
        .map(|f| Bar {
            label: f.code.clone(),
            count: f.count,
            pct: f.pct,
            class: severity_class(&f.severity),
        })
        .collect();
    chart(o, "Findings", 760.0, &bars);
    let rows: Vec<(Vec<String>, &str)> = r
        .findings
        .iter()
        .map(|f| {
            let sev =
                format!("<span class=\"sev {}\">{}</span>", severity_class(&f.severity), data(&f.severity));
            let summary = f.summary.as_deref().map(summary_html).unwrap_or_default();
            (vec![data(&f.code), sev, summary, thousands(f.count), pct(f.pct)], "")
        })
        .collect();
    let head = [
        ("code", Col::Id),
        ("severity", Col::Id),
        ("when", Col::Text),
        ("domains", Col::Num),
        ("%", Col::Num),
    ];
    table(o, &head, &rows);
    o.push_str("</section>\n");
}

fn exchangers(o: &mut String, r: &Report) {
    section(
        o,
        "Most shared exchangers",
        "Exchange hosts used by two domains or more, by the number of domains listing them; % of domains with MX.",
    );
    let rows: Vec<(Vec<String>, &str)> = r
        .exchangers
        .iter()
        .map(|e| {
            let provider = e.provider.as_deref().map(data).unwrap_or_default();
            (vec![data(&e.exchange), provider, thousands(e.domains), pct(e.pct)], "")
        })
        .collect();
    table(o, &[("exchange", Col::Id), ("provider", Col::Id), ("domains", Col::Num), ("%", Col::Num)], &rows);
    o.push_str("</section>\n");
}

/// The policy stage's tables (`--policy` scans).
fn policy(o: &mut String, p: &super::PolicySection) {
    let hint = format!("% of the {} domains the policy stage checked.", thousands(p.domains));
    let head = [("", Col::Text), ("domains", Col::Num), ("%", Col::Num)];
    for (title, rows) in p.tables().into_iter().filter(|(_, rows)| !rows.is_empty()) {
        section(o, title, &hint);
        let rows: Vec<(Vec<String>, &str)> = rows
            .iter()
            .map(|r| (vec![data(&r.value), thousands(r.count.count), pct(r.count.pct)], ""))
            .collect();
        table(o, &head, &rows);
        o.push_str("</section>\n");
    }
    section(o, "Policy facts", &hint);
    let rows: Vec<(Vec<String>, &str)> =
        p.facts().iter().map(|(label, c)| (vec![esc(label), thousands(c.count), pct(c.pct)], "")).collect();
    table(o, &head, &rows);
    o.push_str("</section>\n");
}

/// The CSS class of a severity (only known names pass through).
fn severity_class(severity: &str) -> &'static str {
    match severity {
        "error" => "error",
        "warning" => "warning",
        "info" => "info",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
