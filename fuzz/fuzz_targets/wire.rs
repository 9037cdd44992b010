//! The answer walker on arbitrary bytes (differential against hickory-proto).
//! `cargo +nightly fuzz run wire`
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;
use mxscan::dns::wire::rtype;

fuzz_target!(|data: &[u8]| {
    for qtype in [rtype::MX, rtype::A, rtype::AAAA] {
        checks::wire(data, "example.com", qtype);
    }
});
