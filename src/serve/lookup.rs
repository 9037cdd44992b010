//! Lookups for the page: names checked, limits taken, then the scan's own
//! engine ([`crate::scan::run`]) on a thread of its own, like `mxscan lookup`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::AppState;
use super::guard::Throttled;
use crate::input::{Item, Target, normalize};
use crate::record::DomainRecord;
use crate::scan::{self, Collect, Counters, Source};

/// Domains in one pasted list at most.
pub const MAX_NAMES: usize = 25;

/// Why a lookup gave no rows.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// Not a domain name (or an address).
    #[error("{input:?} is not a domain name: {reason}")]
    Invalid {
        /// What was given.
        input: String,
        /// Why it is refused.
        reason: String,
    },
    /// Nothing to look up.
    #[error("no domain given")]
    Empty,
    /// Too long a list.
    #[error("at most {MAX_NAMES} domains at once ({0} given)")]
    TooMany(usize),
    /// Over a rate limit.
    #[error("too many lookups; try again in {0} s")]
    Throttled(u64),
    /// The engine could not finish (e.g. every resolver is dead).
    #[error("the lookup failed: {0}")]
    Failed(String),
}

impl LookupError {
    /// The HTTP status that says it.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } | Self::Empty | Self::TooMany(_) => StatusCode::BAD_REQUEST,
            Self::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Failed(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// A page title for it.
    pub fn title(&self) -> &'static str {
        match self {
            Self::Invalid { .. } | Self::Empty | Self::TooMany(_) => "Not a lookup",
            Self::Throttled(_) => "Slow down",
            Self::Failed(_) => "Lookup failed",
        }
    }

    /// Headers that go with it (`Retry-After`).
    pub(crate) fn decorate(&self, response: &mut Response) {
        if let Self::Throttled(secs) = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*secs));
        }
    }
}

/// A name as the page takes it: [`normalize`]d, and not an address (a
/// dotted quad is a valid DNS name to the normaliser, but no TLD is all
/// digits: RFC 3696 §2).
fn check(token: &str) -> Result<String, String> {
    let name = normalize(token)?;
    if name.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err("an address, not a domain name".into());
    }
    Ok(name)
}

/// One name of a pasted list: as given, and its normalised form or why it
/// is not a name.
pub type Name = (String, Result<String, String>);

/// The names of a pasted list (separated by white space, commas or
/// semicolons; repeats dropped), each with its normalised form or why it is
/// not a name.
pub fn parse_names(text: &str) -> Result<Vec<Name>, LookupError> {
    let mut out: Vec<Name> = Vec::new();
    for token in text.split(|c: char| c.is_whitespace() || c == ',' || c == ';').filter(|t| !t.is_empty()) {
        let checked = check(token);
        let repeat =
            out.iter().any(|(t, c)| t == token || (c.is_ok() && c.as_ref().ok() == checked.as_ref().ok()));
        if !repeat {
            out.push((token.to_string(), checked));
        }
    }
    match out.len() {
        0 => Err(LookupError::Empty),
        n if n > MAX_NAMES => Err(LookupError::TooMany(n)),
        _ => Ok(out),
    }
}

/// Look up one name (a permalink or the API).
pub(crate) async fn one(
    state: &Arc<AppState>,
    client: IpAddr,
    token: &str,
) -> Result<DomainRecord, LookupError> {
    let name = check(token).map_err(|reason| LookupError::Invalid { input: token.to_string(), reason })?;
    let mut rows = run(state, client, vec![(token.to_string(), Ok(name))]).await?;
    rows.pop().ok_or_else(|| LookupError::Failed("no row came back".into()))
}

/// Look up `names` together; one row each, in the order given (a name that
/// is not one becomes an `invalid` row, as in a scan).
pub(crate) async fn run(
    state: &Arc<AppState>,
    client: IpAddr,
    names: Vec<Name>,
) -> Result<Vec<DomainRecord>, LookupError> {
    let valid = names.iter().filter(|(_, n)| n.is_ok()).count() as u32;
    if valid > 0 {
        state
            .guard
            .admit(client, valid)
            .map_err(|Throttled(wait)| LookupError::Throttled(wait.as_secs() + 1))?;
    }
    let _permit = Arc::clone(&state.guard.running)
        .acquire_owned()
        .await
        .map_err(|e| LookupError::Failed(e.to_string()))?;
    let items: Vec<Item> = names
        .into_iter()
        .zip(1..)
        .map(|((input, name), line)| match name {
            Ok(domain) => Item::Target(Target { domain, input, rank: None, line }),
            Err(reason) => Item::Invalid { input, rank: None, reason, line },
        })
        .collect();
    let cfg = crate::scan::ScanConfig { engines: 1, ..state.cfg.scan.clone() };
    let rows = Collect::default();
    let sink = rows.clone();
    // The engine's loop blocks its thread at the end (it joins its input and
    // writer threads): a runtime of its own on a blocking thread.
    let done = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let (_keep, interrupts) = tokio::sync::watch::channel(0u8);
        runtime
            .block_on(scan::run(
                &cfg,
                Source::Items(items),
                Box::new(sink),
                Arc::new(Counters::default()),
                interrupts,
            ))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| LookupError::Failed(e.to_string()))?;
    done.map_err(LookupError::Failed)?;
    let mut rows = std::mem::take(&mut *rows.0.lock().expect("not poisoned"));
    rows.sort_by_key(|r| r.line);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_lists_split_dedupe_and_refuse_addresses() {
        let names =
            parse_names("Example.COM, example.com.\nbücher.example; 192.0.2.1  10.0.0.0/8 ").expect("names");
        let shown: Vec<(&str, Result<&str, &str>)> =
            names.iter().map(|(t, n)| (t.as_str(), n.as_deref().map_err(String::as_str))).collect();
        assert_eq!(
            shown,
            vec![
                ("Example.COM", Ok("example.com")),
                ("bücher.example", Ok("xn--bcher-kva.example")),
                ("192.0.2.1", Err("an address, not a domain name")),
                ("10.0.0.0/8", Err("invalid character '/'")),
            ]
        );
        assert!(matches!(parse_names(" ,; "), Err(LookupError::Empty)));
        let many: String = (0..=MAX_NAMES).map(|i| format!("d{i}.example ")).collect();
        assert!(matches!(parse_names(&many), Err(LookupError::TooMany(n)) if n == MAX_NAMES + 1));
    }
}
