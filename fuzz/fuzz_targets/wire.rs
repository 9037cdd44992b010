//! The answer walker on arbitrary bytes: never panics, and whatever MX set
//! it accepts, hickory-proto decodes the same message to the same set.
//!
//! `cargo +nightly fuzz run wire` (from the repository root).
#![no_main]

use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use libfuzzer_sys::fuzz_target;
use mxscan::dns::wire::{parse_answer, rtype};

fuzz_target!(|data: &[u8]| {
    let Ok(ours) = parse_answer(data, "example.com", rtype::MX, false) else { return };
    let Ok(theirs) = Message::from_vec(data) else { return };
    if ours.canonical.is_some() {
        return; // CNAME chains: hickory has no chain view to compare with.
    }
    let theirs: Vec<(u16, String)> = theirs
        .answers
        .iter()
        .filter(|r| r.name.to_ascii().trim_end_matches('.').eq_ignore_ascii_case("example.com"))
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii().trim_end_matches('.').to_lowercase())),
            _ => None,
        })
        .collect();
    let ours: Vec<(u16, String)> = ours
        .mx
        .into_iter()
        .map(|m| (m.preference, if m.exchange == "." { String::new() } else { m.exchange }))
        .collect();
    if !ours.iter().any(|(_, e)| e.contains('\\')) {
        assert_eq!(ours, theirs);
    }
});
