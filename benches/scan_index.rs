//! The scan browser's index over a synthetic 2,000,000-row scan: load time,
//! memory per row, and the latency of a scripted set of queries (filters,
//! every sort, deep pages), facets, prevalence and reading one row back.
//! CI does not time anything.
//!
//! `cargo bench --bench scan_index`
//!
//! The Parquet file is written once, with the crate's own writer, to
//! `target/tmp/scan_index_2m_v1.parquet` (delete it to write it again).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mxscan::analyze::findings::CATALOGUE;
use mxscan::analyze::providers::Category;
use mxscan::output::{self, Format, ParquetSettings};
use mxscan::record::{DomainRecord, MxEntry, Status};
use mxscan::serve::index::{NONE, Query, ScanIndex, Sort};

const ROWS: u64 = 2_000_000;

/// Providers by weight (a long tail after the big two), with the
/// exchanges their customers list.
const PROVIDERS: [(&str, Category, u64, &[&str]); 12] = [
    (
        "google",
        Category::Mailbox,
        300,
        &["aspmx.l.google.com", "alt1.aspmx.l.google.com", "alt2.aspmx.l.google.com"],
    ),
    ("microsoft", Category::Mailbox, 250, &[]),
    ("proofpoint", Category::Gateway, 30, &["mx0a-00123.pphosted.com", "mx0b-00123.pphosted.com"]),
    (
        "mimecast",
        Category::Gateway,
        25,
        &["eu-smtp-inbound-1.mimecast.com", "eu-smtp-inbound-2.mimecast.com"],
    ),
    ("ovh", Category::Hosting, 40, &["mx1.mail.ovh.net", "mx2.mail.ovh.net", "mx3.mail.ovh.net"]),
    ("godaddy", Category::Hosting, 40, &["mx1.secureserver.net", "mx2.secureserver.net"]),
    ("zoho", Category::Mailbox, 20, &["mx.zoho.com", "mx2.zoho.com", "mx3.zoho.com"]),
    ("yandex", Category::Mailbox, 15, &["mx.yandex.net"]),
    ("ionos", Category::Hosting, 20, &["mx00.ionos.com", "mx01.ionos.com"]),
    ("improvmx", Category::Forwarding, 5, &["mx1.improvmx.com", "mx2.improvmx.com"]),
    ("fastmail", Category::Mailbox, 5, &["in1-smtp.messagingengine.com", "in2-smtp.messagingengine.com"]),
    ("barracuda", Category::Gateway, 10, &["d123.mx.ess.barracudanetworks.com"]),
];
const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mer", "shop", "tech", "net", "in", "vo", "mail", "ra", "zen", "ti", "data", "go", "pro",
    "lux", "eco", "bi", "max", "sol", "ar", "web", "nova", "cloud",
];
const TLDS: [&str; 8] = ["com", "net", "org", "de", "co.uk", "io", "fr", "com.br"];

fn mix(mut x: u64) -> u64 {
    // splitmix64: a fixed, well-spread sequence without a dependency.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn domain(i: u64, h: u64) -> String {
    let mut name = String::new();
    for k in 0..2 + h % 2 {
        name.push_str(SYLLABLES[(mix(h ^ k) % SYLLABLES.len() as u64) as usize]);
    }
    format!("{name}{}.{}", i % 100_000, TLDS[(h >> 8) as usize % TLDS.len()])
}

fn row(i: u64) -> DomainRecord {
    let h = mix(i);
    let name = domain(i, h);
    let rank = (!h.is_multiple_of(20)).then_some(i as u32 + 1);
    let status = match (h >> 16) % 100 {
        0..=87 => Status::Ok,
        88..=92 => Status::NxDomain,
        93..=95 => Status::ServFail,
        96..=97 => Status::Timeout,
        98 => Status::Refused,
        _ => Status::Invalid,
    };
    if status == Status::Invalid {
        return DomainRecord::invalid(format!("Bad Input {i}"), rank, "not a domain name".into());
    }
    let mut r = DomainRecord::invalid(name.clone(), rank, String::new());
    r.domain = Some(name.clone());
    r.status = status;
    r.error = None;
    if status != Status::Ok {
        return r;
    }
    // A provider for three rows in four; the rest self-hosted.
    let total: u64 = PROVIDERS.iter().map(|p| p.2).sum();
    let mut pick = (h >> 24) % (total * 4 / 3);
    let provider = PROVIDERS.iter().find(|p| {
        let hit = pick < p.2;
        pick = pick.saturating_sub(p.2);
        hit
    });
    let exchanges: Vec<String> = match provider {
        Some(("microsoft", ..)) => vec![format!("{}.mail.protection.outlook.com", name.replace('.', "-"))],
        Some((.., hosts)) => hosts.iter().map(|s| s.to_string()).collect(),
        None => (1..=1 + (h >> 40) % 3).map(|k| format!("mx{k}.{name}")).collect(),
    };
    // Tiers: all in one, or one per exchange, or (rarely) a null MX.
    let spread = (h >> 44).is_multiple_of(4);
    r.mx = exchanges
        .into_iter()
        .enumerate()
        .map(|(k, e)| {
            let tier = if spread { k as u8 + 1 } else { 1 };
            MxEntry { tier, ..MxEntry::new(10 * u16::from(tier), e) }
        })
        .collect();
    if (h >> 48).is_multiple_of(200) {
        r.mx = vec![MxEntry { tier: 1, ..MxEntry::new(0, ".".into()) }];
    }
    r.null_mx = Some(r.mx.iter().any(MxEntry::is_null));
    if let Some((id, category, ..)) = provider {
        r.provider = Some(Arc::from(*id));
        r.provider_category = Some(*category);
        r.providers = vec![Arc::from(*id)];
    }
    // 0 to 4 findings, skewed towards the first codes.
    let mut findings: Vec<&'static str> = (0..(h >> 52) % 5)
        .map(|k| {
            let x = mix(h ^ (k + 100)) % 1000;
            CATALOGUE[((x * x) / (1000 * 1000 / CATALOGUE.len() as u64)) as usize % CATALOGUE.len()].code
        })
        .collect();
    findings.sort_unstable();
    findings.dedup();
    r.findings = findings;
    r
}

fn dataset() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scan_index_2m_v1.parquet");
    if !path.exists() {
        let started = Instant::now();
        let mut sink =
            output::open(path.to_str().unwrap(), Format::Parquet, &ParquetSettings::default()).unwrap();
        for i in 0..ROWS {
            sink.write(row(i)).unwrap();
        }
        sink.finish().unwrap();
        println!("wrote {} in {:.1?}", path.display(), started.elapsed());
    }
    path
}

fn scan_index(c: &mut Criterion) {
    let path = dataset();
    let paths = [path];
    let started = Instant::now();
    let index = ScanIndex::load(&paths).unwrap();
    let (rows, bytes, memory) = (index.rows() as f64, index.memory_bytes(), index.memory());
    println!(
        "loaded {rows} rows in {:.2?}: {bytes} bytes ({:.1} bytes/row); rows {:.1} bytes/row \
         (text {:.1}), exchanges {} bytes for {} distinct ({:.1} bytes each), other {} bytes",
        started.elapsed(),
        bytes as f64 / rows,
        memory.rows as f64 / rows,
        memory.text as f64 / rows,
        memory.exchanges,
        memory.distinct_exchanges,
        memory.exchanges as f64 / memory.distinct_exchanges as f64,
        memory.other,
    );
    let probe =
        index.query(&Query { offset: 1_234_567, limit: 1, ..Query::default() }).rows[0].domain.clone();

    let mut group = c.benchmark_group("scan_index");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(20));
    group.bench_function("load_2m", |b| b.iter(|| black_box(ScanIndex::load(&paths).unwrap())));
    group.finish();

    let s = |v: &str| Some(v.to_string());
    let queries: [(&str, Query); 12] = [
        ("first_page", Query::default()),
        ("status_nxdomain", Query { status: s("nxdomain"), ..Query::default() }),
        ("provider_google", Query { provider: s("google"), ..Query::default() }),
        ("finding", Query { finding: s(CATALOGUE[3].code), ..Query::default() }),
        ("tiers_2", Query { tiers: Some(2), ..Query::default() }),
        ("text_shop", Query { text: s("shop"), ..Query::default() }),
        (
            "combined_none_ok_mail",
            Query { provider: s(NONE), status: s("ok"), text: s("mail"), ..Query::default() },
        ),
        ("domain_offset_1m", Query { sort: Sort::Domain, offset: 1_000_000, ..Query::default() }),
        ("rank_desc_offset_1.9m", Query { descending: true, offset: 1_900_000, ..Query::default() }),
        (
            "provider_desc_offset_100k",
            Query { sort: Sort::Provider, descending: true, offset: 100_000, ..Query::default() },
        ),
        ("findings_desc", Query { sort: Sort::Findings, descending: true, ..Query::default() }),
        (
            "mx_count_ok_offset_500k",
            Query { sort: Sort::MxCount, status: s("ok"), offset: 500_000, ..Query::default() },
        ),
    ];
    let mut group = c.benchmark_group("scan_index_query");
    group.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (name, q) in &queries {
        println!("{name}: {} matches", index.query(q).total);
        group.bench_function(*name, |b| b.iter(|| black_box(index.query(q))));
    }
    group.bench_function("facets", |b| b.iter(|| black_box(index.facets())));
    group.bench_function("prevalence", |b| {
        b.iter(|| {
            black_box(index.prevalence(
                Some("google"),
                &["aspmx.l.google.com", "mx.zoho.com"],
                &["single_mx"],
            ))
        })
    });
    group.bench_function("row_json", |b| b.iter(|| black_box(index.row_json(&probe).unwrap().unwrap())));
    group.bench_function("export_csv_provider_google", |b| {
        b.iter(|| {
            let mut out = std::io::sink();
            black_box(
                index.export_csv(&Query { provider: s("google"), ..Query::default() }, &mut out).unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, scan_index);
criterion_main!(benches);
