//! The answer walker on arbitrary bytes, asked the packet's own question
//! (differential against hickory-proto).
//! `cargo +nightly fuzz run wire`
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| checks::wire_packet(data));
