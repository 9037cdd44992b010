//! TLS-RPT records. `cargo +nightly fuzz run tlsrpt`
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tlsrpt(data));
