use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mxscan-dataset-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn manifest() -> Manifest {
    Manifest {
        mxscan_dataset: VERSION,
        input: "list.txt".into(),
        input_bytes: Some(1234),
        input_modified_ms: Some(1),
        mx_only: false,
        policy: false,
        shard: None,
    }
}

fn row(line: u64) -> DomainRecord {
    DomainRecord { line, ..DomainRecord::invalid(format!("bad line {line}"), None, "test".into()) }
}

fn write(dir: &Path, lines: impl IntoIterator<Item = u64>, part_rows: usize, finish: bool) {
    let mut sink = Dataset::open(dir, manifest(), true)
        .unwrap()
        .into_sink(part_rows, ParquetSettings::default())
        .unwrap();
    for line in lines {
        sink.write(row(line)).unwrap();
    }
    if finish {
        Box::new(sink).finish().unwrap();
    }
}

#[test]
fn parts_are_sealed_and_journaled() {
    let dir = temp_dir("seal");
    // Out of order, as rows finish.
    let mut lines: Vec<u64> = (1..=250).collect();
    lines.swap(10, 120);
    write(&dir, lines, 100, true);
    let names = list_dir(&dir).unwrap();
    assert_eq!(
        names,
        [".lock", "_journal.jsonl", "part-000000.parquet", "part-000001.parquet", "part-000002.parquet"]
    );
    for name in &names[2..] {
        assert!(is_complete_parquet(&dir.join(name)), "{name}");
    }
    let reopened = Dataset::open(&dir, manifest(), true).unwrap();
    assert_eq!(reopened.done().ranges(), &[(1, 251)]);
    assert_eq!(reopened.parts(), 3);
    assert_eq!(reopened.next_part, 3);
    let (_, entries) = read_journal(&dir.join(JOURNAL)).unwrap();
    assert_eq!(entries[0].lines, vec![(1, 11), (12, 101), (121, 122)]);
    assert_eq!(entries[1].lines, vec![(11, 12), (101, 121), (122, 201)]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_earlier_scan_needs_resume_and_the_same_input() {
    let dir = temp_dir("guard");
    write(&dir, 1..=5, 100, true);
    let err = Dataset::open(&dir, manifest(), false).unwrap_err().to_string();
    assert!(err.contains("--resume"), "{err}");
    let other = Manifest { input_bytes: Some(99), ..manifest() };
    let err = Dataset::open(&dir, other, true).unwrap_err().to_string();
    assert!(err.contains("same input"), "{err}");
    let mx_only = Manifest { mx_only: true, ..manifest() };
    assert!(Dataset::open(&dir, mx_only, true).unwrap_err().to_string().contains("--mx-only"));
    let policy = Manifest { policy: true, ..manifest() };
    assert!(Dataset::open(&dir, policy, true).unwrap_err().to_string().contains("--policy"));
    let shard = Manifest { shard: Some("1/4".into()), ..manifest() };
    let err = Dataset::open(&dir, shard, true).unwrap_err().to_string();
    assert!(err.contains("without --shard") && err.contains("resume without --shard"), "{err}");
    // Stdin cannot be checked, so it is taken on trust.
    assert!(Dataset::open(&dir, Manifest { input: "-".into(), ..manifest() }, true).is_ok());

    let foreign = temp_dir("foreign");
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("mine.parquet"), b"PAR1").unwrap();
    assert!(Dataset::open(&foreign, manifest(), true).unwrap_err().to_string().contains("mine.parquet"));
    let file = foreign.join("mine.parquet");
    assert!(Dataset::open(&file, manifest(), false).unwrap_err().to_string().contains("not a directory"));
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&foreign).unwrap();
}

#[test]
fn a_crash_at_any_step_loses_whole_parts_only() {
    let dir = temp_dir("crash");
    write(&dir, 1..=100, 50, true);
    // Killed while writing part 2: a partial file, no journal line.
    write(&dir, 101..=130, 50, false);
    // Killed between the journal line and the rename: line, but no file.
    let mut journal = OpenOptions::new().append(true).open(dir.join(JOURNAL)).unwrap();
    writeln!(journal, r#"{{"part":"part-000007.parquet","rows":2,"lines":[[131,133]]}}"#).unwrap();
    // Killed while appending a line: torn.
    write!(journal, r#"{{"part":"part-000008.parq"#).unwrap();
    drop(journal);
    // A part renamed but never journaled cannot happen, but must not count.
    fs::copy(dir.join("part-000000.parquet"), dir.join("part-000009.parquet")).unwrap();
    // A truncated part (not mxscan's doing) is not complete.
    let bytes = fs::read(dir.join("part-000001.parquet")).unwrap();
    fs::write(dir.join("part-000001.parquet"), &bytes[..bytes.len() - 3]).unwrap();

    let resumed = Dataset::open(&dir, manifest(), true).unwrap();
    assert_eq!(resumed.done().ranges(), &[(1, 51)]);
    assert_eq!(list_dir(&dir).unwrap(), [".lock", "_journal.jsonl", "part-000000.parquet"]);
    assert_eq!(resumed.next_part, 1);
    let (_, entries) = read_journal(&dir.join(JOURNAL)).unwrap();
    assert_eq!(entries.len(), 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damage_before_the_last_journal_line_is_an_error() {
    let dir = temp_dir("damage");
    write(&dir, 1..=4, 2, true);
    let text = fs::read_to_string(dir.join(JOURNAL)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "garbage";
    fs::write(dir.join(JOURNAL), lines.join("\n") + "\n").unwrap();
    let err = Dataset::open(&dir, manifest(), true).unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_scan_at_a_time() {
    let dir = temp_dir("lock");
    let first =
        Dataset::open(&dir, manifest(), false).unwrap().into_sink(10, ParquetSettings::default()).unwrap();
    let err = Dataset::open(&dir, manifest(), true).unwrap_err().to_string();
    assert!(err.contains("another mxscan"), "{err}");
    drop(first);
    assert!(Dataset::open(&dir, manifest(), true).is_ok(), "the lock goes with the sink");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resumed_scan_is_not_complete_until_it_ends() {
    // _stats.json marks a complete scan: a run that takes the dataset up
    // removes the previous run's, so a failed resume cannot look complete.
    let dir = temp_dir("stats");
    write(&dir, 1..=5, 100, true);
    fs::write(dir.join(STATS), "{}").unwrap();
    fs::write(dir.join(SUCCESS), "").unwrap();
    let resumed = Dataset::open(&dir, manifest(), true).unwrap();
    assert!(!dir.join(STATS).exists() && !dir.join(SUCCESS).exists());
    drop(resumed);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_dataset_with_the_old_journal_name_resumes_under_the_new_one() {
    let dir = temp_dir("legacy");
    write(&dir, 1..=5, 100, true);
    fs::rename(dir.join(JOURNAL), dir.join("journal.jsonl")).unwrap();
    fs::write(dir.join("stats.json"), "{}").unwrap();
    let err = Dataset::open(&dir, manifest(), false).unwrap_err().to_string();
    assert!(err.contains("--resume"), "{err}");
    let resumed = Dataset::open(&dir, manifest(), true).unwrap();
    assert_eq!(resumed.parts(), 1);
    assert!(
        dir.join(JOURNAL).exists() && !dir.join("journal.jsonl").exists() && !dir.join("stats.json").exists()
    );
    drop(resumed);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hive_directories_and_scan_dates() {
    assert_eq!(hive_dir("/data/mx/", "2026-11-29", 3), "/data/mx/scan_date=2026-11-29/shard=3/");
    assert_eq!(hive_dir("s3://b/mx", "2026-11-29", 0), "s3://b/mx/scan_date=2026-11-29/shard=0/");
    assert!(is_date(&today_utc()), "{}", today_utc());
    for good in ["2026-11-29", "1999-01-31"] {
        assert!(is_date(good), "{good}");
    }
    for bad in ["2026-13-01", "2026-11-32", "2026-1-29", "20261129", "2026-11-29T00", "../../x", ""] {
        assert!(!is_date(bad), "{bad}");
    }
}
