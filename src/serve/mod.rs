//! `mxscan serve`: a local web page over the engine and the analysis.
//!
//! ```text
//! browser ──HTTP──▶ guard (Host check, methods, sizes, headers, rate limits)
//!                     ├─ /            form; a pasted list → a table of lookups
//!                     ├─ /d/NAME      one domain: tiers, provider, findings, policy, records
//!                     ├─ /api/lookup/NAME   the same row as JSON (the scan's row schema)
//!                     ├─ /api/findings      the catalogue
//!                     ├─ /scan        the scan browser (--scan): charts, filters, pages, export
//!                     ├─ /scan/d/NAME a domain's full row in the scan; /api/scan, /api/scan/facets
//!                     └─ /static/…   CSS and JS, embedded in the binary
//! lookup ──▶ scan::run (the scan's own engine, resolvers and policy stage) on a blocking thread
//! ```
//!
//! Loopback by default; every page is rendered on the server with all data
//! escaped (`page::esc`), and the only script is a static file (a strict
//! CSP forbids inline script).

mod browse;
mod guard;
pub mod index;
mod lookup;
mod page;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

pub use guard::Limits;
pub use lookup::{LookupError, MAX_NAMES, Name, parse_names};

use crate::scan::ScanConfig;

/// Everything `serve` needs.
#[derive(Clone)]
pub struct ServeConfig {
    /// How lookups are made: resolvers, provider table, policy stage.
    pub scan: ScanConfig,
    /// Where the server listens (for the Host check).
    pub listen: SocketAddr,
    /// Host names besides loopback's that the page may be reached by
    /// (`--allow-host`).
    pub allowed_hosts: Vec<String>,
    /// Lookup limits.
    pub limits: Limits,
    /// The scans to browse (`--scan`), loaded.
    pub index: Option<Arc<index::ScanIndex>>,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("scan", &self.scan)
            .field("listen", &self.listen)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("limits", &self.limits)
            .field("index_rows", &self.index.as_ref().map(|i| i.rows()))
            .finish()
    }
}

/// Shared state of the handlers.
pub(crate) struct AppState {
    cfg: ServeConfig,
    guard: guard::Guard,
    index: Option<Arc<index::ScanIndex>>,
}

/// The router, with every guard in place.
pub fn router(cfg: ServeConfig) -> Router {
    let state = Arc::new(AppState { guard: guard::Guard::new(&cfg), index: cfg.index.clone(), cfg });
    Router::new()
        .route("/", get(home))
        .route("/d/{name}", get(domain_page))
        .route("/api/lookup/{name}", get(api_lookup))
        .route("/api/findings", get(api_findings))
        .route("/scan", get(browse::page))
        .route("/scan/d/{name}", get(browse::row))
        .route("/scan/{file}", get(browse::export))
        .route("/api/scan", get(browse::api))
        .route("/api/scan/facets", get(browse::api_facets))
        .route("/static/style.css", get(|| async { asset("text/css; charset=utf-8", page::STYLE) }))
        .route("/static/app.js", get(|| async { asset("text/javascript; charset=utf-8", page::SCRIPT) }))
        // Browsers ask for it on pages without a <link rel=icon> (the JSON API).
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), guard::check))
        .layer(axum::extract::DefaultBodyLimit::max(guard::MAX_BODY))
        .with_state(state)
}

/// Serve on `listener` until the process is stopped.
pub async fn serve(listener: tokio::net::TcpListener, cfg: ServeConfig) -> std::io::Result<()> {
    let app = router(cfg).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

#[derive(Debug, serde::Deserialize)]
struct HomeQuery {
    q: Option<String>,
}

/// The form; with `?q=`, one name goes to its permalink and several are
/// looked up together into a table.
async fn home(
    State(state): State<Arc<AppState>>,
    client: axum::extract::ConnectInfo<SocketAddr>,
    Query(query): Query<HomeQuery>,
) -> Response {
    let Some(q) = query.q.filter(|q| !q.trim().is_empty()) else {
        return Html(page::home("", None)).into_response();
    };
    let names = match parse_names(&q) {
        Ok(names) => names,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, Html(page::home(&q, Some(&e.to_string())))).into_response();
        }
    };
    if let [(_, Ok(name))] = names.as_slice() {
        return Redirect::to(&format!("/d/{name}")).into_response();
    }
    match lookup::run(&state, client.0.ip(), names).await {
        Ok(rows) => Html(page::table(&q, &rows, &state.cfg.scan.providers)).into_response(),
        Err(e) => error_page(&e),
    }
}

async fn domain_page(
    State(state): State<Arc<AppState>>,
    client: axum::extract::ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Response {
    match lookup::one(&state, client.0.ip(), &name).await {
        Ok(row) => {
            let common =
                state.index.as_deref().map(|i| browse::prevalence_section(i, &row)).unwrap_or_default();
            Html(page::domain(&row, &state.cfg.scan.providers, &common)).into_response()
        }
        Err(e) => error_page(&e),
    }
}

async fn api_lookup(
    State(state): State<Arc<AppState>>,
    client: axum::extract::ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Response {
    match lookup::one(&state, client.0.ip(), &name).await {
        Ok(row) => axum::Json(crate::output::jsonl::to_json(&row)).into_response(),
        Err(e) => {
            let body = serde_json::json!({ "error": e.to_string(), "input": name });
            let mut response = (e.status(), axum::Json(body)).into_response();
            e.decorate(&mut response);
            response
        }
    }
}

async fn api_findings() -> Response {
    let list: Vec<serde_json::Value> = crate::analyze::findings::CATALOGUE
        .iter()
        .map(|f| {
            serde_json::json!({
                "code": f.code,
                "severity": f.severity.as_str(),
                "summary": f.summary,
                "fix": f.fix,
                "reference": f.reference,
                "url": page::rfc_url(f.reference),
            })
        })
        .collect();
    axum::Json(list).into_response()
}

pub(crate) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Html(page::message("Not found", "There is no page at this address.")))
        .into_response()
}

fn error_page(e: &LookupError) -> Response {
    let mut response = (e.status(), Html(page::message(e.title(), &e.to_string()))).into_response();
    e.decorate(&mut response);
    response
}
