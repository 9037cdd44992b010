//! TLSA RDATA and the DANE checks. `cargo +nightly fuzz run dane`
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::dane(data));
