//! The mail policy stage (`--policy`): what a domain publishes about the mail
//! it sends and how it must be delivered, beside the MX records that say who
//! receives it.
//!
//! Every parser here is written to its RFC's ABNF and is sans-IO: it takes
//! record text (or a fetched policy body) and returns a report whose fields are
//! the output contract's columns, with errors as data. Lookups go through
//! mxscan's own engine; this module only says which names to ask.

pub mod dane;
pub mod dkim;
pub mod dmarc;
pub mod fetch;
pub mod mta_sts;
pub mod report;
pub mod spf;
pub mod tags;
pub mod tlsrpt;
