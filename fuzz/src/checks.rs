#![allow(dead_code)] // each fuzz target uses one of these checks
//! The properties the fuzz targets check, shared with the corpus replay
//! test (`tests/fuzz_corpus.rs`) so CI runs the same checks on every
//! corpus file.

use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use mxscan::dns::wire::{parse_answer, rtype};

/// The walker on arbitrary bytes: never panics; whatever it accepts for
/// `(qname, qtype)` without a CNAME chain, hickory-proto decodes to the same
/// records.
pub(crate) fn wire(data: &[u8], qname: &str, qtype: u16) {
    let Ok(ours) = parse_answer(data, qname, qtype, false) else { return };
    let Ok(theirs) = Message::from_vec(data) else { return };
    if ours.canonical.is_some() {
        return; // hickory has no chain view to compare with
    }
    // Names compared by their raw labels: hickory's text form escapes some
    // bytes (`\-oel.com` for a leading hyphen) that the walker keeps.
    let raw = |n: &hickory_proto::rr::Name| {
        n.iter().map(|l| String::from_utf8_lossy(l).to_lowercase()).collect::<Vec<_>>().join(".")
    };
    let owner = |n: &hickory_proto::rr::Name| raw(n) == qname.to_lowercase();
    match qtype {
        rtype::MX => {
            let theirs = answers_of(&theirs, owner, |d| match d {
                RData::MX(mx) => Some((mx.preference, raw(&mx.exchange))),
                _ => None,
            });
            let ours: Vec<(u16, String)> = ours
                .mx
                .into_iter()
                .map(|m| (m.preference, if m.exchange == "." { String::new() } else { m.exchange }))
                .collect();
            // The walker escapes label bytes that a text name cannot hold
            // (`.`, `\\`, non-printables); the raw join cannot: skip those.
            if !ours.iter().any(|(_, e)| e.contains('\\')) {
                assert_eq!(ours, theirs);
            }
        }
        rtype::A => {
            let theirs = answers_of(&theirs, owner, |d| if let RData::A(a) = d { Some(a.0) } else { None });
            assert_eq!(ours.ipv4, theirs);
        }
        rtype::AAAA => {
            let theirs =
                answers_of(&theirs, owner, |d| if let RData::AAAA(a) = d { Some(a.0) } else { None });
            assert_eq!(ours.ipv6, theirs);
        }
        _ => {}
    }
}

/// The walker on arbitrary bytes, asked the packet's own question (and the
/// other two types for that name): a fuzzed answer must get past the
/// question check to exercise the record walker at all.
pub(crate) fn wire_packet(data: &[u8]) {
    let qname = question_name(data).unwrap_or_else(|| "example.com".to_string());
    for qtype in [rtype::MX, rtype::A, rtype::AAAA] {
        wire(data, &qname, qtype);
    }
}

/// The question name of a packet, if it is written out (no compression)
/// in plain letters, digits, `-` and `_`.
pub(crate) fn question_name(data: &[u8]) -> Option<String> {
    let mut pos = 12;
    let mut labels: Vec<&str> = Vec::new();
    loop {
        let len = *data.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        let label = data.get(pos..pos + len)?;
        if len > 63 || !label.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_') {
            return None;
        }
        labels.push(std::str::from_utf8(label).ok()?);
        pos += len;
    }
    (!labels.is_empty()).then(|| labels.join("."))
}

/// The records of one kind at the question's owner, in answer order.
fn answers_of<T>(
    msg: &Message,
    owner: impl Fn(&hickory_proto::rr::Name) -> bool,
    pick: impl Fn(&RData) -> Option<T>,
) -> Vec<T> {
    msg.answers.iter().filter(|r| owner(&r.name)).filter_map(|r| pick(&r.data)).collect()
}

/// The input normaliser: never panics; what it accepts is ASCII, at most
/// 253 octets, and normalises to itself.
pub(crate) fn normalize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(name) = mxscan::input::normalize(&text) {
        assert!(name.is_ascii() && name.len() <= 253, "{name:?}");
        assert_eq!(mxscan::input::normalize(&name).as_deref(), Ok(name.as_str()));
    }
}

/// The row builder: any row, however odd its strings and numbers, goes
/// through analysis and into an Arrow batch and a JSON line.
pub(crate) fn row(data: &[u8]) {
    use mxscan::record::{AddressStatus, DomainRecord, MxEntry};
    let mut bytes = data.iter().copied();
    let mut next = || bytes.next().unwrap_or(0);
    let text = |n: usize, at: usize| {
        String::from_utf8_lossy(&data[at.min(data.len())..(at + n).min(data.len())]).into_owned()
    };
    let mut r = DomainRecord::invalid(text(40, 0), Some(u32::from(next())), text(20, 3));
    if next() % 2 == 0 {
        r.domain = Some(text(30, 5));
        r.status = mxscan::record::Status::Ok;
        r.error = None;
        r.addresses_checked = next() % 2 == 0;
    }
    let count = usize::from(next() % 8);
    for i in 0..count {
        let mut m =
            MxEntry::new(u16::from(next()) << 8 | u16::from(next()), text(usize::from(next() % 64), i * 7));
        m.tier = next();
        m.ipv4 = (0..next() % 3).map(|_| std::net::Ipv4Addr::new(next(), next(), next(), next())).collect();
        m.address_status = match next() % 4 {
            0 => AddressStatus::Ok,
            1 => AddressStatus::NxDomain,
            2 => AddressStatus::Timeout,
            _ => AddressStatus::Skipped,
        };
        m.org_nxdomain = next() % 5 == 0;
        r.mx.push(m);
    }
    // Built once: parsing the embedded table each run would be most of the work.
    static TABLE: std::sync::OnceLock<mxscan::analyze::providers::ProviderTable> = std::sync::OnceLock::new();
    mxscan::analyze::analyze(&mut r, TABLE.get_or_init(mxscan::analyze::providers::ProviderTable::embedded));
    let batch = mxscan::output::arrow::to_batch(std::slice::from_ref(&r)).expect("any row converts");
    assert_eq!(batch.num_rows(), 1);
    let line = mxscan::output::jsonl::to_json(&r).to_string();
    assert!(!line.contains('\n'));
}
