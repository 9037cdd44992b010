//! MTA-STS (RFC 8461): the `_mta-sts` TXT record ([`record`](mod@record)), the policy
//! file ([`policy`](mod@policy)), how its `mx` patterns cover the domain's exchanges
//! ([`coverage`](mod@coverage)), and the `mta_sts` column built from the three steps the
//! engine takes: the TXT answer ([`MtaStsReport::from_txt`]), the policy
//! fetch ([`MtaStsReport::with_fetch`]) and the MX set
//! ([`MtaStsReport::with_mx`]).

pub mod coverage;
pub mod policy;
pub mod record;

use crate::analyze::findings::Severity;
use crate::policy::tags::{Selection, TxtRecord, keywords};

pub use coverage::{Coverage, coverage, pattern_matches};
pub use policy::{StsPolicy, parse_policy};
pub use record::{StsRecord, parse_record, select};

keywords! {
    /// Policy mode (RFC 8461 §5).
    Mode {
        /// Do not deliver to hosts that fail validation.
        Enforce = "enforce",
        /// Deliver, but report failures (TLS-RPT).
        Testing = "testing",
        /// No active policy.
        None = "none",
    }
}

keywords! {
    /// Status of the `mta_sts` column.
    MtaStsStatus {
        /// No `v=STSv1` record.
        None = "none",
        /// Record valid (and, once fetched, the policy too).
        Ok = "ok",
        /// The record is malformed, or there are several.
        RecordInvalid = "record_invalid",
        /// The policy could not be fetched.
        FetchFailed = "fetch_failed",
        /// The policy does not parse.
        PolicyInvalid = "policy_invalid",
        /// A DNS failure on the TXT lookup.
        TempError = "temperror",
    }
}

/// `mta_sts_cert_expiring` below this many days left (findings catalogue).
pub const CERT_EXPIRING_DAYS: i32 = 14;

const DAY_MS: i64 = 86_400_000;

/// The policy URL for `domain` (RFC 8461 §3.2).
pub fn policy_url(domain: &str) -> String {
    format!("https://mta-sts.{domain}/.well-known/mta-sts.txt")
}

/// The TXT name for `domain` (RFC 8461 §3.1).
pub fn record_name(domain: &str) -> String {
    format!("_mta-sts.{domain}")
}

/// Whole days from `scanned_at_ms` to `not_after_ms`, rounded down
/// (negative once expired).
pub fn days_left(not_after_ms: i64, scanned_at_ms: i64) -> i32 {
    let days = not_after_ms.saturating_sub(scanned_at_ms).div_euclid(DAY_MS);
    i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX })
}

/// `mta_sts_cert_expiring`: fewer than 14 days left (expired included).
pub fn cert_expiring(days_left: i32) -> bool {
    days_left < CERT_EXPIRING_DAYS
}

/// How the policy fetch ended (the HTTPS client's outcome, RFC 8461 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch<'a> {
    /// HTTP 200 with this body.
    Body {
        /// The body.
        body: &'a [u8],
        /// Expiry of the policy host's certificate (ms since the epoch).
        cert_not_after_ms: Option<i64>,
    },
    /// No usable policy: the reason (HTTP status, redirect, TLS or
    /// certificate error, timeout, body too large).
    Failed {
        /// For the `fetch_error` column.
        error: &'a str,
        /// Expiry of the certificate, if the TLS handshake got that far.
        cert_not_after_ms: Option<i64>,
    },
}

/// The `mta_sts` column (output contract, "policy stage").
#[derive(Debug, Clone, PartialEq)]
pub struct MtaStsReport {
    /// See [`MtaStsStatus`].
    pub status: MtaStsStatus,
    /// The TXT record.
    pub record: Option<String>,
    /// Its `id`.
    pub id: Option<String>,
    /// The policy's `mode`.
    pub mode: Option<Mode>,
    /// The policy's `max_age`, seconds.
    pub max_age: Option<u32>,
    /// The policy's `mx` values, in order.
    pub mx_patterns: Vec<String>,
    /// Why the fetch failed.
    pub fetch_error: Option<String>,
    /// Expiry of the policy host's certificate, ms since the epoch (UTC).
    pub cert_not_after: Option<i64>,
    /// Days from the scan to that expiry (negative when expired).
    pub cert_days_left: Option<i32>,
    /// Exchanges no pattern matches.
    pub mx_uncovered: Vec<String>,
    /// Patterns that match no exchange.
    pub patterns_unused: Vec<String>,
    /// Share of the exchanges covered.
    pub mx_coverage: Option<f32>,
}

impl MtaStsReport {
    /// A report with the given status and nothing else.
    pub fn empty(status: MtaStsStatus) -> Self {
        Self {
            status,
            record: None,
            id: None,
            mode: None,
            max_age: None,
            mx_patterns: Vec::new(),
            fetch_error: None,
            cert_not_after: None,
            cert_days_left: None,
            mx_uncovered: Vec::new(),
            patterns_unused: Vec::new(),
            mx_coverage: None,
        }
    }

    /// Step 1, the answer for `_mta-sts.<domain>` (`None`: the lookup
    /// failed). Status `ok` here means the record is valid and the policy
    /// is to be fetched ([`needs_fetch`](Self::needs_fetch)).
    pub fn from_txt(answer: Option<&[TxtRecord]>) -> Self {
        let Some(txt) = answer else { return Self::empty(MtaStsStatus::TempError) };
        match select(txt) {
            Selection::None => Self::empty(MtaStsStatus::None),
            Selection::Several(_) => Self::empty(MtaStsStatus::RecordInvalid),
            Selection::One(text) => {
                let parsed = parse_record(&text);
                let status =
                    if parsed.errors.is_empty() { MtaStsStatus::Ok } else { MtaStsStatus::RecordInvalid };
                Self { record: Some(text), id: parsed.id, ..Self::empty(status) }
            }
        }
    }

    /// Whether the policy should be fetched: the record is valid and no
    /// fetch outcome was applied yet.
    pub fn needs_fetch(&self) -> bool {
        self.status == MtaStsStatus::Ok && self.mode.is_none() && self.fetch_error.is_none()
    }

    /// Step 2, the fetch outcome. `scanned_at_ms` gives `cert_days_left`.
    /// Does nothing unless [`needs_fetch`](Self::needs_fetch).
    pub fn with_fetch(mut self, fetch: Fetch<'_>, scanned_at_ms: i64) -> Self {
        if !self.needs_fetch() {
            return self;
        }
        let cert = match fetch {
            Fetch::Body { body, cert_not_after_ms } => {
                let policy = parse_policy(body);
                if !policy.errors.is_empty() {
                    self.status = MtaStsStatus::PolicyInvalid;
                }
                self.mode = policy.mode;
                self.max_age = policy.max_age;
                self.mx_patterns = policy.mx_patterns;
                cert_not_after_ms
            }
            Fetch::Failed { error, cert_not_after_ms } => {
                self.status = MtaStsStatus::FetchFailed;
                self.fetch_error = Some(error.to_string());
                cert_not_after_ms
            }
        };
        self.cert_not_after = cert;
        self.cert_days_left = cert.map(|not_after| days_left(not_after, scanned_at_ms));
        self
    }

    /// Step 3, the domain's MX set as (exchange, tier). Coverage is
    /// computed only for a valid policy (an invalid one is no policy).
    pub fn with_mx(mut self, mx: &[(String, u8)]) -> Self {
        if let Some(c) = self.coverage(mx) {
            self.mx_uncovered = c.mx_uncovered;
            self.patterns_unused = c.patterns_unused;
            self.mx_coverage = c.mx_coverage;
        }
        self
    }

    fn coverage(&self, mx: &[(String, u8)]) -> Option<Coverage> {
        let mode = self.mode.filter(|_| self.status == MtaStsStatus::Ok)?;
        Some(coverage(&self.mx_patterns, mx, mode))
    }

    /// The severity of `mta_sts_mx_uncovered` for this MX set (it depends
    /// on the tiers, which the column does not keep).
    pub fn mx_uncovered_severity(&self, mx: &[(String, u8)]) -> Option<Severity> {
        self.coverage(mx)?.uncovered_severity
    }

    /// The finding codes (catalogue "Mail policy"); for the severity of
    /// `mta_sts_mx_uncovered` see [`mx_uncovered_severity`](Self::mx_uncovered_severity).
    /// `mta_sts_without_tlsrpt` is [`crate::policy::tlsrpt::mta_sts_without_tlsrpt`].
    pub fn findings(&self) -> Vec<&'static str> {
        let mut codes = Vec::new();
        match self.status {
            MtaStsStatus::RecordInvalid => codes.push("mta_sts_record_invalid"),
            MtaStsStatus::FetchFailed => codes.push("mta_sts_policy_unavailable"),
            MtaStsStatus::PolicyInvalid => codes.push("mta_sts_policy_invalid"),
            _ => {}
        }
        let active =
            self.status == MtaStsStatus::Ok && matches!(self.mode, Some(Mode::Enforce | Mode::Testing));
        if active && !self.mx_uncovered.is_empty() {
            codes.push("mta_sts_mx_uncovered");
        }
        if self.status == MtaStsStatus::Ok && !self.patterns_unused.is_empty() {
            codes.push("mta_sts_pattern_unused");
        }
        if self.cert_days_left.is_some_and(cert_expiring) {
            codes.push("mta_sts_cert_expiring");
        }
        if self.status == MtaStsStatus::Ok && self.mode == Some(Mode::Testing) {
            codes.push("mta_sts_testing");
        }
        codes
    }
}

#[cfg(test)]
mod tests;
