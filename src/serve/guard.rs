//! What every request passes before a handler sees it, and the lookup
//! limits.
//!
//! - The Host header must name this server (loopback names, the listen
//!   address, `--allow-host`): a page on another site that rebinds its own
//!   name to 127.0.0.1 sends its own name as Host and gets 421 (DNS
//!   rebinding).
//! - GET and HEAD only; URIs and bodies bounded.
//! - Security headers on every answer: a CSP with no inline script or style,
//!   no framing, no referrer, no MIME sniffing.
//! - Lookups: per client and for the whole server (on loopback every client
//!   is 127.0.0.1, so the global limit is the one that protects the
//!   resolvers), and a bound on lookups running at once.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{AppState, ServeConfig, page};

/// Request bodies at most (no route takes one).
pub(super) const MAX_BODY: usize = 16 * 1024;
/// Request target (path and query) at most: a pasted list of
/// [`super::MAX_NAMES`] long names fits.
const MAX_URI: usize = 16 * 1024;

/// The page's content security policy: only this origin's files, nothing
/// inline, no frames, forms only to this origin.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                              connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Lookup limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Lookups running at once (a pasted list counts once).
    pub at_once: usize,
    /// Domains looked up per minute for one client address.
    pub per_client_per_minute: u32,
    /// Domains looked up per minute by the whole server.
    pub per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { at_once: 4, per_client_per_minute: 60, per_minute: 240 }
    }
}

/// The server's guard state.
pub(crate) struct Guard {
    /// Host names (lowercase, no port) the server answers to.
    hosts: Vec<String>,
    per_client: DefaultKeyedRateLimiter<IpAddr>,
    global: DefaultDirectRateLimiter,
    /// Lookups running.
    pub(crate) running: Arc<tokio::sync::Semaphore>,
}

/// Why a lookup was not admitted: how long to wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throttled(pub(crate) Duration);

impl Guard {
    pub(crate) fn new(cfg: &ServeConfig) -> Self {
        let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()];
        hosts.push(match cfg.listen {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        });
        hosts.extend(cfg.allowed_hosts.iter().map(|h| h.trim().to_ascii_lowercase()));
        let quota = |per_minute: u32| {
            let n = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
            // A burst of a quarter of the minute's worth: a pasted list goes
            // through, a loop of requests does not.
            Quota::per_minute(n).allow_burst(NonZeroU32::new((per_minute / 4).max(1)).expect("at least 1"))
        };
        Self {
            hosts,
            per_client: RateLimiter::keyed(quota(cfg.limits.per_client_per_minute)),
            global: RateLimiter::direct(quota(cfg.limits.per_minute)),
            running: Arc::new(tokio::sync::Semaphore::new(cfg.limits.at_once.max(1))),
        }
    }

    /// Whether `host` (a Host header's value) names this server.
    pub(crate) fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        // Strip the port: after `]` for IPv6, after the last `:` otherwise.
        let name = match host.rfind(']') {
            Some(end) => &host[..=end],
            None => host.rsplit_once(':').map_or(host.as_str(), |(name, _)| name),
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        self.hosts.iter().any(|h| h == name)
    }

    /// Take `n` lookups from `client`'s allowance and the server's.
    pub(crate) fn admit(&self, client: IpAddr, n: u32) -> Result<(), Throttled> {
        let n = NonZeroU32::new(n.max(1)).expect("at least 1");
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(DefaultClock::default().now());
        match self.per_client.check_key_n(&client, n) {
            Ok(Ok(())) => {}
            Ok(Err(not_until)) => return Err(Throttled(wait(not_until))),
            Err(_) => return Err(Throttled(Duration::from_secs(60))),
        }
        match self.global.check_n(n) {
            Ok(Ok(())) => {}
            Ok(Err(not_until)) => return Err(Throttled(wait(not_until))),
            Err(_) => return Err(Throttled(Duration::from_secs(60))),
        }
        if self.per_client.len() > 10_000 {
            self.per_client.retain_recent();
        }
        Ok(())
    }
}

/// The middleware: Host, method and size checks before the handler; the
/// security headers after it.
pub(super) async fn check(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let refused = if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut r =
            plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", "Only GET and HEAD are served.");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        Some(r)
    } else if request.uri().to_string().len() > MAX_URI {
        Some(plain(StatusCode::URI_TOO_LONG, "Address too long", "The request's address is too long."))
    } else {
        match request.headers().get(header::HOST).and_then(|h| h.to_str().ok()) {
            None => Some(plain(StatusCode::BAD_REQUEST, "No Host", "The request has no Host header.")),
            Some(host) if !state.guard.host_allowed(host) => Some(plain(
                StatusCode::MISDIRECTED_REQUEST,
                "Wrong host",
                "This server answers only to its own address (a guard against DNS rebinding); \
                 start it with --allow-host to add a name.",
            )),
            Some(_) => None,
        }
    };
    let mut response = match refused {
        Some(r) => r,
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

fn plain(status: StatusCode, title: &str, text: &str) -> Response {
    (status, Html(page::message(title, text))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(limits: Limits) -> Guard {
        Guard::new(&ServeConfig {
            scan: crate::scan::ScanConfig::default(),
            listen: "127.0.0.1:8080".parse().expect("addr"),
            allowed_hosts: vec!["Mail-Tools.Example".into()],
            limits,
            index: None,
        })
    }

    #[test]
    fn only_this_servers_names_pass_the_host_check() {
        let g = guard(Limits::default());
        for ok in
            ["localhost:8080", "127.0.0.1:8080", "127.0.0.1", "[::1]:8080", "LOCALHOST", "mail-tools.example"]
        {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in
            ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil", "", "[::2]:80"]
        {
            assert!(!g.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn lookups_are_limited_per_client_and_globally() {
        let g = guard(Limits { at_once: 1, per_client_per_minute: 8, per_minute: 12 });
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().expect("ip"), "127.0.0.2".parse().expect("ip"));
        // Bursts of a quarter of a minute's worth.
        assert!(g.admit(a, 2).is_ok());
        let Throttled(wait) = g.admit(a, 1).expect_err("client a is over its burst");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60), "{wait:?}");
        assert!(g.admit(b, 1).is_ok(), "another client has its own allowance");
        // The global burst (3) is now spent.
        assert!(g.admit("127.0.0.3".parse().expect("ip"), 1).is_err());
    }
}
