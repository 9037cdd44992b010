//! mxscan maps the mail infrastructure of many domains: for every domain
//! in a list it asks a recursive resolver for the MX records and the
//! addresses of every exchanger, tells who runs them, detects what is
//! broken or risky, and writes one row per domain (Parquet or JSON lines).
//!
//! The modules follow the pipeline:
//!
//! - [`input`]: reading and normalising domain lists;
//! - [`dns`]: wire codec, in-flight table, sockets, TCP, rate limit;
//! - [`resolve`]: the per-domain state machine and the scan core (sans-IO);
//! - [`analyze`]: address classes, provider fingerprints, registrable
//!   domains and the findings catalogue;
//! - [`output`]: Arrow/Parquet and JSON lines;
//! - [`scan`]: the threads and the event loop that tie them together;
//! - [`report`]: `mxscan report`, aggregates of a scan's Parquet.
#![warn(missing_docs)]

pub mod analyze;
pub mod dns;
pub mod input;
pub mod output;
pub mod record;
pub mod report;
pub mod resolve;
pub mod scan;
