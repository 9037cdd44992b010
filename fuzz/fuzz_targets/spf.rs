//! The SPF record parser, the static audit and check_host() on arbitrary
//! record bytes: no panic, display/re-parse round trip, both machines end.
//! `cargo +nightly fuzz run spf`
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::spf(data));
