//! Provider matching speed: host names per second on one core, over a mix
//! of provider hosts, look-alikes and unknown self-hosted names.
//!
//! `cargo bench --bench providers`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mxscan::analyze::providers::ProviderTable;

fn hosts() -> Vec<String> {
    let mut hosts = Vec::new();
    for i in 0..2000 {
        hosts.push(match i % 10 {
            0 => "aspmx.l.google.com".to_string(),
            1 => format!("alt{}.aspmx.l.google.com", i % 5),
            2 => format!("d{i}-com.mail.protection.outlook.com"),
            3 => format!("mx0a-00{i}.pphosted.com"),
            4 => "eu-smtp-inbound-1.mimecast.com".to_string(),
            5 => format!("mx{}.mail.ovh.net", i % 4),
            6 => format!("mail.customer{i}.com"),
            7 => format!("mx.shop{i}.co.uk"),
            8 => format!("mx1.mypphosted{i}.com"),
            _ => format!("smtp.example{i}.de"),
        });
    }
    hosts
}

fn matcher(c: &mut Criterion) {
    let table = ProviderTable::embedded();
    let hosts = hosts();
    let mut group = c.benchmark_group("providers");
    group.throughput(Throughput::Elements(hosts.len() as u64));
    group.bench_function("match_host", |b| {
        b.iter(|| hosts.iter().filter(|h| table.match_host(black_box(h)).is_some()).count())
    });
    group.bench_function("org_domain_psl", |b| {
        b.iter(|| hosts.iter().filter_map(|h| psl::domain_str(black_box(h))).count())
    });
    group.finish();
}

criterion_group!(benches, matcher);
criterion_main!(benches);
