//! The MTA-STS policy fetcher against a real HTTPS server: `scripts/policy-https`
//! starts nginx on 127.0.80.1:443 with a test CA and the virtual hosts of
//! `scripts/policy-hosts.json`; every host is fetched and its outcome checked
//! against the table, then the server is stopped by its pid (also when an
//! assertion fails). Needs root (port 443) and the Debian package nginx: with
//! CI=true a missing one fails the test, elsewhere it is skipped loudly.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mxscan::policy::fetch::{FetchConfig, FetchError, FetchOutcome, Fetcher, TlsError};
use serde_json::Value;

/// Short, so the slow host's case takes seconds, not the default ten.
const TIMEOUT: Duration = Duration::from_secs(3);

const DAY_MS: i64 = 86_400_000;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Why this machine cannot run the server, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found =
        |tool: &str| path.split(':').chain(["/usr/sbin", "/sbin"]).any(|d| Path::new(d).join(tool).is_file());
    for tool in ["nginx", "openssl", "python3"] {
        if !found(tool) {
            return Some(format!("{tool} is not installed (Debian packages nginx, openssl, python3)"));
        }
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: nginx cannot bind port 443".into());
    }
    None
}

/// The running server; stops it by its pid and removes its directory when
/// dropped, whatever the test did.
struct PolicyServer {
    dir: PathBuf,
}

impl PolicyServer {
    fn start() -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!("mxscan-policy-https-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let server = Self { dir };
        let out = Command::new(repo("scripts/policy-https")).arg("start").arg(&server.dir).output().unwrap();
        assert!(
            out.status.success(),
            "scripts/policy-https start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn nginx_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("nginx.pid")).ok()?.trim().parse().ok()
    }
}

impl PolicyServer {
    /// `scripts/policy-https stop DIR`: stops nginx by its pid and waits.
    fn stop(&self) -> Result<(), String> {
        let out = Command::new(repo("scripts/policy-https"))
            .arg("stop")
            .arg(&self.dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    }
}

/// The process runs (exists and is not a zombie waiting for init to reap it).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("scripts/policy-https stop {}: {e}", self.dir.display());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Table {
    zone: String,
    address: IpAddr,
    hosts: Vec<Value>,
}

fn table() -> Table {
    let text = std::fs::read_to_string(repo("scripts/policy-hosts.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    Table {
        zone: json["zone"].as_str().unwrap().to_owned(),
        address: json["address"].as_str().unwrap().parse().unwrap(),
        hosts: json["hosts"].as_array().unwrap().clone(),
    }
}

/// The body the script writes for a host: each policy line and its ending.
fn expected_body(host: &Value) -> String {
    let eol = if host["eol"].as_str() == Some("lf") { "\n" } else { "\r\n" };
    host["policy"].as_array().unwrap().iter().map(|l| format!("{}{eol}", l.as_str().unwrap())).collect()
}

fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// Whole days from now to the certificate's end (negative once it ended).
fn days_left(outcome: &FetchOutcome) -> i64 {
    let not_after = outcome.cert_not_after.expect("the presented certificate's notAfter");
    (not_after - now_ms()).div_euclid(DAY_MS)
}

#[test]
fn fetches_every_policy_host() {
    if let Some(why) = missing_prerequisite() {
        assert!(!in_ci(), "CI=true and {why}: the MTA-STS fetch test cannot run");
        eprintln!("\n*** SKIPPED tests/mta_sts_fetch.rs: {why} ***\n");
        return;
    }
    let server = PolicyServer::start();
    let table = table();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = FetchConfig { timeout: TIMEOUT, ca_file: Some(server.ca_file()), ..FetchConfig::default() };
    let fetcher = Fetcher::new(config, 4).unwrap();

    // Every host as a task of its own, four at a time; the slow one is timed
    // apart below.
    let case = |host: &Value| host["case"].as_str().unwrap().to_owned();
    let address = |host: &Value| host["address"].as_str().map_or(table.address, |a| a.parse().unwrap());
    let tasks: Vec<_> = table
        .hosts
        .iter()
        .filter(|h| !h["slow"].as_bool().unwrap_or(false))
        .map(|h| {
            let handle =
                fetcher.spawn(runtime.handle(), format!("{}.{}", case(h), table.zone), vec![address(h)]);
            (h, handle)
        })
        .collect();
    let mut outcomes = std::collections::HashMap::new();
    for (host, handle) in tasks {
        let outcome = runtime.block_on(handle).unwrap();
        let want = host["fetch"].as_str().unwrap();
        eprintln!(
            "{:14} {:?} (cert_not_after {:?})",
            case(host),
            outcome.result.as_ref().map(String::len),
            outcome.cert_not_after
        );
        match &outcome.result {
            Ok(body) => {
                assert_eq!(want, "ok", "{}: got a body, want {want:?}", case(host));
                assert_eq!(body, &expected_body(host), "{}: body", case(host));
                assert_eq!(outcome.address, Some(address(host)), "{}", case(host));
                let content_type = host["content_type"].as_str().unwrap_or("text/plain");
                assert_eq!(outcome.content_type.as_deref(), Some(content_type), "{}", case(host));
            }
            Err(e) => {
                assert!(e.to_string().starts_with(want), "{}: got {e:?} ({e}), want {want:?}", case(host));
                assert_eq!(outcome.content_type, None, "{}", case(host));
            }
        }
        outcomes.insert(case(host), outcome);
    }
    let outcome = |case: &str| outcomes.get(case).unwrap_or_else(|| panic!("no case {case} in the table"));

    // The error kinds, not only their text.
    assert_eq!(outcome("not-found").result, Err(FetchError::Status(404)));
    assert_eq!(outcome("server-error").result, Err(FetchError::Status(500)));
    assert_eq!(
        outcome("redirect").result,
        Err(FetchError::Redirect {
            status: 301,
            location: Some("https://mta-sts.enforce.policy.test/.well-known/mta-sts.txt".into())
        })
    );
    assert_eq!(outcome("oversized").result, Err(FetchError::TooLarge { limit: 65536 }));
    assert_eq!(outcome("expired").result, Err(FetchError::Tls(TlsError::Expired)));
    assert_eq!(outcome("wrong-name").result, Err(FetchError::Tls(TlsError::WrongName)));
    assert!(matches!(outcome("no-vhost").result, Err(FetchError::Tls(TlsError::Handshake(_)))));
    assert!(matches!(outcome("refused").result, Err(FetchError::Connect(_))));
    assert_eq!(outcome("html").content_type.as_deref(), Some("text/html"));

    // The certificate's end, also when it was refused: good ones are issued
    // for a year, "expiring" for ten days, "expired" ended thirty days ago.
    for good in
        ["enforce", "testing", "none", "wildcard", "lf", "chunked", "wrong-name", "redirect", "not-found"]
    {
        assert!((363..=365).contains(&days_left(outcome(good))), "{good}: {} days", days_left(outcome(good)));
    }
    assert!(
        (9..=10).contains(&days_left(outcome("expiring"))),
        "expiring: {} days",
        days_left(outcome("expiring"))
    );
    assert!(
        (-31..=-30).contains(&days_left(outcome("expired"))),
        "expired: {} days",
        days_left(outcome("expired"))
    );
    assert_eq!(outcome("refused").cert_not_after, None);
    assert_eq!(outcome("no-vhost").cert_not_after, None);

    // The slow host: the whole-fetch timeout ends it, on time.
    let slow =
        table.hosts.iter().find(|h| h["slow"].as_bool() == Some(true)).expect("a slow host in the table");
    let started = Instant::now();
    let outcome =
        runtime.block_on(fetcher.fetch(&format!("{}.{}", case(slow), table.zone), &[table.address]));
    let took = started.elapsed();
    assert_eq!(outcome.result, Err(FetchError::Timeout));
    assert!(took >= TIMEOUT && took < TIMEOUT + Duration::from_millis(1500), "the slow host took {took:?}");
    assert!(outcome.cert_not_after.is_some(), "the handshake completed before the timeout");

    // Addresses are tried in order: a refusing one, then the server.
    let domain = format!("enforce.{}", table.zone);
    let refusing: IpAddr = "127.0.80.2".parse().unwrap();
    let outcome = runtime.block_on(fetcher.fetch(&domain, &[refusing, table.address]));
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(outcome.address, Some(table.address));

    // Without the test CA (webpki-roots only) the good host has an unknown issuer.
    let public_only = Fetcher::new(FetchConfig { timeout: TIMEOUT, ..FetchConfig::default() }, 1).unwrap();
    let outcome = runtime.block_on(public_only.fetch(&domain, &[table.address]));
    assert_eq!(outcome.result, Err(FetchError::Tls(TlsError::UnknownIssuer)));
    assert!(outcome.cert_not_after.is_some());

    // The server answered every request it logged with the fetcher's request.
    let log = std::fs::read_to_string(server.dir.join("access.log")).unwrap();
    assert!(
        log.contains(&format!(
            "\"GET /.well-known/mta-sts.txt HTTP/1.1\" 200 {} \"-\" \"mxscan/",
            expected_body(&table.hosts[0]).len()
        )),
        "{log}"
    );
    // Stopped by its pid, and gone.
    let pid = server.nginx_pid().expect("DIR/nginx.pid");
    assert!(running(pid));
    server.stop().unwrap();
    assert!(!running(pid), "nginx {pid} still runs after stop");
    drop(server);
}
