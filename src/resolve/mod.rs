//! Per-domain resolution: the state machine of one domain
//! ([`domain::DomainScan`]) and the scheduler that runs many of them over
//! shared lookups ([`core::ScanCore`]). Both are sans-IO.

pub mod cache;
pub mod core;
pub mod domain;
pub mod health;
pub mod policy;

use crate::dns::wire::Answer;

/// How one lookup ended, after retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupStatus {
    /// NOERROR, with data or without (NODATA).
    NoError,
    /// NXDOMAIN.
    NxDomain,
    /// SERVFAIL on the last try.
    ServFail,
    /// REFUSED on the last try.
    Refused,
    /// No answer on the last try.
    Timeout,
    /// Another RCODE, or an answer that could not be used; see `error`.
    Error,
}

/// The result of one lookup, shared between every domain that needed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended.
    pub status: LookupStatus,
    /// What the answer held (empty unless NOERROR).
    pub answer: Answer,
    /// Index of the resolver that gave the final answer.
    pub resolver: Option<u16>,
    /// Detail when `status` is `Error`.
    pub error: Option<String>,
}
