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
//! - [`report`]: `mxscan report`, aggregates of a scan's Parquet;
//! - [`diff`]: `mxscan diff`, what changed between two scans, per domain;
//! - [`serve`]: `mxscan serve`, the lookup page and the scan browser.
#![warn(missing_docs)]

pub mod analyze;
pub mod diff;
pub mod dns;
pub mod input;
pub mod output;
pub mod policy;
pub mod record;
pub mod report;
pub mod resolve;
pub mod scan;
pub mod serve;

/// FNV-1a, 64 bits: a stable content hash for the version strings of the
/// embedded tables (not for security; the same bytes give the same hash on
/// every build and platform, which `std`'s hashers do not promise).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A file of this repository (the docs the unit tests hold the code to).
#[cfg(test)]
pub(crate) fn repo_file(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fnv1a64_reference_values() {
        // From the FNV reference test vectors.
        assert_eq!(super::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
