"""What a scan says about itself: `--stats FILE` (and a dataset's _stats.json) holds the end-of-scan counters,
which agree with the rows written; every Parquet file (dataset parts too) names in its footer's key-value
metadata what produced it; and unknown is null (null_mx, implicit_mx, self_hosted after a failed MX lookup)."""
import collections
import json
import tomllib

import duckdb
import pytest

from conftest import REPO, unavailable
from test_scan import COMMON, check_output, ok, run

KEYS = ("mxscan.version", "mxscan.providers_version", "mxscan.findings_version", "mxscan.args", "mxscan.resolvers")
STATUSES = ("ok", "nxdomain", "servfail", "refused", "timeout", "invalid", "error")


@pytest.fixture(scope="module")
def pq():
    try:
        import pyarrow.parquet
    except ImportError:
        unavailable("no pyarrow (pip install pyarrow; .ci/run installs it)")
    return pyarrow.parquet


def footer(pq, path):
    meta = pq.read_metadata(path).metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items() if k.startswith(b"mxscan.")}


def check_footer(pq, path, argv, resolvers):
    meta = footer(pq, path)
    assert sorted(meta) == sorted(KEYS), meta
    version = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]
    assert meta["mxscan.version"] == version
    providers = tomllib.loads((REPO / "data" / "providers.toml").read_text())["version"]
    assert meta["mxscan.providers_version"].startswith(providers + " fnv1a64:"), meta
    assert "fnv1a64:" in meta["mxscan.findings_version"], meta
    assert json.loads(meta["mxscan.args"]) == argv
    assert json.loads(meta["mxscan.resolvers"]) == resolvers


def rows_of(out):
    con = duckdb.connect()
    glob = f"{out}/*.parquet" if out.is_dir() else str(out)
    rel = con.sql(f"select status, queries, null_mx, implicit_mx, self_hosted, len(mx) as n_mx "
                  f"from read_parquet('{glob}')")
    return [dict(zip(rel.columns, r)) for r in rel.fetchall()]


def check_stats(stats, rows, resolvers):
    by_status = collections.Counter(r["status"] for r in rows)
    assert stats["rows"] == len(rows)
    assert stats["rows_by_status"] == {s: by_status.get(s, 0) for s in STATUSES}
    # Every query is charged to one domain's row (a shared exchanger to the first that asked).
    assert stats["queries_sent"] == sum(r["queries"] for r in rows), stats
    assert 0 < stats["answers"] <= stats["queries_sent"] + stats["tcp_fallbacks"]
    for key in ("timeouts", "retries", "tcp_fallbacks", "tcp_connections", "unmatched", "malformed"):
        assert isinstance(stats[key], int) and stats[key] >= 0, key
    assert stats["elapsed_seconds"] > 0
    assert stats["domains_per_second"] == pytest.approx(len(rows) / stats["elapsed_seconds"], rel=1e-6)
    assert stats["resolvers"] == resolvers
    assert stats["sidelined_resolvers"] == []
    # CPU by stage: every stage did some work, and the engine and Parquet encoding most.
    cpu = stats["cpu_seconds"]
    assert set(cpu) == {"input", "engine", "analysis", "arrow", "parquet", "writer_other"}, cpu
    assert all(v > 0 for k, v in cpu.items() if k != "writer_other"), cpu
    assert cpu["engine"] > cpu["input"], cpu


def test_single_file_stats_and_footer(mxscan_bin, testbed, tmp_path, pq):
    out, stats_path = tmp_path / "out.parquet", tmp_path / "stats.json"
    argv = ["scan", str(testbed.input_csv), "-o", str(out), "--resolver", testbed.resolver, "--stats",
            str(stats_path)] + COMMON
    ok(run([mxscan_bin] + argv), "mxscan scan --stats")
    check_footer(pq, out, argv, [testbed.resolver])
    rows = rows_of(out)
    assert len(rows) == len(testbed.truth)
    check_stats(json.loads(stats_path.read_text()), rows, [testbed.resolver])


def test_dataset_parts_carry_the_footer_and_stats_json(mxscan_bin, testbed, tmp_path, pq, check_output_tool):
    out = tmp_path / "scan.d"
    argv = ["scan", str(testbed.input_csv), "-o", f"{out}/", "--part-rows", "4000", "--resolver",
            testbed.resolver] + COMMON
    ok(run([mxscan_bin] + argv), "mxscan scan into a dataset")
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) >= 3, parts
    for part in parts:
        check_footer(pq, part, argv, [testbed.resolver])
    check_stats(json.loads((out / "_stats.json").read_text()), rows_of(out), [testbed.resolver])
    check_output(check_output_tool, out, testbed, "analysis")


def test_unknown_is_null(mxscan_bin, testbed, tmp_path, pq):
    """null_mx, implicit_mx and self_hosted are null exactly when the lookup that decides them failed or
    was not made, in the Parquet schema (nullable) and in the rows, also with --mx-only."""
    failed = {"servfail", "refused", "timeout", "error", "invalid"}
    for mx_only in (False, True):
        out = tmp_path / f"out-{mx_only}.parquet"
        ok(run([mxscan_bin, "scan", str(testbed.input_csv), "-o", str(out), "--resolver", testbed.resolver]
               + (["--mx-only"] if mx_only else []) + COMMON), "mxscan scan")
        schema = pq.read_schema(out)
        for col in ("null_mx", "implicit_mx", "self_hosted"):
            assert schema.field(col).nullable, col
        rows = rows_of(out)
        seen = collections.Counter()
        for r in rows:
            unknown = r["status"] in failed
            assert (r["null_mx"] is None) == unknown, r
            assert (r["self_hosted"] is None) == unknown, r
            if unknown:
                assert r["implicit_mx"] is None, r
            elif r["status"] == "nxdomain" or r["n_mx"]:
                assert r["implicit_mx"] is False, r
            elif mx_only:
                assert r["implicit_mx"] is None, f"--mx-only asked no A/AAAA: implicit_mx is unknown: {r}"
            seen[(r["status"], r["implicit_mx"])] += 1
        # the world has failures, NXDOMAIN, and (without --mx-only) implicit MX both ways
        assert sum(n for (s, _), n in seen.items() if s in failed) > 0, seen
        assert seen[("nxdomain", False)] > 0, seen
        if not mx_only:
            assert seen[("ok", True)] > 0 and seen[("ok", False)] > 0, seen
