//! The MTA-STS policy fetch (RFC 8461 §3.3): an HTTPS GET of
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
//!
//! The caller resolves `mta-sts.<domain>` through mxscan's own engine and
//! passes the addresses; the fetcher never asks the system resolver. It
//! connects to port 443 of each address in turn (IPv4 or IPv6) until one
//! accepts, then speaks TLS (rustls with the ring provider; trust in the
//! Mozilla roots of webpki-roots plus the anchors of `--ca-file`; the
//! certificate must be valid for `mta-sts.<domain>`, chain to a root and be
//! within its validity period) and HTTP/1.1 with `Connection: close`.
//!
//! What counts (RFC 8461 §3.3): only a 200 carries a policy; a 3xx redirect
//! is never followed; the body is capped at 64 KiB (the RFC's suggested
//! maximum) and the whole fetch (connect, handshake, response) at a timeout.
//! RFC 8461 §3.2 asks senders to check for `text/plain` with a SHOULD: the
//! Content-Type is reported ([`FetchOutcome::content_type`]), not enforced.
//! Every failure is a value ([`FetchError`]), with the leaf certificate's
//! `notAfter` whenever a certificate was presented, even an expired one.
//!
//! A [`Fetcher`] is built once per scan (the TLS configuration, a semaphore
//! bounding the fetches in flight) and is cheap to clone; each fetch is a
//! `Send` future meant to run as its own task ([`Fetcher::spawn`]), so a slow
//! policy host never holds up the DNS work.

mod der;
mod http;
mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// The well-known path of the policy (RFC 8461 §3.2).
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// The largest policy body read: RFC 8461 §3.3's suggested maximum of
/// 64 kilobytes.
pub const MAX_POLICY_BODY: usize = 64 * 1024;

/// The default timeout of a whole fetch. RFC 8461 §3.3 suggests one minute
/// for a sender about to deliver mail; a scanner that fetches the policies of
/// a million domains holds one of `max_concurrent` slots per fetch, and a
/// healthy policy host answers a few round trips after the connect (TCP, TLS,
/// one request), well inside 10 s even across continents. What takes longer
/// is reported as [`FetchError::Timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Policy hosts are always asked on port 443 (RFC 8461 §3.3: HTTPS at the
/// `mta-sts` host, no port in the URL).
const HTTPS_PORT: u16 = 443;

/// How the fetch behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// The whole fetch: connect (every address), TLS handshake, request and
    /// response. Default [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// The largest body accepted. Default [`MAX_POLICY_BODY`].
    pub max_body: usize,
    /// `--ca-file`: a PEM file of trust anchors added to webpki-roots (a test
    /// CA, a private PKI).
    pub ca_file: Option<PathBuf>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self { timeout: DEFAULT_TIMEOUT, max_body: MAX_POLICY_BODY, ca_file: None }
    }
}

/// Why a [`Fetcher`] cannot be built: a process error, not a domain's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchSetupError {
    /// The `--ca-file` cannot be read, holds no certificate, or holds one that
    /// is no usable trust anchor.
    #[error("--ca-file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The concurrency bound is zero.
    #[error("the number of concurrent policy fetches must be at least 1")]
    NoConcurrency,
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// What one fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// The policy body (HTTP 200, at most `max_body` bytes, UTF-8), or why
    /// there is none.
    pub result: Result<String, FetchError>,
    /// The `notAfter` of the leaf certificate the policy host presented, in
    /// milliseconds since the Unix epoch; also when validation failed (an
    /// expired certificate gives a past time). `None` if no certificate was
    /// presented (no connection, a failed handshake before it) or it could
    /// not be read.
    pub cert_not_after: Option<i64>,
    /// The Content-Type of a 200 response, as sent (RFC 8461 §3.2: SHOULD be
    /// `text/plain`).
    pub content_type: Option<String>,
    /// The address that accepted the connection.
    pub address: Option<IpAddr>,
}

impl FetchOutcome {
    /// A fetch that failed before connecting.
    fn failed(error: FetchError) -> Self {
        Self { result: Err(error), cert_not_after: None, content_type: None, address: None }
    }
}

/// Why a fetch has no policy body. `Display` is stable (output columns and
/// reports show it); [`FetchError::kind`] is a stable short code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The caller passed no address for the policy host.
    #[error("no address for the policy host")]
    NoAddress,
    /// `mta-sts.<domain>` is not a DNS name TLS can ask for.
    #[error("invalid policy domain {0:?}")]
    InvalidDomain(String),
    /// No address accepted a TCP connection on port 443 (each address's
    /// error, in order).
    #[error("connect: {0}")]
    Connect(String),
    /// The TLS handshake failed.
    #[error("TLS: {0}")]
    Tls(TlsError),
    /// The whole fetch took longer than the timeout.
    #[error("timed out")]
    Timeout,
    /// A status other than 200 and not a redirect (RFC 8461 §3.3: "only
    /// valid if the HTTP response code is 200").
    #[error("HTTP {0}")]
    Status(u16),
    /// A 3xx, which RFC 8461 §3.3 forbids following.
    #[error("redirect (HTTP {status}) to {}", location.as_deref().unwrap_or("nowhere (no Location)"))]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// Its `Location`, if it had one.
        location: Option<String>,
    },
    /// The body is longer than `max_body` (read no further than that).
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// Not a well-formed HTTP/1.x response, or a body that is not UTF-8.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The connection failed after the handshake (reset, for example).
    #[error("connection: {0}")]
    Connection(String),
}

impl FetchError {
    /// A stable short code for the error, for columns and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoAddress => "no_address",
            Self::InvalidDomain(_) => "invalid_domain",
            Self::Connect(_) => "connect",
            Self::Tls(TlsError::Expired) => "tls_expired",
            Self::Tls(TlsError::NotYetValid) => "tls_not_yet_valid",
            Self::Tls(TlsError::WrongName) => "tls_wrong_name",
            Self::Tls(TlsError::UnknownIssuer) => "tls_unknown_issuer",
            Self::Tls(TlsError::Certificate(_)) => "tls_certificate",
            Self::Tls(TlsError::Handshake(_)) => "tls_handshake",
            Self::Timeout => "timeout",
            Self::Status(_) => "http_status",
            Self::Redirect { .. } => "redirect",
            Self::TooLarge { .. } => "too_large",
            Self::Malformed(_) => "malformed",
            Self::Connection(_) => "connection",
        }
    }
}

/// Why the TLS handshake failed; the certificate errors RFC 8461 §3.3 names
/// have their own variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate's validity period has ended.
    #[error("certificate expired")]
    Expired,
    /// The certificate's validity period has not begun.
    #[error("certificate not yet valid")]
    NotYetValid,
    /// The certificate is not valid for `mta-sts.<domain>`.
    #[error("certificate not valid for the policy host")]
    WrongName,
    /// The certificate does not chain to a trusted root.
    #[error("certificate issuer unknown")]
    UnknownIssuer,
    /// Another certificate error (rustls' name for it).
    #[error("certificate rejected: {0}")]
    Certificate(String),
    /// The handshake failed otherwise (an alert, no common protocol, the
    /// connection closed).
    #[error("handshake failed: {0}")]
    Handshake(String),
}

/// Fetches MTA-STS policies; see the module documentation. Cheap to clone:
/// clones share the TLS configuration and the concurrency bound.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    connector: TlsConnector,
    /// Bounds the fetches in flight; a fetch's timeout starts once it holds
    /// a permit. Never closed.
    permits: Semaphore,
    timeout: Duration,
    max_body: usize,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("timeout", &self.inner.timeout)
            .field("max_body", &self.inner.max_body)
            .field("available_permits", &self.inner.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Builds the TLS configuration (once) and a bound of `max_concurrent`
    /// fetches in flight.
    pub fn new(config: FetchConfig, max_concurrent: usize) -> Result<Self, FetchSetupError> {
        if max_concurrent == 0 {
            return Err(FetchSetupError::NoConcurrency);
        }
        let extra_roots = match &config.ca_file {
            Some(path) => load_trust_anchors(path)?,
            None => Vec::new(),
        };
        let client = tls::client_config(&extra_roots)?;
        Ok(Self {
            inner: Arc::new(Inner {
                connector: TlsConnector::from(client),
                permits: Semaphore::new(max_concurrent.min(Semaphore::MAX_PERMITS)),
                timeout: config.timeout,
                max_body: config.max_body,
            }),
        })
    }

    /// Fetches the policy of `policy_domain` (the mail domain: the host asked
    /// is `mta-sts.<policy_domain>`) from `addrs`, tried in order. Waits for
    /// a permit first; the timeout runs from then.
    pub async fn fetch(&self, policy_domain: &str, addrs: &[IpAddr]) -> FetchOutcome {
        let (host, server_name) = match policy_host(policy_domain) {
            Ok(names) => names,
            Err(e) => return FetchOutcome::failed(e),
        };
        if addrs.is_empty() {
            return FetchOutcome::failed(FetchError::NoAddress);
        }
        // Never closed, so acquire cannot fail; were it to, fetching without
        // a permit is the lesser harm.
        let _permit = self.inner.permits.acquire().await.ok();
        let deadline = Instant::now() + self.inner.timeout;
        let mut address = None;
        let exchange = self.exchange(&host, server_name, addrs, deadline, &mut address);
        let (response, cert_not_after) =
            tls::recording_not_after(tokio::time::timeout_at(deadline, exchange)).await;
        let mut content_type = None;
        let result = match response {
            Err(_elapsed) => Err(FetchError::Timeout),
            Ok(Err(e)) => Err(e),
            Ok(Ok(response)) => match response.status {
                200 => {
                    content_type = response.content_type;
                    String::from_utf8(response.body)
                        .map_err(|_| FetchError::Malformed("body is not UTF-8".into()))
                }
                // RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed".
                status @ 300..=399 => Err(FetchError::Redirect { status, location: response.location }),
                status => Err(FetchError::Status(status)),
            },
        };
        FetchOutcome { result, cert_not_after, content_type, address }
    }

    /// [`Fetcher::fetch`] as a task of its own on `runtime`.
    pub fn spawn(
        &self,
        runtime: &tokio::runtime::Handle,
        policy_domain: String,
        addrs: Vec<IpAddr>,
    ) -> tokio::task::JoinHandle<FetchOutcome> {
        let fetcher = self.clone();
        runtime.spawn(async move { fetcher.fetch(&policy_domain, &addrs).await })
    }

    /// Connect, handshake, request, response; the caller bounds it in time.
    async fn exchange(
        &self,
        host: &str,
        server_name: ServerName<'static>,
        addrs: &[IpAddr],
        deadline: Instant,
        connected: &mut Option<IpAddr>,
    ) -> Result<http::Response, FetchError> {
        let (stream, address) = connect_first(addrs, deadline).await?;
        *connected = Some(address);
        let mut stream = self
            .inner
            .connector
            .connect(server_name, stream)
            .await
            .map_err(|e| FetchError::Tls(tls::classify_handshake_error(&e)))?;
        let request = format!(
            "GET {POLICY_PATH} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mxscan/{}\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        let lost = |e: std::io::Error| FetchError::Connection(e.to_string());
        stream.write_all(request.as_bytes()).await.map_err(lost)?;
        stream.flush().await.map_err(lost)?;

        let mut parser = http::ResponseParser::new(self.inner.max_body);
        let mut buf = vec![0u8; 8 * 1024];
        loop {
            let read = match stream.read(&mut buf).await {
                Ok(n) => n,
                // The peer closed without close_notify: the end of the stream
                // (a Content-Length or chunked body still has to be complete;
                // a close-delimited one ends here).
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(lost(e)),
            };
            let step = if read == 0 { parser.finish().map(Some) } else { parser.feed(&buf[..read]) };
            match step {
                Ok(Some(response)) => return Ok(response),
                Ok(None) => {}
                Err(http::HttpError::TooLarge) => {
                    return Err(FetchError::TooLarge { limit: self.inner.max_body });
                }
                Err(http::HttpError::Malformed(reason)) => return Err(FetchError::Malformed(reason)),
            }
        }
    }
}

/// `mta-sts.<domain>` (RFC 8461 §3.2), without the domain's trailing dot,
/// as the Host field and as the TLS server name.
fn policy_host(policy_domain: &str) -> Result<(String, ServerName<'static>), FetchError> {
    let domain = policy_domain.strip_suffix('.').unwrap_or(policy_domain);
    let host = format!("mta-sts.{domain}");
    match ServerName::try_from(host.clone()) {
        Ok(name @ ServerName::DnsName(_)) if !domain.is_empty() => Ok((host, name)),
        _ => Err(FetchError::InvalidDomain(policy_domain.to_owned())),
    }
}

/// Connects to port 443 of the first address that accepts. Every address but
/// the last gets an equal share of the time left; the last gets all of it
/// (the caller's deadline ends it).
async fn connect_first(addrs: &[IpAddr], deadline: Instant) -> Result<(TcpStream, IpAddr), FetchError> {
    let mut errors = Vec::new();
    for (index, &address) in addrs.iter().enumerate() {
        let socket = SocketAddr::new(address, HTTPS_PORT);
        let left = addrs.len() - index;
        let connect = TcpStream::connect(socket);
        let attempt = if left == 1 {
            Ok(connect.await)
        } else {
            let share =
                deadline.saturating_duration_since(Instant::now()) / u32::try_from(left).unwrap_or(u32::MAX);
            tokio::time::timeout(share, connect).await
        };
        match attempt {
            Ok(Ok(stream)) => return Ok((stream, address)),
            Ok(Err(e)) => errors.push(format!("{socket}: {e}")),
            Err(_elapsed) => errors.push(format!("{socket}: timed out")),
        }
    }
    Err(FetchError::Connect(errors.join("; ")))
}

/// The certificates of a PEM file, each checked as a trust anchor.
fn load_trust_anchors(path: &Path) -> Result<Vec<CertificateDer<'static>>, FetchSetupError> {
    let fail = |reason: String| FetchSetupError::CaFile { path: path.to_owned(), reason };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    let mut check = rustls::RootCertStore::empty();
    for (index, cert) in certs.iter().enumerate() {
        check.add(cert.clone()).map_err(|e| fail(format!("certificate {}: {e}", index + 1)))?;
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_host_names() {
        let (host, name) = policy_host("example.com.").unwrap();
        assert_eq!(host, "mta-sts.example.com");
        assert_eq!(name.to_str(), "mta-sts.example.com");
        for bad in ["", ".", "exa mple.com", "a\r\nb.com", "..com"] {
            assert_eq!(policy_host(bad).unwrap_err(), FetchError::InvalidDomain(bad.into()), "{bad:?}");
        }
    }

    #[test]
    fn display_is_stable() {
        assert_eq!(FetchError::Status(404).to_string(), "HTTP 404");
        assert_eq!(
            FetchError::Redirect { status: 301, location: Some("https://x.example/".into()) }.to_string(),
            "redirect (HTTP 301) to https://x.example/"
        );
        assert_eq!(
            FetchError::TooLarge { limit: MAX_POLICY_BODY }.to_string(),
            "body larger than 65536 bytes"
        );
        assert_eq!(FetchError::Tls(TlsError::Expired).to_string(), "TLS: certificate expired");
        assert_eq!(FetchError::Timeout.to_string(), "timed out");
        assert_eq!(FetchError::Tls(TlsError::UnknownIssuer).kind(), "tls_unknown_issuer");
    }

    #[tokio::test]
    async fn no_address_and_bad_names_need_no_network() {
        let fetcher = Fetcher::new(FetchConfig::default(), 1).unwrap();
        let outcome = fetcher.fetch("example.com", &[]).await;
        assert_eq!(outcome.result, Err(FetchError::NoAddress));
        let outcome = fetcher.fetch("bad name", &[IpAddr::from([127, 0, 0, 1])]).await;
        assert_eq!(outcome.result, Err(FetchError::InvalidDomain("bad name".into())));
        assert_eq!(outcome.address, None);
    }

    #[test]
    fn setup_errors() {
        assert!(matches!(Fetcher::new(FetchConfig::default(), 0), Err(FetchSetupError::NoConcurrency)));
        let missing = FetchConfig { ca_file: Some("/nonexistent/ca.pem".into()), ..FetchConfig::default() };
        assert!(matches!(Fetcher::new(missing, 1), Err(FetchSetupError::CaFile { .. })));
        let dir = std::env::temp_dir().join(format!("mxscan-fetch-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let err =
            Fetcher::new(FetchConfig { ca_file: Some(empty), ..FetchConfig::default() }, 1).unwrap_err();
        assert!(err.to_string().ends_with("no PEM certificate in it"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fetches_are_send_tasks() {
        fn send<T: Send + 'static>(_: &T) {}
        let fetcher = Fetcher::new(FetchConfig::default(), 1).unwrap();
        let owned = fetcher.clone();
        send(&async move { owned.fetch("example.com", &[]).await });
    }
}
