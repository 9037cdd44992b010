//! DMARC records, the discovery walk and report authorisation. `cargo +nightly fuzz run dmarc`
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::dmarc(data));
