"""Datasets that engines read as one table: `--dataset-root ROOT` writes ROOT/scan_date=YYYY-MM-DD/shard=K/ with
part-NNNNNN.parquet files, _journal.jsonl, _stats.json and, last, _SUCCESS. A root holding two dates, one of them
in two shards, reads as one table with DuckDB (hive_partitioning) and pyarrow (partitioning="hive"), and each
date's rows are exactly the world's; Spark (pyspark in local mode, on loopback) reads it too."""
import json
import os
import shutil

import duckdb
import pytest

from conftest import unavailable
from test_scan import COMMON, compare, ok, run

DATE_SHARDED, DATE_WHOLE = "2026-11-28", "2026-11-29"


@pytest.fixture(scope="module")
def root(mxscan_bin, testbed, tmp_path_factory):
    root = tmp_path_factory.mktemp("hive") / "mx"
    base = [mxscan_bin, "scan", str(testbed.input_csv), "--dataset-root", str(root), "--resolver", testbed.resolver]
    for k in range(2):
        ok(run(base + ["--scan-date", DATE_SHARDED, "--shard", f"{k}/2"] + COMMON), f"shard {k}/2")
    ok(run(base + ["--scan-date", DATE_WHOLE] + COMMON), "the unsharded scan")
    return root


def test_the_tree_is_what_spark_and_hive_expect(root):
    dirs = sorted(str(p.relative_to(root)) for p in root.glob("scan_date=*/shard=*"))
    assert dirs == [f"scan_date={DATE_SHARDED}/shard=0", f"scan_date={DATE_SHARDED}/shard=1",
                    f"scan_date={DATE_WHOLE}/shard=0"]
    for d in dirs:
        names = sorted(os.listdir(root / d))
        visible = [n for n in names if not n.startswith(("_", "."))]
        assert visible and all(n.startswith("part-") and n.endswith(".parquet") for n in visible), names
        assert {"_journal.jsonl", "_stats.json", "_SUCCESS"} <= set(names), names
        assert "journal.jsonl" not in names and "stats.json" not in names
        assert (root / d / "_SUCCESS").read_bytes() == b""
        manifest = json.loads((root / d / "_journal.jsonl").read_text().splitlines()[0])
        want = None if DATE_WHOLE in d else f"{d[-1]}/2"
        assert manifest.get("shard") == want, (d, manifest)


def duck(root, query):
    scan = f"read_parquet('{root}/**/*.parquet', hive_partitioning = true)"
    return duckdb.sql(query.replace("ROOT", scan))


def test_duckdb_reads_the_root_as_one_table(root, testbed):
    counts = dict(duck(root, "select scan_date::varchar, count(*) from ROOT group by all").fetchall())
    assert counts == {DATE_SHARDED: len(testbed.truth), DATE_WHOLE: len(testbed.truth)}
    for date in (DATE_SHARDED, DATE_WHOLE):
        rel = duck(root, f"select * exclude (scan_date, shard) from ROOT where scan_date = '{date}'")
        rows = [dict(zip(rel.columns, r)) for r in rel.fetchall()]
        problems = compare(rows, testbed.truth)
        if problems:
            pytest.fail(f"{date}: {problems}", pytrace=False)
    # The partition value says the shard, as the SQL rule does.
    wrong = duck(root, f"""select count(*) from ROOT where scan_date = '{DATE_SHARDED}' and shard !=
        ('0x' || left(md5(coalesce(domain, input)), 16))::ubigint % 2""").fetchall()[0][0]
    assert wrong == 0


def test_pyarrow_reads_the_root_as_one_table(root, testbed):
    import pyarrow.dataset as ds
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 2 * len(testbed.truth)
    assert {"scan_date", "shard"} <= set(table.schema.names)
    dates = sorted(set(str(d) for d in table.column("scan_date").to_pylist()))
    assert dates == [DATE_SHARDED, DATE_WHOLE]


def test_spark_reads_the_root_as_one_table(root, testbed):
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        unavailable("pyspark is not installed (pip install pyspark; needs a Java 17 runtime)")
    if not shutil.which("java"):
        unavailable("no Java runtime for Spark (Debian package openjdk-17-jre-headless)")
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    spark = (SparkSession.builder.master("local[1]").appName("mxscan-test")
             .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    try:
        df = spark.read.parquet(str(root))
        assert {"scan_date", "shard"} <= set(df.columns)
        counts = {str(r["scan_date"]): r["count"] for r in df.groupBy("scan_date").count().collect()}
        assert counts == {DATE_SHARDED: len(testbed.truth), DATE_WHOLE: len(testbed.truth)}
        rows = [r.asDict(recursive=True) for r in
                df.where(f"scan_date = '{DATE_SHARDED}'").drop("scan_date", "shard").collect()]
        problems = compare(rows, testbed.truth)
        if problems:
            pytest.fail(f"Spark: {problems}", pytrace=False)
    finally:
        spark.stop()


@pytest.mark.parametrize("flags", [
    ["-o", "x.parquet", "--dataset-root", "r"],
    ["--scan-date", "2026-11-29", "-o", "x.parquet"],
    ["--dataset-root", "r", "--scan-date", "2026-13-01"],
    ["--dataset-root", "r", "--scan-date", "../x"],
])
def test_bad_dataset_flags_are_usage_errors(mxscan_bin, testbed, tmp_path, flags):
    proc = run([os.path.abspath(mxscan_bin), "scan", str(testbed.input_txt), "--resolver", testbed.resolver, *flags],
               cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr.decode()
    assert not any(tmp_path.iterdir())


def test_report_by_scan_date(mxscan_bin, root):
    proc = run([mxscan_bin, "report", str(root), "--by", "scan_date", "--json"])
    ok(proc, "mxscan report --by scan_date --json")
    dates = json.loads(proc.stdout)["dates"]
    assert [d["scan_date"] for d in dates] == [DATE_SHARDED, DATE_WHOLE]
    for d in dates:
        want = dict(duck(root, f"""select status, count(*) from ROOT where scan_date = '{d["scan_date"]}'
                                   group by all""").fetchall())
        got = {s["status"]: s["count"] for s in d["report"]["status"] if s["count"]}
        assert got == want and d["report"]["rows"] == sum(want.values())
    proc = run([mxscan_bin, "report", str(root), "--by", "scan_date"])
    ok(proc, "mxscan report --by scan_date")
    lines = proc.stdout.decode().splitlines()
    assert lines[0].startswith("scan_date") and [l.split()[0] for l in lines[1:]] == [DATE_SHARDED, DATE_WHOLE]
