//! The index over small files written by the crate's own writer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};

use super::*;
use crate::analyze::providers::Category;
use crate::output::{self, Format, ParquetSettings};
use crate::record::{DomainRecord, MxEntry, Status};

const SCANNED_AT_MS: i64 = 1_795_978_238_123;
const SCANNED_AT: &str = "2026-11-29T18:50:38.123Z";
const INVALID: &str = "Not A Domain, \"quoted\"";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mxscan-index-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

type Mx<'a> = &'a [(u16, &'a str, u8)];

fn rec(
    domain: &str,
    rank: Option<u32>,
    status: Status,
    provider: Option<(&str, Category)>,
    mx: Mx<'_>,
    findings: &[&'static str],
) -> DomainRecord {
    let mut r = DomainRecord::invalid(domain.into(), rank, String::new());
    r.domain = Some(domain.into());
    r.status = status;
    r.error = None;
    r.mx = mx.iter().map(|&(p, e, tier)| MxEntry { tier, ..MxEntry::new(p, e.into()) }).collect();
    r.null_mx = status.knows_mx().then(|| r.mx.iter().any(MxEntry::is_null));
    if let Some((id, category)) = provider {
        r.provider = Some(Arc::from(id));
        r.provider_category = Some(category);
        r.providers = vec![Arc::from(id)];
    }
    r.findings = findings.to_vec();
    r.scanned_at_ms = SCANNED_AT_MS;
    r
}

fn invalid(input: &str, rank: Option<u32>) -> DomainRecord {
    let mut r = DomainRecord::invalid(input.into(), rank, "not a domain name".into());
    r.scanned_at_ms = SCANNED_AT_MS;
    r
}

fn write(path: &Path, rows: Vec<DomainRecord>) {
    let mut sink =
        output::open(path.to_str().unwrap(), Format::Parquet, &ParquetSettings::default()).unwrap();
    for row in rows {
        sink.write(row).unwrap();
    }
    sink.finish().unwrap();
}

const GOOGLE: Option<(&str, Category)> = Some(("google", Category::Mailbox));
const MICROSOFT: Option<(&str, Category)> = Some(("microsoft", Category::Mailbox));
const PROOFPOINT: Option<(&str, Category)> = Some(("proofpoint", Category::Gateway));

/// Labels of the fixture's rows, by position: `text#rank`.
const LABELS: [&str; 12] = [
    "alpha.example#3",
    "bravo.example#1",
    "charlie.example#2",
    "delta.example#-",
    "echo.example#5",
    "Not A Domain, \"quoted\"#6",
    "foxtrot.example#7",
    "alpha.example#8",
    "golf.example#-",
    "hotel.example#10",
    "india.example#11",
    "JULIET..example#-",
];

/// One file of 9 rows and a dataset directory of two part files (3 rows):
/// the rows of [`LABELS`], in order.
fn fixture(name: &str) -> (PathBuf, Vec<PathBuf>) {
    let dir = scratch(name);
    let google =
        [(1, "aspmx.l.google.com", 1), (5, "alt1.aspmx.l.google.com", 2), (10, "alt2.aspmx.l.google.com", 3)];
    let foxtrot = [
        (10, "mx0a.pphosted.com", 1),
        (20, "mx0b.pphosted.com", 2),
        (30, "backup1.foxtrot.example", 3),
        (40, "backup2.foxtrot.example", 4),
        (50, "aspmx.l.google.com", 5),
    ];
    write(
        &dir.join("scan.parquet"),
        vec![
            rec("alpha.example", Some(3), Status::Ok, GOOGLE, &google, &[]),
            rec(
                "bravo.example",
                Some(1),
                Status::Ok,
                MICROSOFT,
                &[(0, "bravo-example.mail.protection.outlook.com", 1)],
                &["single_mx"],
            ),
            rec(
                "charlie.example",
                Some(2),
                Status::Ok,
                GOOGLE,
                &[(1, "aspmx.l.google.com", 1)],
                &["single_address", "single_mx"],
            ),
            rec(
                "delta.example",
                None,
                Status::Ok,
                None,
                &[(0, ".", 1)],
                &["null_mx_spf_allows_senders", "zz_unknown"],
            ),
            rec("echo.example", Some(5), Status::NxDomain, None, &[], &[]),
            invalid(INVALID, Some(6)),
            rec(
                "foxtrot.example",
                Some(7),
                Status::Ok,
                PROOFPOINT,
                &foxtrot,
                &["gateway_bypass", "mixed_providers"],
            ),
            rec("alpha.example", Some(8), Status::Timeout, None, &[], &[]),
            rec(
                "golf.example",
                None,
                Status::Ok,
                None,
                &[(10, "mx1.golf.example", 1), (20, "mx1.golf.example", 2)],
                &["mx_duplicate"],
            ),
        ],
    );
    let ds = dir.join("ds");
    std::fs::create_dir_all(&ds).unwrap();
    write(
        &ds.join("part-000000.parquet"),
        vec![rec(
            "hotel.example",
            Some(10),
            Status::Ok,
            GOOGLE,
            &[(1, "aspmx.l.google.com", 1)],
            &["single_mx"],
        )],
    );
    write(
        &ds.join("part-000001.parquet"),
        vec![
            rec(
                "india.example",
                Some(11),
                Status::Ok,
                MICROSOFT,
                &[(0, "india-example.mail.protection.outlook.com", 1)],
                &[],
            ),
            invalid("JULIET..example", None),
        ],
    );
    // Not Parquet: a directory's other files are not read.
    std::fs::write(ds.join("_journal.jsonl"), "{}\n").unwrap();
    (dir.clone(), vec![dir.join("scan.parquet"), ds])
}

fn label(r: &RowSummary) -> String {
    format!("{}#{}", r.domain, r.rank.map_or("-".to_string(), |r| r.to_string()))
}

fn labels(page: &Page) -> Vec<String> {
    page.rows.iter().map(label).collect()
}

fn rows_of(ids: &[usize]) -> Vec<String> {
    ids.iter().map(|&i| LABELS[i].to_string()).collect()
}

/// Every row of `q` (a page big enough for the fixture).
fn all(index: &ScanIndex, q: Query) -> Page {
    index.query(&Query { limit: MAX_LIMIT, ..q })
}

fn count(index: &ScanIndex, q: Query) -> usize {
    let page = all(index, q);
    assert_eq!(page.total, page.rows.len());
    page.total
}

#[test]
fn the_catalogue_fits_the_bitset() {
    assert!(CATALOGUE.len() <= 128);
}

#[test]
fn loads_files_and_dataset_directories() {
    let (dir, paths) = fixture("load");
    let index = ScanIndex::load(&paths).unwrap();
    assert_eq!(index.rows(), 12);
    let ds = dir.join("ds");
    assert_eq!(
        index.sources(),
        &[dir.join("scan.parquet"), ds.join("part-000000.parquet"), ds.join("part-000001.parquet")]
    );
    assert_eq!(index.unknown_findings(), 1);
    let memory = index.memory();
    let text: usize = LABELS.iter().map(|l| l.rsplit_once('#').unwrap().0.len()).sum();
    assert!(memory.text >= text && memory.rows >= memory.text + 12 * 38, "{memory:?}");
    // Google's three, foxtrot's other four, two Microsoft tenants, golf's one, the null MX.
    assert_eq!(memory.distinct_exchanges, 11);
    assert_eq!(index.memory_bytes(), memory.rows + memory.exchanges + memory.other);
    assert!(index.memory_bytes() < 64 * 1024, "{memory:?}");
    // A file named twice is read once.
    let twice = ScanIndex::load(&[paths[0].clone(), paths[0].clone()]).unwrap();
    assert_eq!(twice.rows(), 9);

    let page = index.query(&Query::default());
    assert_eq!(page.total, 12);
    let foxtrot = page.rows.iter().find(|r| r.domain == "foxtrot.example").unwrap();
    assert_eq!(
        foxtrot,
        &RowSummary {
            domain: "foxtrot.example".into(),
            valid: true,
            rank: Some(7),
            status: "ok".into(),
            provider: Some("proofpoint".into()),
            category: Some("gateway".into()),
            mx_count: 5,
            tiers: 5,
            findings: vec!["gateway_bypass", "mixed_providers"],
        }
    );
    let bad = page.rows.iter().find(|r| r.domain == INVALID).unwrap();
    assert!(!bad.valid);
    assert_eq!((bad.status.as_str(), bad.provider.as_deref(), bad.mx_count), ("invalid", None, 0));
    // The unknown code is dropped, the known one kept.
    let delta = page.rows.iter().find(|r| r.domain == "delta.example").unwrap();
    assert_eq!(delta.findings, vec!["null_mx_spf_allows_senders"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_filter() {
    let (dir, paths) = fixture("filters");
    let index = ScanIndex::load(&paths).unwrap();
    let q = |f: fn(&mut Query)| {
        let mut q = Query::default();
        f(&mut q);
        q
    };
    assert_eq!(count(&index, q(|q| q.status = Some("ok".into()))), 8);
    assert_eq!(count(&index, q(|q| q.status = Some("invalid".into()))), 2);
    assert_eq!(count(&index, q(|q| q.status = Some("OK".into()))), 0);
    assert_eq!(count(&index, q(|q| q.provider = Some("google".into()))), 3);
    assert_eq!(count(&index, q(|q| q.provider = Some(NONE.into()))), 6);
    assert_eq!(count(&index, q(|q| q.provider = Some("nosuch".into()))), 0);
    assert_eq!(count(&index, q(|q| q.category = Some("gateway".into()))), 1);
    assert_eq!(count(&index, q(|q| q.category = Some("mailbox".into()))), 5);
    assert_eq!(count(&index, q(|q| q.category = Some(NONE.into()))), 6);
    assert_eq!(count(&index, q(|q| q.finding = Some("single_mx".into()))), 3);
    assert_eq!(count(&index, q(|q| q.finding = Some("zz_unknown".into()))), 0);
    assert_eq!(count(&index, q(|q| q.finding = Some("no_mx".into()))), 0);
    for (tiers, n) in [(0, 4), (1, 5), (2, 1), (3, 1), (4, 1), (9, 1)] {
        assert_eq!(count(&index, Query { tiers: Some(tiers), ..Query::default() }), n, "tiers {tiers}");
    }
    // Text: case-insensitive, on domains and on invalid inputs.
    let text = |t: &str| all(&index, Query { text: Some(t.into()), ..Query::default() });
    assert_eq!(labels(&text("ALPHA")), rows_of(&[0, 7]));
    assert_eq!(labels(&text(" not a domain ")), rows_of(&[5]));
    assert_eq!(labels(&text("juliet.")), rows_of(&[11]));
    assert_eq!(text("example").total, 11);
    assert_eq!(text("\"QUOTED\"").total, 1);
    // Not across two rows' texts ("…example" + "bravo…").
    assert_eq!(text("examplebravo").total, 0);
    assert_eq!(text("   ").total, 12);
    // Filters combine.
    let both = all(
        &index,
        Query {
            status: Some("ok".into()),
            provider: Some("google".into()),
            text: Some("ha".into()),
            ..Query::default()
        },
    );
    assert_eq!(labels(&both), rows_of(&[2, 0]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_sort_both_ways() {
    let (dir, paths) = fixture("sorts");
    let index = ScanIndex::load(&paths).unwrap();
    let cases: [(Sort, &[usize], &[usize]); 5] = [
        (Sort::Rank, &[1, 2, 0, 4, 5, 6, 7, 9, 10, 3, 8, 11], &[10, 9, 7, 6, 5, 4, 0, 2, 1, 3, 8, 11]),
        (Sort::Domain, &[11, 5, 0, 7, 1, 2, 3, 4, 6, 8, 9, 10], &[10, 9, 8, 6, 4, 3, 2, 1, 7, 0, 5, 11]),
        (Sort::Provider, &[2, 0, 9, 1, 10, 6, 4, 5, 7, 3, 8, 11], &[6, 1, 10, 2, 0, 9, 4, 5, 7, 3, 8, 11]),
        (Sort::Findings, &[0, 4, 5, 7, 10, 11, 1, 9, 3, 8, 2, 6], &[2, 6, 1, 9, 3, 8, 0, 4, 5, 7, 10, 11]),
        (Sort::MxCount, &[4, 5, 7, 11, 1, 2, 9, 10, 3, 8, 0, 6], &[6, 0, 8, 1, 2, 9, 10, 3, 4, 5, 7, 11]),
    ];
    for (sort, asc, desc) in cases {
        let page = all(&index, Query { sort, ..Query::default() });
        assert_eq!(labels(&page), rows_of(asc), "{sort:?} ascending");
        let page = all(&index, Query { sort, descending: true, ..Query::default() });
        assert_eq!(labels(&page), rows_of(desc), "{sort:?} descending");
        // A filter keeps the order of what is left.
        let ok = all(&index, Query { sort, status: Some("ok".into()), ..Query::default() });
        let want: Vec<String> =
            rows_of(asc).into_iter().filter(|l| ok.rows.iter().any(|r| &label(r) == l)).collect();
        assert_eq!(labels(&ok), want, "{sort:?} with a filter");
        assert_eq!(Sort::parse(sort.as_str()), Some(sort));
    }
    assert_eq!(Sort::parse("nope"), None);
    assert_eq!(Sort::parse("mx_count"), Some(Sort::MxCount));
    assert_eq!(serde_json::to_string(&Sort::MxCount).unwrap(), "\"mx_count\"");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn paging() {
    let (dir, paths) = fixture("paging");
    let index = ScanIndex::load(&paths).unwrap();
    for sort in Sort::ALL {
        let full = labels(&all(&index, Query { sort, ..Query::default() }));
        let page = index.query(&Query { sort, offset: 2, limit: 3, ..Query::default() });
        assert_eq!((page.total, labels(&page)), (12, full[2..5].to_vec()), "{sort:?}");
        let tail = index.query(&Query { sort, offset: 10, limit: 5, ..Query::default() });
        assert_eq!(labels(&tail), full[10..].to_vec(), "{sort:?}");
        let past = index.query(&Query { sort, offset: 12, ..Query::default() });
        assert_eq!((past.total, past.rows.len()), (12, 0), "{sort:?}");
        let far = index.query(&Query { sort, offset: usize::MAX, limit: usize::MAX, ..Query::default() });
        assert_eq!((far.total, far.rows.len()), (12, 0), "{sort:?}");
    }
    let filtered = index.query(&Query { provider: Some("google".into()), offset: 5, ..Query::default() });
    assert_eq!((filtered.total, filtered.rows.len()), (3, 0));
    assert_eq!(Query::default().page_size(), DEFAULT_LIMIT);
    assert_eq!(Query { limit: 1, ..Query::default() }.page_size(), 1);
    assert_eq!(Query { limit: 100_000, ..Query::default() }.page_size(), MAX_LIMIT);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prevalence_counts() {
    let (dir, paths) = fixture("prevalence");
    let index = ScanIndex::load(&paths).unwrap();
    let p = index.prevalence(
        Some("google"),
        &["ASPMX.L.GOOGLE.COM.", "mx1.golf.example", "nosuch.example", "."],
        &["single_mx", "zz_unknown", "gateway_bypass"],
    );
    assert_eq!(
        p,
        Prevalence {
            total: 12,
            provider: Some(("google".into(), 3)),
            exchanges: vec![
                ("aspmx.l.google.com".into(), 4),
                // Listed twice in golf.example's MX, counted once.
                ("mx1.golf.example".into(), 1),
                ("nosuch.example".into(), 0),
                (".".into(), 1),
            ],
            findings: vec![("single_mx", 3), ("gateway_bypass", 1)],
        }
    );
    assert_eq!(index.prevalence(Some(NONE), &[], &[]).provider, Some((NONE.into(), 6)));
    assert_eq!(index.prevalence(Some("nosuch"), &[], &[]).provider, Some(("nosuch".into(), 0)));
    assert_eq!(index.prevalence(None, &[], &[]).provider, None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn facet_counts() {
    let (dir, paths) = fixture("facets");
    let index = ScanIndex::load(&paths).unwrap();
    let f = index.facets();
    let owned = |v: &[(&str, usize)]| v.iter().map(|&(s, n)| (s.to_string(), n)).collect::<Vec<_>>();
    assert_eq!(f.total, 12);
    assert_eq!(f.status, owned(&[("ok", 8), ("invalid", 2), ("nxdomain", 1), ("timeout", 1)]));
    assert_eq!(f.providers, owned(&[("none", 6), ("google", 3), ("microsoft", 2), ("proofpoint", 1)]));
    assert_eq!(f.categories, owned(&[("none", 6), ("mailbox", 5), ("gateway", 1)]));
    assert_eq!(
        f.findings,
        vec![
            ("single_mx", 3),
            ("gateway_bypass", 1),
            ("mixed_providers", 1),
            ("mx_duplicate", 1),
            ("null_mx_spf_allows_senders", 1),
            ("single_address", 1),
        ]
    );
    assert_eq!(f.tiers, [4, 5, 1, 1, 1]);
    // Every menu value filters to its count.
    for (status, n) in &f.status {
        assert_eq!(count(&index, Query { status: Some(status.clone()), ..Query::default() }), *n);
    }
    for (provider, n) in &f.providers {
        assert_eq!(count(&index, Query { provider: Some(provider.clone()), ..Query::default() }), *n);
    }
    for (code, n) in &f.findings {
        assert_eq!(count(&index, Query { finding: Some(code.to_string()), ..Query::default() }), *n);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// RFC 4180 records (quoted fields may hold commas, quotes, line breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && record.is_empty(), "the last record ends with CRLF");
    records
}

#[test]
fn csv_export() {
    let (dir, paths) = fixture("csv");
    let index = ScanIndex::load(&paths).unwrap();
    for q in [
        Query { limit: 2, offset: 1, ..Query::default() },
        Query { sort: Sort::Provider, descending: true, ..Query::default() },
        Query { status: Some("ok".into()), sort: Sort::Domain, ..Query::default() },
        Query { status: Some("nosuch".into()), ..Query::default() },
    ] {
        let mut out = Vec::new();
        let written = index.export_csv(&q, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let records = parse_csv(&text);
        assert_eq!(
            records[0],
            ["domain", "rank", "status", "provider", "provider_category", "mx_count", "tiers", "findings"]
        );
        // Every match, not the query's page.
        let want = all(&index, Query { offset: 0, limit: 0, ..q.clone() });
        assert_eq!(written as usize, want.total);
        assert_eq!(records.len() - 1, want.total);
        for (record, row) in records[1..].iter().zip(&want.rows) {
            let expected = [
                row.domain.clone(),
                row.rank.map(|r| r.to_string()).unwrap_or_default(),
                row.status.clone(),
                row.provider.clone().unwrap_or_default(),
                row.category.clone().unwrap_or_default(),
                row.mx_count.to_string(),
                row.tiers.to_string(),
                row.findings.join(";"),
            ];
            assert_eq!(record, &expected);
        }
        if q.status.is_none() {
            // Quoted because of its comma; its quotes doubled.
            assert!(text.contains("\r\n\"Not A Domain, \"\"quoted\"\"\",6,invalid,,,0,0,\r\n"), "{text}");
            // Plain fields are not quoted.
            assert!(
                text.contains("\r\ncharlie.example,2,ok,google,mailbox,1,1,single_address;single_mx\r\n")
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_export_keeps_formulas_from_running() {
    let dir = scratch("csv-formula");
    let path = dir.join("scan.parquet");
    let inputs =
        ["=HYPERLINK(\"http://x.example\",\"open\")", "+1+2", "-2+3", "@SUM(1)", "\tx=1", "plain input"];
    write(&path, inputs.iter().enumerate().map(|(i, input)| invalid(input, Some(i as u32 + 1))).collect());
    let index = ScanIndex::load(&[path]).unwrap();
    let mut out = Vec::new();
    index.export_csv(&Query { sort: Sort::Rank, ..Query::default() }, &mut out).unwrap();
    let records = parse_csv(&String::from_utf8(out).unwrap());
    let first: Vec<&str> = records[1..].iter().map(|r| r[0].as_str()).collect();
    // A spreadsheet shows these as text; the original is the field without its leading quote.
    assert_eq!(
        first,
        ["'=HYPERLINK(\"http://x.example\",\"open\")", "'+1+2", "'-2+3", "'@SUM(1)", "'\tx=1", "plain input"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn row_json_reads_the_whole_row() {
    let (dir, paths) = fixture("json");
    let index = ScanIndex::load(&paths).unwrap();
    let row = index.row_json("foxtrot.example").unwrap().unwrap();
    assert_eq!(row["domain"], "foxtrot.example");
    assert_eq!(row["input"], "foxtrot.example");
    assert_eq!(row["rank"], 7);
    assert_eq!(row["status"], "ok");
    assert_eq!(row["provider"], "proofpoint");
    assert_eq!(row["provider_category"], "gateway");
    assert_eq!(row["error"], serde_json::Value::Null);
    assert_eq!(row["null_mx"], false);
    assert_eq!(row["scanned_at"], SCANNED_AT);
    assert_eq!(row["findings"], serde_json::json!(["gateway_bypass", "mixed_providers"]));
    let mx = row["mx"].as_array().unwrap();
    let exchanges: Vec<&str> = mx.iter().map(|m| m["exchange"].as_str().unwrap()).collect();
    assert_eq!(
        exchanges,
        [
            "mx0a.pphosted.com",
            "mx0b.pphosted.com",
            "backup1.foxtrot.example",
            "backup2.foxtrot.example",
            "aspmx.l.google.com"
        ]
    );
    assert_eq!(mx[4]["tier"], 5);
    assert_eq!(mx[4]["preference"], 50);
    assert_eq!(mx[0]["ipv4"], serde_json::json!([]));
    assert_eq!(mx[0]["address_status"], "skipped");
    // Every column of the schema, the policy ones included.
    for field in crate::output::arrow::SCHEMA.fields() {
        assert!(row.get(field.name()).is_some(), "{} missing", field.name());
    }

    // Listed twice: the first row (rank 3, not the timeout at rank 8).
    let alpha = index.row_json("alpha.example").unwrap().unwrap();
    assert_eq!((alpha["rank"].as_u64(), alpha["status"].as_str()), (Some(3), Some("ok")));
    // As typed in a search box.
    assert_eq!(index.row_json("Alpha.Example.").unwrap().unwrap()["rank"], 3);
    // In the second part file of the dataset.
    let india = index.row_json("india.example").unwrap().unwrap();
    assert_eq!(india["mx"][0]["exchange"], "india-example.mail.protection.outlook.com");
    // An invalid row, by its input.
    let bad = index.row_json(INVALID).unwrap().unwrap();
    assert_eq!((bad["domain"].clone(), bad["input"].as_str()), (serde_json::Value::Null, Some(INVALID)));
    assert_eq!(bad["error"], "not a domain name");
    assert_eq!(index.row_json("nosuch.example").unwrap(), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// More rows than one row group: the locator finds rows in the second
/// group, and the group without invalid rows (read without `input`) and
/// the one with them index the same.
#[test]
fn rows_in_a_later_row_group() {
    let dir = scratch("groups");
    let n = output::ROW_GROUP + 4;
    let bad = output::ROW_GROUP + 1;
    let rows = (0..n).map(|i| {
        if i == bad {
            invalid("Bad Input", Some(i as u32 + 1))
        } else {
            rec(&format!("d{i:05}.example"), Some(i as u32 + 1), Status::Ok, None, &[], &[])
        }
    });
    let path = dir.join("big.parquet");
    write(&path, rows.collect());
    let index = ScanIndex::load(std::slice::from_ref(&path)).unwrap();
    assert_eq!(index.rows(), n);
    for i in [0, 5, output::ROW_GROUP - 1, output::ROW_GROUP, n - 1] {
        let row = index.row_json(&format!("d{i:05}.example")).unwrap().unwrap();
        assert_eq!(row["rank"], i + 1, "row {i}");
    }
    assert_eq!(index.row_json("Bad Input").unwrap().unwrap()["rank"], bad + 1);
    let found = index.query(&Query { text: Some("bad input".into()), ..Query::default() });
    assert_eq!(found.total, 1);
    assert_eq!((found.rows[0].valid, found.rows[0].rank), (false, Some(bad as u32 + 1)));
    let last = index.query(&Query { sort: Sort::Rank, descending: true, limit: 1, ..Query::default() });
    assert_eq!(last.rows[0].domain, format!("d{:05}.example", n - 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreadable_input_is_an_error_naming_the_path() {
    let dir = scratch("errors");
    let missing = dir.join("missing.parquet");
    let err = ScanIndex::load(std::slice::from_ref(&missing)).unwrap_err();
    assert!(matches!(err, IndexError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");

    let text = dir.join("notes.parquet");
    std::fs::write(&text, "not parquet at all\n").unwrap();
    let err = ScanIndex::load(std::slice::from_ref(&text)).unwrap_err();
    assert!(matches!(err, IndexError::Parquet { .. }), "{err:?}");
    assert!(err.to_string().contains(&text.display().to_string()), "{err}");

    // Parquet, but not a scan: no domain column.
    let other = dir.join("other.parquet");
    let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
        "status",
        arrow_schema::DataType::Utf8,
        false,
    )]));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec!["ok"])) as ArrayRef])
            .unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(File::create(&other).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let err = ScanIndex::load(std::slice::from_ref(&other)).unwrap_err();
    assert!(matches!(err, IndexError::Schema { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&other.display().to_string()) && err.to_string().contains("domain"),
        "{err}"
    );

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = ScanIndex::load(std::slice::from_ref(&empty)).unwrap_err();
    assert!(matches!(err, IndexError::NoFiles(_)), "{err:?}");
    assert!(matches!(ScanIndex::load(&[]), Err(IndexError::NoFiles(_))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_changed_after_loading_is_an_error() {
    let (dir, paths) = fixture("changed");
    let index = ScanIndex::load(&paths).unwrap();
    write(&paths[0], vec![rec("zulu.example", Some(1), Status::Ok, None, &[], &[])]);
    let err = index.row_json("foxtrot.example").unwrap_err();
    assert!(matches!(err, IndexError::Schema { .. }), "{err:?}");
    assert!(err.to_string().contains("reload"), "{err}");
    let err = index.row_json("alpha.example").unwrap_err();
    assert!(err.to_string().contains("another"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
