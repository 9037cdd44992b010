"""TCP fallback, proven: answers over 1232 bytes (40 long MX records) and any answer that comes back truncated
are asked again over TCP and come back complete; TCP connections are pooled (few connections for many
queries, never more than 32 at once) and a TCP server that never answers times out."""
import re
import time

import pytest

from faultproxy import FaultProxy
from test_scan import compare, ok, read_parquet, run


def subset(testbed, tmp_path, n):
    """The first n truth rows that are domains, and the input file listing them."""
    rows = [t for t in testbed.truth if t["domain"] is not None][:n]
    path = tmp_path / "subset.txt"
    path.write_text("".join(t["input"] + "\n" for t in rows))
    return rows, path


def tcp_counts(stderr):
    m = re.search(r"(\d+) TCP \((\d+) connections\)", stderr)
    assert m, stderr
    return int(m.group(1)), int(m.group(2))


def test_big_answers_come_back_complete_over_tcp(mxscan_bin, testbed, tmp_path):
    big = [t for t in testbed.truth if t.get("case") == "tcp_fallback"]
    assert len(big) >= 5 and all(len(t["mx"]) == 40 for t in big)
    path = tmp_path / "big.txt"
    path.write_text("".join(t["input"] + "\n" for t in big))
    out = tmp_path / "big.parquet"
    proc = run([mxscan_bin, "scan", str(path), "-o", str(out), "--resolver", testbed.resolver])
    ok(proc, "mxscan scan of the 40-MX domains")
    rows = read_parquet(out)
    problems = compare(rows, big, ranked=False)
    if problems:
        pytest.fail(problems, pytrace=False)
    queries, _ = tcp_counts(proc.stderr.decode())
    assert queries >= len(big)


def test_every_answer_truncated_goes_over_pooled_tcp(mxscan_bin, testbed, tmp_path):
    want, path = subset(testbed, tmp_path, 400)
    host, port = testbed.resolver.rsplit(":", 1)
    proxy = FaultProxy((host, int(port)), truncate=1.0).start()
    out = tmp_path / "out.parquet"
    try:
        proc = run([mxscan_bin, "scan", str(path), "-o", str(out), "--resolver", proxy.address])
    finally:
        proxy.stop()
    ok(proc, "mxscan scan with every UDP answer truncated")
    problems = compare(read_parquet(out), want, ranked=False)
    if problems:
        pytest.fail(problems, pytrace=False)
    counts = dict(proxy.counts)
    queries, connections = tcp_counts(proc.stderr.decode())
    print(f"\n{queries} TCP queries over {connections} connections; proxy: {counts}")
    # A reused connection the far end has closed costs one query again on a fresh one.
    assert len(want) <= queries <= counts["tcp_queries"] <= queries + connections, (queries, counts)
    assert counts["tcp_connections"] == connections <= 32, counts
    # Pooled: connections are reused, not one per query.
    assert connections * 10 <= queries, (queries, connections)


def test_a_silent_tcp_server_times_out(mxscan_bin, testbed, tmp_path):
    want, path = subset(testbed, tmp_path, 20)
    host, port = testbed.resolver.rsplit(":", 1)
    proxy = FaultProxy((host, int(port)), truncate=1.0, tcp_stall=True).start()
    out = tmp_path / "out.parquet"
    started = time.monotonic()
    try:
        proc = run([mxscan_bin, "scan", str(path), "-o", str(out), "--resolver", proxy.address,
                    "--timeout", "300ms", "--retries", "1"])
    finally:
        proxy.stop()
    took = time.monotonic() - started
    ok(proc, "mxscan scan against a TCP server that never answers")
    rows = read_parquet(out)
    assert sorted(r["domain"] for r in rows) == sorted(t["domain"] for t in want)
    assert {r["status"] for r in rows} == {"timeout"}, rows[:3]
    # Two attempts of 2 × 300 ms each, plus backoff and start-up: seconds, not a hang.
    assert took < 10, took
