//! Wire codec speed: the hand-rolled encoder and walker against
//! hickory-proto, measured in the same run so the ratio is meaningful.
//!
//! `cargo bench --bench codec`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::MX;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use mxscan::dns::wire::{self, EDNS_PAYLOAD, rtype};

fn gmail_like() -> Vec<u8> {
    let mut msg = Message::new(7, MessageType::Response, OpCode::Query);
    let owner = Name::from_ascii("gmail.com.").unwrap();
    msg.add_query(Query::query(owner.clone(), RecordType::MX));
    for (p, host) in [
        (5, "gmail-smtp-in.l.google.com."),
        (10, "alt1.gmail-smtp-in.l.google.com."),
        (20, "alt2.gmail-smtp-in.l.google.com."),
        (30, "alt3.gmail-smtp-in.l.google.com."),
        (40, "alt4.gmail-smtp-in.l.google.com."),
    ] {
        msg.add_answer(Record::from_rdata(
            owner.clone(),
            300,
            RData::MX(MX::new(p, Name::from_ascii(host).unwrap())),
        ));
    }
    msg.to_vec().unwrap()
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    let mut buf = Vec::with_capacity(512);
    group.bench_function("mxscan", |b| {
        b.iter(|| wire::encode_query(&mut buf, black_box(0xbeef), black_box("example-domain.com"), rtype::MX))
    });
    group.bench_function("hickory", |b| {
        b.iter(|| {
            let mut msg = Message::new(black_box(0xbeef), MessageType::Query, OpCode::Query);
            msg.metadata.recursion_desired = true;
            msg.add_query(Query::query(
                Name::from_ascii(black_box("example-domain.com.")).unwrap(),
                RecordType::MX,
            ));
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            msg.set_edns(edns);
            msg.to_vec().unwrap()
        })
    });
    group.finish();

    let packet = gmail_like();
    let mut group = c.benchmark_group("decode_5mx");
    group.bench_function("mxscan", |b| {
        b.iter(|| wire::parse_answer(black_box(&packet), "gmail.com", rtype::MX, false).unwrap())
    });
    group.bench_function("hickory", |b| {
        b.iter(|| {
            let msg = Message::from_vec(black_box(&packet)).unwrap();
            msg.answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
