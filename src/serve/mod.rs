//! `mxscan serve`: a local web page over the engine and the analysis.
//!
//! ```text
//! browser ──HTTP──▶ guard (Host check, methods, sizes, headers, rate limits)
//!                     ├─ /            form; a pasted list → a table of lookups
//!                     ├─ /d/NAME      one domain: tiers, provider, findings, policy, records
//!                     ├─ /api/lookup/NAME   the same row as JSON (the scan's row schema)
//!                     ├─ /api/findings      the catalogue
//!                     └─ /static/…   CSS and JS, embedded in the binary
//! lookup ──▶ scan::run (the scan's own engine, resolvers and policy stage) on a blocking thread
//! ```
//!
//! Loopback by default; every page is rendered on the server with all data
//! escaped (`page::esc`), and the only script is a static file (a strict
//! CSP forbids inline script).

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
#[derive(Debug, Clone)]
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
}

/// Shared state of the handlers.
pub(crate) struct AppState {
    cfg: ServeConfig,
    guard: guard::Guard,
}

/// The router, with every guard in place.
pub fn router(cfg: ServeConfig) -> Router {
    let state = Arc::new(AppState { guard: guard::Guard::new(&cfg), cfg });
    Router::new()
        .route("/", get(home))
        .route("/d/{name}", get(domain_page))
        .route("/api/lookup/{name}", get(api_lookup))
        .route("/api/findings", get(api_findings))
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
        Ok(row) => Html(page::domain(&row, &state.cfg.scan.providers)).into_response(),
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

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Html(page::message("Not found", "There is no page at this address.")))
        .into_response()
}

fn error_page(e: &LookupError) -> Response {
    let mut response = (e.status(), Html(page::message(e.title(), &e.to_string()))).into_response();
    e.decorate(&mut response);
    response
}
