//! DKIM key records. `cargo +nightly fuzz run dkim`
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::dkim(data));
