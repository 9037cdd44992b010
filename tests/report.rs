//! `mxscan report` on real Parquet files written by the project's own
//! writer: text, JSON and HTML from the built binary, a dataset directory,
//! an older file without the analysis columns, and unreadable input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use mxscan::analyze::analyze;
use mxscan::analyze::providers::{Category, ProviderTable};
use mxscan::output::{self, Format};
use mxscan::record::{AddressStatus, DomainRecord, MxEntry, Status};
use mxscan::report::Summary;
use serde_json::Value;

const HOSTILE_EXCHANGE: &str = "<script>alert(1)</script>.evil.example";
const HOSTILE_PROVIDER: &str = "<img src=x onerror=alert(2)>";
const HOSTILE_INPUT: &str = "<script>alert(3)</script>";

type Mx<'a> = (u16, &'a str, AddressStatus, &'a [&'a str]);

/// An `ok` row with these MX records, analysed with the embedded table.
fn row(table: &ProviderTable, domain: &str, rank: Option<u32>, mx: &[Mx<'_>]) -> DomainRecord {
    let mut r = DomainRecord::invalid(domain.into(), rank, String::new());
    r.domain = Some(domain.into());
    r.status = Status::Ok;
    r.error = None;
    r.addresses_checked = true;
    r.queries = 3;
    r.elapsed_ms = 12;
    r.resolver = Some("127.0.0.1:53".into());
    let mut prefs: Vec<u16> = mx.iter().map(|m| m.0).collect();
    prefs.sort_unstable();
    prefs.dedup();
    r.mx = mx
        .iter()
        .map(|&(preference, exchange, status, v4)| MxEntry {
            tier: prefs.iter().position(|&p| p == preference).unwrap() as u8 + 1,
            ipv4: v4.iter().map(|a| a.parse().unwrap()).collect(),
            address_status: status,
            ..MxEntry::new(preference, exchange.into())
        })
        .collect();
    r.null_mx = Some(r.mx.iter().any(MxEntry::is_null));
    if mx.is_empty() {
        r.implicit_status = Some(AddressStatus::NoData);
    }
    analyze(&mut r, table);
    r
}

fn failed(domain: &str, status: Status) -> DomainRecord {
    let mut r = DomainRecord::invalid(domain.into(), None, String::new());
    r.domain = Some(domain.into());
    r.status = status;
    r.error = None;
    r
}

/// 15 rows: 12 ok (9 with MX, 1 null MX only, 1 implicit MX, 1 none),
/// 1 nxdomain, 1 timeout, 1 invalid.
///
/// With MX: google 3 (ranks 1, 2, 1500), microsoft 1 (rank 3), proofpoint 1
/// (gateway, rank 20000, a bypass at tier 2), the hostile provider 1,
/// self-hosted 1 (rank 4), unknown 2 (one of them rank 2,000,000 with an
/// NXDOMAIN exchange).
fn fixture() -> Vec<DomainRecord> {
    let t = ProviderTable::embedded();
    let ok = AddressStatus::Ok;
    let mut rows = vec![
        row(
            &t,
            "google1.example",
            Some(1),
            &[
                (1, "aspmx.l.google.com", ok, &["142.250.1.26"]),
                (5, "alt1.aspmx.l.google.com", ok, &["142.250.2.26"]),
            ],
        ),
        row(&t, "google2.example", Some(2), &[(1, "aspmx.l.google.com", ok, &["142.250.1.26"])]),
        row(&t, "google3.example", Some(1500), &[(10, "aspmx.l.google.com", ok, &["142.250.1.26"])]),
        row(
            &t,
            "ms1.example",
            Some(3),
            &[(0, "ms1-example.mail.protection.outlook.com", ok, &["52.101.1.1"])],
        ),
        row(
            &t,
            "pp.example",
            Some(20_000),
            &[
                (10, "mx0a-00123.pphosted.com", ok, &["148.163.1.1"]),
                (20, "backup.pp.example", ok, &["45.1.1.1"]),
            ],
        ),
        row(
            &t,
            "self.example",
            Some(4),
            &[(10, "mx1.self.example", ok, &["45.2.2.1"]), (20, "mx2.self.example", ok, &["45.2.2.2"])],
        ),
        row(
            &t,
            "unknown.example",
            Some(2_000_000),
            &[(10, "mx.gone-host.example", AddressStatus::NxDomain, &[])],
        ),
        row(&t, "evil1.example", None, &[(10, HOSTILE_EXCHANGE, ok, &["45.3.3.3"])]),
        row(&t, "evil2.example", None, &[(10, HOSTILE_EXCHANGE, ok, &["45.3.3.3"])]),
        row(&t, "nullmx.example", None, &[(0, ".", AddressStatus::Skipped, &[])]),
        row(&t, "implicit.example", None, &[]),
        row(&t, "nomx.example", None, &[]),
        failed("nx.example", Status::NxDomain),
        failed("slow.example", Status::Timeout),
        DomainRecord::invalid(HOSTILE_INPUT.into(), None, "not a domain name".into()),
    ];
    // A provider id from a hostile file.
    rows[8].provider = Some(Arc::from(HOSTILE_PROVIDER));
    rows[8].provider_category = Some(Category::Mailbox);
    // The implicit MX: the domain has an address.
    let implicit = &mut rows[10];
    implicit.implicit_mx = Some(true);
    implicit.implicit_status = Some(AddressStatus::Ok);
    implicit.findings = mxscan::analyze::findings::detect(implicit);
    rows
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_parquet(path: &Path, rows: Vec<DomainRecord>) {
    let mut sink =
        output::open(path.to_str().unwrap(), Format::Parquet, &output::ParquetSettings::default()).unwrap();
    for r in rows {
        sink.write(r).unwrap();
    }
    sink.finish().unwrap();
}

fn mxscan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mxscan")).args(args).output().expect("the binary runs")
}

fn stdout_ok(out: &Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&stdout_ok(&mxscan(args))).expect("one JSON object")
}

/// The row of `section` whose `key` is `value`.
fn find<'a>(section: &'a Value, key: &str, value: &str) -> &'a Value {
    section.as_array().unwrap().iter().find(|r| r[key] == value).unwrap_or_else(|| panic!("no {key}={value}"))
}

#[test]
fn json_counts_every_section() {
    let dir = scratch("json");
    let file = dir.join("scan.parquet");
    write_parquet(&file, fixture());
    let j = json(&["report", file.to_str().unwrap(), "--json"]);

    assert_eq!(j["rows"], 15);
    assert_eq!(j["files"], 1);
    assert_eq!(j["notes"].as_array().unwrap().len(), 0);
    assert_eq!(find(&j["status"], "status", "ok")["count"], 12);
    assert_eq!(find(&j["status"], "status", "ok")["pct"], 80.0);
    assert_eq!(find(&j["status"], "status", "nxdomain")["count"], 1);
    assert_eq!(find(&j["status"], "status", "timeout")["count"], 1);
    assert_eq!(find(&j["status"], "status", "invalid")["count"], 1);
    assert_eq!(find(&j["status"], "status", "servfail")["count"], 0, "known statuses are always listed");

    let a = &j["mx_adoption"];
    assert_eq!(a["ok"], 12);
    assert_eq!(a["has_mx"]["count"], 9);
    assert_eq!(a["has_mx"]["pct"], 75.0);
    assert_eq!(a["null_mx_only"]["count"], 1);
    assert_eq!(a["null_mx_only"]["pct"], 8.33);
    assert_eq!(a["implicit_mx"]["count"], 1);
    assert_eq!(a["none"]["count"], 1);

    let p = &j["providers"];
    assert_eq!(p["domains_with_mx"], 9);
    assert_eq!(p["distinct"], 4);
    let top: Vec<&str> =
        p["top"].as_array().unwrap().iter().map(|r| r["provider"].as_str().unwrap()).collect();
    assert_eq!(
        top,
        ["google", "<img src=x onerror=alert(2)>", "microsoft", "proofpoint"],
        "count desc, then id"
    );
    assert_eq!(p["top"][0]["count"], 3);
    assert_eq!(p["top"][0]["pct"], 33.33);
    assert_eq!(p["top"][0]["name"], "Google Workspace / Gmail");
    assert_eq!(p["top"][0]["category"], "mailbox");
    assert_eq!(p["self_hosted"]["count"], 1);
    assert_eq!(p["self_hosted"]["pct"], 11.11);
    assert_eq!(p["other_unknown"]["count"], 2);

    let g = &j["gateways"];
    assert_eq!(g["domains"], 1);
    assert_eq!(g["pct_of_mx"], 11.11);
    assert_eq!(g["rows"][0]["provider"], "proofpoint");
    assert_eq!(g["rows"][0]["pct"], 100.0);

    let c = &j["categories"];
    let cats: Vec<&str> = c.as_array().unwrap().iter().map(|r| r["category"].as_str().unwrap()).collect();
    assert_eq!(cats, ["mailbox", "gateway", "hosting", "forwarding", "self-hosted", "unknown"]);
    assert_eq!(find(c, "category", "mailbox")["count"], 5);
    assert_eq!(find(c, "category", "gateway")["count"], 1);
    assert_eq!(find(c, "category", "self-hosted")["count"], 1);
    assert_eq!(find(c, "category", "unknown")["count"], 2);

    // top 1M holds what top 100k holds: left out.
    let b = j["rank_buckets"].as_array().unwrap();
    let labels: Vec<&str> = b.iter().map(|r| r["bucket"].as_str().unwrap()).collect();
    assert_eq!(labels, ["top 1k", "top 10k", "top 100k", "beyond 1M"]);
    assert_eq!((b[0]["domains"].as_u64(), b[0]["with_mx"].as_u64()), (Some(4), Some(4)));
    assert_eq!(b[0]["top"][0]["provider"], "google");
    assert_eq!(b[0]["top"][0]["pct"], 50.0);
    assert_eq!(b[0]["top"][1]["provider"], "microsoft");
    assert_eq!(b[1]["domains"], 5);
    assert_eq!(b[1]["top"][0]["pct"], 60.0);
    assert_eq!(b[2]["domains"], 6);
    assert_eq!(b[2]["max_rank"], 100_000);
    assert_eq!(b[3]["domains"], 1);
    assert_eq!(b[3]["max_rank"], Value::Null);
    assert_eq!(b[3]["top"].as_array().unwrap().len(), 0, "its one domain has no known provider");

    let f = j["findings"].as_array().unwrap();
    let severities: Vec<&str> = f.iter().map(|r| r["severity"].as_str().unwrap()).collect();
    let mut sorted = severities.clone();
    sorted.sort_by_key(|s| ["error", "warning", "info"].iter().position(|x| x == s));
    assert_eq!(severities, sorted, "ordered by severity");
    assert_eq!(f[0]["severity"], "error");
    let count = |code: &str| find(&j["findings"], "code", code)["count"].as_u64().unwrap();
    assert_eq!(count("mx_unresolvable"), 1);
    assert_eq!(count("all_mx_unusable"), 1);
    assert_eq!(count("mx_invalid_hostname"), 2);
    assert_eq!(count("gateway_bypass"), 1);
    assert_eq!(count("implicit_mx"), 1);
    assert_eq!(count("no_mx"), 1);
    assert_eq!(find(&j["findings"], "code", "implicit_mx")["pct"], 8.33);
    // single_mx: google2, google3, ms1, unknown, evil1, evil2.
    assert_eq!(count("single_mx"), 6);
    // Among the info findings, the larger count comes first.
    let info: Vec<&str> =
        f.iter().filter(|r| r["severity"] == "info").map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(info.first(), Some(&"single_mx"));

    let e = j["exchangers"].as_array().unwrap();
    assert_eq!(e[0]["exchange"], "aspmx.l.google.com");
    assert_eq!(e[0]["domains"], 3);
    assert_eq!(e[0]["pct"], 33.33);
    assert_eq!(e[0]["provider"], "google");
    assert_eq!(e[1]["exchange"], HOSTILE_EXCHANGE);
    assert_eq!(e[1]["domains"], 2);
    assert_eq!(e[1]["provider"], Value::Null);
    assert_eq!(e.len(), 2, "only hosts shared by two domains or more");

    // --top cuts the provider list; the rest joins other / unknown.
    let j = json(&["report", file.to_str().unwrap(), "--json", "--top", "1"]);
    assert_eq!(j["providers"]["top"].as_array().unwrap().len(), 1);
    assert_eq!(j["providers"]["other_unknown"]["count"], 5);
}

#[test]
fn text_tables_for_people() {
    let dir = scratch("text");
    let file = dir.join("scan.parquet");
    write_parquet(&file, fixture());
    let text = stdout_ok(&mxscan(&["report", file.to_str().unwrap()]));
    let line = |start: &str| -> Vec<String> {
        let l = text
            .lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("{start}:\n{text}"));
        l.split_whitespace().map(str::to_string).collect()
    };
    assert!(text.starts_with("mxscan report: "), "{text}");
    assert!(text.contains("(1 file, 15 rows)"));
    assert_eq!(line("ok"), ["ok", "12", "80.0%"]);
    assert_eq!(line("total"), ["total", "15", "100.0%"]);
    assert_eq!(line("has MX"), ["has", "MX", "9", "75.0%"]);
    assert_eq!(line("google "), ["google", "Google", "Workspace", "/", "Gmail", "mailbox", "3", "33.3%"]);
    assert_eq!(line("self-hosted "), ["self-hosted", "1", "11.1%"]);
    assert_eq!(line("other / unknown"), ["other", "/", "unknown", "2", "22.2%"]);
    assert_eq!(line("top 1k"), ["top", "1k", "4", "4", "google", "50.0%,", "microsoft", "25.0%"]);
    assert_eq!(line("mx_invalid_hostname"), ["mx_invalid_hostname", "warning", "2", "16.7%"]);
    assert_eq!(line("aspmx.l.google.com"), ["aspmx.l.google.com", "google", "3", "33.3%"]);
    for section in
        ["Domains by status", "MX adoption", "Provider share", "Gateways", "Categories", "Providers by rank"]
    {
        assert!(text.contains(section), "{section}");
    }
    // Numbers are right-aligned: the ends of the status rows line up.
    let ends: Vec<usize> = ["ok ", "nxdomain", "total"]
        .iter()
        .map(|s| text.lines().find(|l| l.trim_start().starts_with(s)).unwrap().len())
        .collect();
    assert!(ends.windows(2).all(|w| w[0] == w[1]), "{ends:?}");
}

#[test]
fn html_is_self_contained_and_escapes_the_data() {
    let dir = scratch("html");
    let file = dir.join("scan.parquet");
    let page = dir.join("report.html");
    write_parquet(&file, fixture());
    let out = mxscan(&["report", file.to_str().unwrap(), "--html", page.to_str().unwrap()]);
    stdout_ok(&out);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "no script element, not even from the data");
    assert!(!lower.contains("<img"), "a provider id cannot inject markup");
    assert!(!lower.contains("<link"));
    for attr in ["src=\"http", "href=\"http", "src='http", "href='http", "url(", "@import"] {
        assert!(!lower.contains(attr), "{attr} fetches something");
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.evil.example"),
        "the hostile exchange, inert"
    );
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"), "the hostile provider, inert");
    assert!(html.contains("Content-Security-Policy"));
    // The tables and the two charts, with real numbers.
    assert!(html.matches("<svg").count() >= 2, "provider and findings charts");
    assert!(
        html.contains("Provider share")
            && html.contains("Findings")
            && html.contains("Most shared exchangers")
    );
    assert!(html.contains("<td class=\"text\">Google Workspace / Gmail <small>google</small></td><td class=\"id\">mailbox</td><td class=\"n\">3</td><td class=\"n\">33.3%</td>"));
    assert!(html.contains("3 · 33.3%"), "the google bar is labelled");
    assert!(html.contains("class=\"bar error\""), "findings bars coloured by severity");
    assert!(html.contains("<td class=\"n\">80.0%</td>"), "ok share of rows");
    assert!(html.contains("<td class=\"id\">top 1k</td><td class=\"n\">4</td><td class=\"n\">4</td>"));
}

#[test]
fn a_dataset_directory_adds_up_its_parts() {
    let dir = scratch("dataset");
    let rows = fixture();
    let (a, b) = rows.split_at(7);
    std::fs::create_dir_all(dir.join("part=1")).unwrap();
    write_parquet(&dir.join("part-0.parquet"), a.to_vec());
    write_parquet(&dir.join("part=1/part-1.parquet"), b.to_vec());
    std::fs::write(dir.join("README.txt"), "not data").unwrap();
    std::fs::write(dir.join(".partial.parquet"), "a writer's temporary file").unwrap();

    let j = json(&["report", dir.to_str().unwrap(), "--json"]);
    assert_eq!(j["files"], 2);
    assert_eq!(j["rows"], 15);
    assert_eq!(find(&j["status"], "status", "ok")["count"], 12);
    assert_eq!(j["providers"]["top"][0]["count"], 3);
    assert_eq!(j["exchangers"][1]["exchange"], HOSTILE_EXCHANGE);
    assert_eq!(j["exchangers"][1]["domains"], 2);
    let single = json(&["report", dir.join("part-0.parquet").to_str().unwrap(), "--json"]);
    assert_eq!(single["rows"], 7);
}

#[test]
fn an_older_file_without_analysis_columns_skips_the_provider_sections() {
    use parquet::arrow::ArrowWriter;
    let dir = scratch("older");
    let file = dir.join("old.parquet");
    let batch = mxscan::output::arrow::to_batch(&fixture()).unwrap();
    let keep: Vec<usize> = (0..batch.num_columns())
        .filter(|&i| {
            !["provider", "provider_category", "providers", "self_hosted"]
                .contains(&batch.schema().field(i).name().as_str())
        })
        .collect();
    let old = batch.project(&keep).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(&file).unwrap(), old.schema(), None).unwrap();
    w.write(&old).unwrap();
    w.close().unwrap();

    let j = json(&["report", file.to_str().unwrap(), "--json"]);
    assert_eq!(j["providers"], Value::Null);
    assert_eq!(j["gateways"], Value::Null);
    assert_eq!(j["categories"], Value::Null);
    assert!(j["notes"][0].as_str().unwrap().contains("without the analysis columns"));
    assert_eq!(j["mx_adoption"]["has_mx"]["count"], 9, "the rest is still there");
    assert_eq!(find(&j["findings"], "code", "mx_invalid_hostname")["count"], 2);
    assert_eq!(j["rank_buckets"][0]["domains"], 4);
    let text = stdout_ok(&mxscan(&["report", file.to_str().unwrap()]));
    assert!(text.contains("note: 15 of 15 rows come from a file without the analysis columns"));
    assert!(!text.contains("Provider share"));
}

#[test]
fn unreadable_input_is_a_one_line_error() {
    let dir = scratch("errors");
    let garbage = dir.join("garbage.parquet");
    std::fs::write(&garbage, "this is not parquet").unwrap();
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    for (path, want) in [
        (dir.join("missing.parquet"), "cannot read"),
        (garbage, "as Parquet"),
        (dir.join("empty"), "no *.parquet file under"),
    ] {
        let out = mxscan(&["report", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", path.display());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("mxscan: ") && err.contains(want), "{err}");
        let cause = err.rsplit(": ").next().unwrap();
        assert_eq!(err.matches(cause).count(), 1, "the cause once: {err}");
    }
}

/// The aggregation alone, batch by batch, as the reader feeds it.
#[test]
fn summary_is_the_same_in_one_batch_or_many() {
    let rows = fixture();
    let mut whole = Summary::new();
    whole.add_batch(&mxscan::output::arrow::to_batch(&rows).unwrap()).unwrap();
    let mut parts = Summary::new();
    for chunk in rows.chunks(4) {
        parts.add_batch(&mxscan::output::arrow::to_batch(chunk).unwrap()).unwrap();
    }
    assert_eq!(whole.rows(), 15);
    assert_eq!(whole.report(25), parts.report(25));
    let r = whole.report(25);
    assert_eq!(r.mx_adoption.has_mx.count, 9);
    let json = mxscan::report::json(&r);
    assert!(json.contains("\"mx_adoption\""));

    // A batch without a status column is not an mxscan output.
    let batch = mxscan::output::arrow::to_batch(&rows).unwrap();
    let keep: Vec<usize> =
        (1..batch.num_columns()).filter(|&i| batch.schema().field(i).name() != "status").collect();
    let err = Summary::new().add_batch(&batch.project(&keep).unwrap()).unwrap_err();
    assert!(err.to_string().contains("no status column"), "{err}");
}
