//! The Parquet/JSON row builder on odd rows. `cargo +nightly fuzz run row`
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::row(data));
