//! The per-domain path without sockets: an MX answer and its exchanges'
//! A/AAAA answers parsed from the wire, fed through the resolution state
//! machine, made into a row, analysed (providers, findings) and converted
//! into an Arrow batch. A regression guard for the CPU per domain (issue 10):
//! the README quotes its number; CI does not time anything.
//!
//! `cargo bench --bench domain_path`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, AAAA, MX};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use mxscan::analyze::Analyzer;
use mxscan::analyze::providers::ProviderTable;
use mxscan::dns::wire::{self, rtype};
use mxscan::input::Target;
use mxscan::output::arrow::to_batch;
use mxscan::resolve::domain::DomainScan;
use mxscan::resolve::{LookupStatus, Outcome};

/// Rows per batch, as the writer builds them.
const BATCH: usize = 8192;

fn response(qname: &str, qtype: RecordType, answers: Vec<RData>) -> Vec<u8> {
    let mut msg = Message::new(7, MessageType::Response, OpCode::Query);
    msg.metadata.recursion_available = true;
    let owner = Name::from_ascii(format!("{qname}.")).unwrap();
    msg.add_query(Query::query(owner.clone(), qtype));
    for rdata in answers {
        msg.add_answer(Record::from_rdata(owner.clone(), 300, rdata));
    }
    msg.to_vec().unwrap()
}

/// The packets of one Google-hosted domain: its MX (five exchanges) and each
/// exchange's A and AAAA.
struct Packets {
    domain: String,
    mx: Vec<u8>,
    addresses: Vec<(String, u16, Vec<u8>)>,
}

fn packets(i: usize) -> Packets {
    let domain = format!("domain{i}.example");
    let hosts = ["aspmx.l.google.com", "alt1.aspmx.l.google.com", "alt2.aspmx.l.google.com"];
    let mx = response(
        &domain,
        RecordType::MX,
        hosts
            .iter()
            .zip([1u16, 5, 10])
            .map(|(h, p)| RData::MX(MX::new(p, Name::from_ascii(format!("{h}.")).unwrap())))
            .collect(),
    );
    let mut addresses = Vec::new();
    for (n, host) in hosts.iter().enumerate() {
        let a = response(host, RecordType::A, vec![RData::A(A::new(142, 250, 1, n as u8))]);
        let aaaa = response(
            host,
            RecordType::AAAA,
            vec![RData::AAAA(AAAA::new(0x2a00, 0x1450, 0, 0, 0, 0, 0, n as u16))],
        );
        addresses.push((host.to_string(), rtype::A, a));
        addresses.push((host.to_string(), rtype::AAAA, aaaa));
    }
    Packets { domain, mx, addresses }
}

fn outcome(bytes: &[u8], name: &str, qtype: u16) -> Arc<Outcome> {
    let answer = wire::parse_answer(bytes, name, qtype, false).expect("a good answer");
    Arc::new(Outcome { status: LookupStatus::NoError, answer, resolver: Some(0), error: None })
}

fn domain_path(c: &mut Criterion) {
    let inputs: Vec<Packets> = (0..BATCH).map(packets).collect();
    let resolvers: [std::sync::Arc<str>; 1] = [std::sync::Arc::from("127.0.0.1:53")];
    let table = Arc::new(ProviderTable::embedded());
    let mut group = c.benchmark_group("domain_path");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("parse_record_analyze_arrow_8192", |b| {
        let mut analyzer = Analyzer::new(Arc::clone(&table));
        b.iter(|| {
            let mut rows = Vec::with_capacity(BATCH);
            for (line, p) in inputs.iter().enumerate() {
                let target = Target {
                    domain: p.domain.clone(),
                    input: p.domain.clone(),
                    rank: Some(line as u32 + 1),
                    line: line as u64 + 1,
                };
                let mut scan = DomainScan::new(target, false);
                let needs = scan.on_outcome(&p.domain, rtype::MX, &outcome(&p.mx, &p.domain, rtype::MX));
                black_box(&needs);
                // Every exchange's addresses parsed as if each domain asked them (the cache is
                // the core's business): the per-packet cost stays in the measure.
                for (host, qtype, bytes) in &p.addresses {
                    scan.on_outcome(host, *qtype, &outcome(bytes, host, *qtype));
                }
                assert!(scan.is_done());
                let mut row = scan.into_record(7, 3, &resolvers);
                analyzer.analyze(&mut row);
                rows.push(row);
            }
            black_box(to_batch(&rows).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, domain_path);
criterion_main!(benches);
