//! MTA-STS records, policy files and mx coverage. `cargo +nightly fuzz run mta_sts`
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::mta_sts(data));
