//! The scan browser: the scans given with `--scan`, loaded into one
//! [`ScanIndex`] at start, as charts (the facets) and a domain table that
//! filters, sorts, pages and exports; one domain's full row; and "how common
//! is this" for the lookup page.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::index::{Facets, Page, Query, ScanIndex, Sort};
use super::page::{esc, layout};
use crate::analyze::findings;
use crate::record::DomainRecord;

/// The browser's URL parameters (all optional; empty means unset).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Params {
    status: Option<String>,
    provider: Option<String>,
    category: Option<String>,
    finding: Option<String>,
    tiers: Option<String>,
    text: Option<String>,
    sort: Option<String>,
    desc: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

impl Params {
    /// The index query these parameters ask for, or what is wrong with them.
    fn query(&self) -> Result<Query, String> {
        let set =
            |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
        let number = |name: &str, v: &Option<String>| -> Result<usize, String> {
            set(v)
                .map_or(Ok(0), |v| v.parse().map_err(|_| format!("{name} must be a whole number, not {v:?}")))
        };
        let tiers = match set(&self.tiers) {
            None => None,
            Some(t) => Some(
                t.trim_end_matches('+')
                    .parse::<u8>()
                    .ok()
                    .filter(|n| *n <= 4)
                    .ok_or_else(|| format!("tiers must be 0 to 4 (4 = 4 or more), not {t:?}"))?,
            ),
        };
        let sort = match set(&self.sort) {
            None => Sort::default(),
            Some(s) => Sort::parse(&s).ok_or_else(|| {
                let all: Vec<&str> = Sort::ALL.iter().map(|s| s.as_str()).collect();
                format!("sort must be one of {}, not {s:?}", all.join(", "))
            })?,
        };
        Ok(Query {
            status: set(&self.status),
            provider: set(&self.provider),
            category: set(&self.category),
            finding: set(&self.finding),
            tiers,
            text: set(&self.text),
            sort,
            descending: set(&self.desc).is_some_and(|d| d != "0" && d != "false"),
            offset: number("offset", &self.offset)?,
            limit: number("limit", &self.limit)?,
        })
    }
}

/// The query as URL parameters (for paging and export links), with
/// `offset` replaced.
fn href(path: &str, q: &Query, offset: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut add = |k: &str, v: &str| parts.push(format!("{k}={}", encode(v)));
    for (k, v) in
        [("status", &q.status), ("provider", &q.provider), ("category", &q.category), ("finding", &q.finding)]
    {
        if let Some(v) = v {
            add(k, v);
        }
    }
    if let Some(t) = q.tiers {
        add("tiers", &t.to_string());
    }
    if let Some(t) = &q.text {
        add("text", t);
    }
    if q.sort != Sort::default() {
        add("sort", q.sort.as_str());
    }
    if q.descending {
        add("desc", "1");
    }
    if offset > 0 {
        add("offset", &offset.to_string());
    }
    if q.limit != 0 {
        add("limit", &q.page_size().to_string());
    }
    if parts.is_empty() { path.to_string() } else { format!("{path}?{}", parts.join("&")) }
}

/// Percent-encoding for a query value (RFC 3986 unreserved characters stay).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn no_scan() -> Response {
    let body = "<h1>No scan loaded</h1><p>Start the server with <code>--scan PATH</code> (a Parquet file written by \
                <code>mxscan scan</code>, or a dataset directory) to browse a scan.</p>";
    (StatusCode::NOT_FOUND, Html(layout("Scan", "", body))).into_response()
}

fn bad_params(text: &str) -> Response {
    let body = format!("<h1>Not a query</h1><p class=\"alert\" role=\"alert\">{}</p>", esc(text));
    (StatusCode::BAD_REQUEST, Html(layout("Scan", "", &body))).into_response()
}

/// `/scan`: the charts, the filters and one page of the domain table.
pub(super) async fn page(
    State(state): State<Arc<AppState>>,
    QueryParams(params): QueryParams<Params>,
) -> Response {
    let Some(index) = state.index.clone() else { return no_scan() };
    let q = match params.query() {
        Ok(q) => q,
        Err(e) => return bad_params(&e),
    };
    let (shared, query) = (Arc::clone(&index), q.clone());
    let (facets, page) = tokio::task::spawn_blocking(move || (shared.facets(), shared.query(&query)))
        .await
        .expect("the query does not panic");
    Html(layout("Scan", "", &render(&index, &facets, &q, &page))).into_response()
}

/// `/api/scan`: one page of the table as JSON; `/api/scan/facets`: the counts.
pub(super) async fn api(
    State(state): State<Arc<AppState>>,
    QueryParams(params): QueryParams<Params>,
) -> Response {
    let Some(index) = state.index.clone() else { return no_scan() };
    match params.query() {
        Ok(q) => {
            let page = tokio::task::spawn_blocking(move || index.query(&q)).await.expect("no panic");
            axum::Json(page).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({ "error": e }))).into_response(),
    }
}

pub(super) async fn api_facets(State(state): State<Arc<AppState>>) -> Response {
    match &state.index {
        Some(index) => axum::Json(index.facets()).into_response(),
        None => no_scan(),
    }
}

/// `/scan/export.csv` and `/scan/export.parquet`: every matching row.
pub(super) async fn export(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    QueryParams(params): QueryParams<Params>,
) -> Response {
    let Some(index) = state.index.clone() else { return no_scan() };
    let q = match params.query() {
        Ok(q) => q,
        Err(e) => return bad_params(&e),
    };
    let (content_type, csv) = match file.as_str() {
        "export.csv" => ("text/csv; charset=utf-8", true),
        "export.parquet" => ("application/vnd.apache.parquet", false),
        _ => return super::not_found().await,
    };
    // Streamed: the rows are written on a blocking thread into chunks that
    // the response sends as they come, so an export of millions of rows
    // costs the server a few chunks of memory, not the whole file.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter { tx, buf: Vec::with_capacity(CHUNK) };
        let written = if csv {
            index.export_csv(&q, &mut out).map(drop)
        } else {
            index.export_parquet(&q, &mut out).map(drop).map_err(std::io::Error::other)
        };
        // An error after the first chunk can only end the body early: the
        // client sees an incomplete transfer, never a short file as whole.
        match written.and_then(|()| std::io::Write::flush(&mut out)) {
            Ok(()) => {}
            Err(e) => {
                let _ = out.tx.blocking_send(Err(e));
            }
        }
    });
    let mut response = axum::body::Body::from_stream(Chunks(rx)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"mxscan-{file}\"");
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("ascii"));
    response
}

/// Bytes per chunk of a streamed export.
const CHUNK: usize = 256 * 1024;

/// Hands what an export writes to the response in [`CHUNK`]s; a client
/// that went away is a broken pipe, which ends the export.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| std::io::ErrorKind::BrokenPipe.into())
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The receiving end as the body's stream.
struct Chunks(tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>);

impl futures_core::Stream for Chunks {
    type Item = std::io::Result<bytes::Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// `/scan/d/NAME`: the domain's full row as the scan wrote it.
pub(super) async fn row(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let Some(index) = state.index.clone() else { return no_scan() };
    let lookup = name.clone();
    let found = tokio::task::spawn_blocking(move || index.row_json(&lookup)).await.expect("no panic");
    match found {
        Ok(Some(row)) => {
            let pretty = serde_json::to_string_pretty(&row).expect("JSON values serialise");
            let body = format!(
                "<h1><span class=\"domain\">{name}</span> <span class=\"muted\">in the scan</span></h1>\
                 <p><a href=\"/d/{name}\">Look it up now</a> · <a href=\"/scan\">back to the scan</a></p>\
                 <section aria-labelledby=\"row\"><h2 id=\"row\">The row</h2><pre class=\"dig\">{}</pre></section>",
                esc(&pretty),
                name = esc(&name),
            );
            Html(layout(&name, "", &body)).into_response()
        }
        Ok(None) => {
            let body =
                format!("<h1>Not in the scan</h1><p>{} is not a row of the loaded scan.</p>", esc(&name));
            (StatusCode::NOT_FOUND, Html(layout("Scan", "", &body))).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Html(layout("Scan", "", &esc(&e.to_string()))))
            .into_response(),
    }
}

/// A bar chart of counts, without inline styles (the CSP forbids them):
/// each bar is a `<meter>`.
fn chart(
    title: &str,
    id: &str,
    rows: &[(String, usize)],
    total: usize,
    link: impl Fn(&str) -> String,
) -> String {
    let mut s = format!(
        "<section class=\"chart\" aria-labelledby=\"{id}\"><h3 id=\"{id}\">{}</h3><table class=\"bars\"><tbody>",
        esc(title)
    );
    for (label, n) in rows {
        let pct = if total == 0 { 0.0 } else { *n as f64 * 100.0 / total as f64 };
        let _ = write!(
            s,
            "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td class=\"num\">{n}</td><td class=\"num\">{pct:.1} %</td>\
             <td class=\"bar\"><meter min=\"0\" max=\"{total}\" value=\"{n}\">{pct:.1} %</meter></td></tr>",
            esc(&link(label)),
            esc(label),
        );
    }
    s.push_str("</tbody></table></section>");
    s
}

fn select(name: &str, label: &str, current: Option<&str>, options: &[(String, usize)]) -> String {
    let mut s = format!("<label>{label} <select name=\"{name}\"><option value=\"\">any</option>");
    for (value, n) in options {
        let selected = if current == Some(value.as_str()) { " selected" } else { "" };
        let _ = write!(s, "<option value=\"{v}\"{selected}>{v} ({n})</option>", v = esc(value));
    }
    s.push_str("</select></label>");
    s
}

fn render(index: &ScanIndex, facets: &Facets, q: &Query, page: &Page) -> String {
    let mut s = String::new();
    let sources: Vec<String> = index.sources().iter().map(|p| esc(&p.display().to_string())).collect();
    let _ = write!(
        s,
        "<h1>Scan: {} rows</h1><p class=\"muted\">{} · index {:.1} MiB in memory</p>",
        facets.total,
        sources.join(", "),
        index.memory_bytes() as f64 / (1 << 20) as f64
    );
    let own = |v: &[(&'static str, usize)]| v.iter().map(|(k, n)| (k.to_string(), *n)).collect::<Vec<_>>();
    let tiers: Vec<(String, usize)> = facets
        .tiers
        .iter()
        .enumerate()
        .map(|(i, n)| (if i == 4 { "4+".into() } else { i.to_string() }, *n))
        .collect();
    let top_providers: Vec<(String, usize)> = facets.providers.iter().take(15).cloned().collect();
    let filter = |key: &str| {
        let key = key.to_string();
        move |v: &str| format!("/scan?{key}={}", encode(v.trim_end_matches('+')))
    };
    let top_findings: Vec<(String, usize)> = own(&facets.findings).into_iter().take(12).collect();
    s.push_str("<details class=\"charts-box\" open><summary>Charts</summary><div class=\"charts\">");
    s.push_str(&chart("Status", "c-status", &facets.status, facets.total, filter("status")));
    s.push_str(&chart(
        "Receives mail first (top 15)",
        "c-provider",
        &top_providers,
        facets.total,
        filter("provider"),
    ));
    s.push_str(&chart("Category", "c-category", &facets.categories, facets.total, filter("category")));
    s.push_str(&chart("MX tiers", "c-tiers", &tiers, facets.total, filter("tiers")));
    s.push_str(&chart("Findings (top 12)", "c-findings", &top_findings, facets.total, filter("finding")));
    s.push_str("</div></details>");

    // The filter form: plain GET, so every view has a URL.
    s.push_str("<section aria-labelledby=\"domains\"><h2 id=\"domains\">Domains</h2>");
    s.push_str("<form class=\"filters\" action=\"/scan\" method=\"get\">");
    s.push_str(&select("status", "Status", q.status.as_deref(), &facets.status));
    s.push_str(&select("provider", "Provider", q.provider.as_deref(), &facets.providers));
    s.push_str(&select("category", "Category", q.category.as_deref(), &facets.categories));
    s.push_str(&select("finding", "Finding", q.finding.as_deref(), &own(&facets.findings)));
    let tier_options: Vec<(String, usize)> =
        tiers.iter().map(|(k, n)| (k.trim_end_matches('+').to_string(), *n)).collect();
    s.push_str(&select("tiers", "Tiers", q.tiers.map(|t| t.to_string()).as_deref(), &tier_options));
    let _ = write!(
        s,
        "<label>Text <input type=\"search\" name=\"text\" value=\"{}\" placeholder=\"part of a domain\"></label>",
        esc(q.text.as_deref().unwrap_or(""))
    );
    s.push_str("<label>Sort <select name=\"sort\">");
    for sort in Sort::ALL {
        let selected = if sort == q.sort { " selected" } else { "" };
        let _ = write!(s, "<option value=\"{0}\"{selected}>{0}</option>", sort.as_str());
    }
    let checked = if q.descending { " checked" } else { "" };
    let _ = write!(
        s,
        "</select></label><label><input type=\"checkbox\" name=\"desc\" value=\"1\"{checked}> descending</label>\
         <button type=\"submit\">Apply</button> <a href=\"/scan\">clear</a></form>"
    );

    let size = q.page_size();
    let (first, last) = (q.offset + 1, (q.offset + page.rows.len()).min(page.total));
    let _ = write!(
        s,
        "<p class=\"count\" id=\"count\">{}</p>",
        if page.rows.is_empty() {
            format!("No rows on this page ({} match).", page.total)
        } else {
            format!("Rows {first}–{last} of {} matching", page.total)
        }
    );
    let _ = write!(
        s,
        "<p class=\"export\">Export every matching row: <a href=\"{}\">CSV</a> · <a href=\"{}\">Parquet</a></p>",
        esc(&href("/scan/export.csv", q, 0)),
        esc(&href("/scan/export.parquet", q, 0))
    );
    s.push_str(
        "<div class=\"scroll\"><table class=\"many\" id=\"domain-table\"><thead><tr><th scope=\"col\" class=\"num\">Rank</th>\
         <th scope=\"col\">Domain</th><th scope=\"col\">Status</th><th scope=\"col\">Provider</th><th scope=\"col\">Category</th>\
         <th scope=\"col\" class=\"num\">MX</th><th scope=\"col\" class=\"num\">Tiers</th><th scope=\"col\">Findings</th></tr></thead><tbody>",
    );
    for r in &page.rows {
        let name = if r.valid {
            format!("<a href=\"/scan/d/{0}\">{0}</a>", esc(&r.domain))
        } else {
            format!("{} <span class=\"muted\">(invalid)</span>", esc(&r.domain))
        };
        let findings: Vec<String> = r
            .findings
            .iter()
            .map(|c| {
                let sev = findings::lookup(c).map_or("info", |f| f.severity.as_str());
                format!("<code class=\"sev-{sev}\">{}</code>", esc(c))
            })
            .collect();
        let _ = write!(
            s,
            "<tr><td class=\"num\">{}</td><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            r.rank.map_or(String::new(), |n| n.to_string()),
            esc(&r.status),
            esc(r.provider.as_deref().unwrap_or("—")),
            esc(r.category.as_deref().unwrap_or("—")),
            r.mx_count,
            r.tiers,
            findings.join(" "),
        );
    }
    s.push_str("</tbody></table></div><nav class=\"pager\" aria-label=\"Pages\">");
    if q.offset > 0 {
        let _ = write!(
            s,
            "<a rel=\"prev\" href=\"{}\">← Previous</a> ",
            esc(&href("/scan", q, q.offset.saturating_sub(size)))
        );
    }
    if q.offset + size < page.total {
        let _ = write!(s, "<a rel=\"next\" href=\"{}\">Next →</a>", esc(&href("/scan", q, q.offset + size)));
    }
    s.push_str("</nav></section>");
    s
}

/// "How common is this" for a looked-up row, from the loaded scan.
pub(super) fn prevalence_section(index: &ScanIndex, row: &DomainRecord) -> String {
    let exchanges: Vec<&str> = row.mx.iter().map(|m| m.exchange.as_str()).filter(|e| !e.is_empty()).collect();
    let p = index.prevalence(row.provider.as_deref(), &exchanges, &row.findings);
    if p.total == 0 {
        return String::new();
    }
    let share = |n: usize| format!("{n} of {} domains ({:.1} %)", p.total, n as f64 * 100.0 / p.total as f64);
    let mut items = Vec::new();
    if let Some((provider, n)) = &p.provider {
        items.push(format!(
            "<li><a href=\"/scan?provider={}\">Receive mail first at {}</a>: {}</li>",
            encode(provider),
            esc(provider),
            share(*n)
        ));
    }
    for (exchange, n) in &p.exchanges {
        items.push(format!("<li>Use the exchange <code>{}</code>: {}</li>", esc(exchange), share(*n)));
    }
    for (code, n) in &p.findings {
        items.push(format!(
            "<li><a href=\"/scan?finding={code}\">Have <code>{code}</code></a>: {}</li>",
            share(*n),
            code = esc(code)
        ));
    }
    format!(
        "<section aria-labelledby=\"common\"><h2 id=\"common\">How common is this</h2>\
         <p class=\"muted\">In the loaded scan ({} rows):</p><ul class=\"common\">{}</ul></section>",
        p.total,
        items.join("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_a_query_or_a_clear_refusal() {
        let p = Params {
            status: Some("ok".into()),
            tiers: Some("4+".into()),
            sort: Some("domain".into()),
            desc: Some("1".into()),
            offset: Some("100".into()),
            text: Some("  ".into()),
            ..Params::default()
        };
        let q = p.query().expect("a query");
        assert_eq!(
            (q.status.as_deref(), q.tiers, q.sort, q.descending, q.offset),
            (Some("ok"), Some(4), Sort::Domain, true, 100)
        );
        assert_eq!(q.text, None, "blank is unset");
        assert_eq!(href("/scan", &q, 150), "/scan?status=ok&tiers=4&sort=domain&desc=1&offset=150");
        for bad in [
            Params { tiers: Some("7".into()), ..Params::default() },
            Params { sort: Some("size".into()), ..Params::default() },
            Params { offset: Some("-1".into()), ..Params::default() },
        ] {
            assert!(bad.query().is_err(), "{bad:?}");
        }
        assert_eq!(encode("a b&c/ü"), "a%20b%26c%2F%C3%BC");
    }

    #[test]
    fn chart_bars_need_no_inline_style() {
        let html =
            chart("Status", "c", &[("ok".into(), 3), ("<x>".into(), 1)], 4, |v| format!("/scan?status={v}"));
        assert!(html.contains("<meter min=\"0\" max=\"4\" value=\"3\">75.0 %</meter>"));
        assert!(!html.contains("style=") && html.contains("&lt;x&gt;"));
    }
}
