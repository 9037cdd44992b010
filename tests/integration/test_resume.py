"""Resume without loss: a dataset directory (Parquet part files plus a journal) survives kill -9 at any moment.
Rerunning the same command with --resume ends with every input line exactly once, and every part file that
exists at any time is a complete Parquet file."""
import json
import os
import random
import signal
import subprocess
import time

import duckdb
import pytest

from test_scan import check_output, compare, read_parquet

RATE = "4000"


def scan_cmd(mxscan_bin, testbed, out, *extra, quiet=True, rate=RATE):
    # A trailing slash asks for a dataset directory (so does --format dataset, or an existing directory).
    target = str(out) + "/" if out.suffix == ".d" else str(out)
    return [mxscan_bin, "scan", str(testbed.input_csv), "-o", target, "--resolver", testbed.resolver,
            "--rate", rate, "--timeout", "1s", "--retries", "2", "--part-rows", "500", *(["--quiet"] if quiet else []), *extra]


def parts(out):
    return sorted(p for p in os.listdir(out) if p.endswith(".parquet"))


def assert_parts_readable(out):
    """Every part file that exists now is a whole Parquet file (DuckDB reads its footer and every row)."""
    con = duckdb.connect()
    for name in parts(out):
        try:
            con.sql(f"select count(*), count(distinct input) from read_parquet('{out / name}')").fetchall()
        except duckdb.Error as e:
            pytest.fail(f"{name} is not a readable Parquet file after kill -9: {e}", pytrace=False)


def journal_lines(out):
    with open(out / "_journal.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_kill_9_at_random_points_then_resume(mxscan_bin, testbed, tmp_path, check_output_tool):
    seed = int(os.environ.get("MXSCAN_TEST_SEED", "1"))
    rng = random.Random(seed)
    out = tmp_path / "scan.d"
    # The first kill may land before anything is written; later ones mid-part, mid-seal, anywhere.
    delays = [0.05] + [round(rng.uniform(0.3, 2.5), 3) for _ in range(4)]
    history = []
    for delay in delays:
        proc = subprocess.Popen(scan_cmd(mxscan_bin, testbed, out, "--resume"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        history.append((delay, len(parts(out)) if out.exists() else 0))
        if out.exists():
            assert_parts_readable(out)
    print("kills (delay s, parts sealed):", history)
    done = subprocess.run(scan_cmd(mxscan_bin, testbed, out, "--resume"), capture_output=True, timeout=300)
    assert done.returncode == 0, f"kills at {history}: {done.stderr.decode(errors='replace')}"
    assert_parts_readable(out)
    # Each kill left whole parts only, and at least one kill came after some parts were sealed.
    assert any(n > 0 for _, n in history), f"no part was sealed before any kill: {history}"

    rows = read_parquet(out / "*.parquet")
    problems = compare(rows, testbed.truth)
    if problems:
        pytest.fail(f"kills at {history}: {problems}", pytrace=False)
    # The journal accounts for exactly the rows in the part files, each line once.
    entries = journal_lines(out)[1:]
    assert sorted(e["part"] for e in entries) == parts(out)
    covered = sorted(line for e in entries for start, end in e["lines"] for line in range(start, end))
    assert len(covered) == len(set(covered)) == len(rows) == sum(e["rows"] for e in entries)
    assert not [p for p in os.listdir(out) if p.endswith(".partial")]
    check_output(check_output_tool, out, testbed, "analysis")


def test_ctrl_c_twice_then_resume(mxscan_bin, testbed, tmp_path):
    out = tmp_path / "scan.d"
    proc = subprocess.Popen(scan_cmd(mxscan_bin, testbed, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    # Everything flushed so far is readable, before any resume.
    first = read_parquet(out / "*.parquet")
    assert 0 < len(first) < len(testbed.truth)
    resumed = subprocess.run(scan_cmd(mxscan_bin, testbed, out, "--resume", quiet=False), capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(first)} line(s) already in" in resumed.stderr, resumed.stderr
    problems = compare(read_parquet(out / "*.parquet"), testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)
    # A finished dataset resumes to nothing: no new part, no query.
    before = parts(out)
    again = subprocess.run(scan_cmd(mxscan_bin, testbed, out, "--resume", quiet=False), capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0, again.stderr
    assert parts(out) == before
    assert "0 queries" in again.stderr, again.stderr


def test_dataset_misuse_is_refused_before_any_query(mxscan_bin, testbed, tmp_path):
    out = tmp_path / "scan.d"
    subprocess.run(scan_cmd(mxscan_bin, testbed, out), check=True, capture_output=True, timeout=300)
    journal = (out / "_journal.jsonl").read_bytes()
    other_input = tmp_path / "other.txt"
    other_input.write_text("example.com\n")
    cases = {
        "without --resume": (scan_cmd(mxscan_bin, testbed, out), "--resume"),
        "another input": ([mxscan_bin, "scan", str(other_input), "-o", str(out) + "/", "--resume",
                           "--resolver", testbed.resolver], "same input"),
        "other flags": (scan_cmd(mxscan_bin, testbed, out, "--resume", "--mx-only"), "--mx-only"),
        "resume into a file": (scan_cmd(mxscan_bin, testbed, tmp_path / "one.parquet", "--resume"), "dataset"),
    }
    for what, (cmd, says) in cases.items():
        # A resolver that is not there: a query would show up as a timeout, so only a refusal is quick.
        cmd = [c if c != testbed.resolver else "127.0.0.1:9" for c in cmd]
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, f"{what}: {proc.returncode} {proc.stderr}"
        assert says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, f"{what}: {proc.stderr}"
        assert time.monotonic() - started < 2, what
    assert (out / "_journal.jsonl").read_bytes() == journal


def test_a_single_parquet_file_appears_only_when_complete(mxscan_bin, testbed, tmp_path):
    out = tmp_path / "one.parquet"
    proc = subprocess.Popen(scan_cmd(mxscan_bin, testbed, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # Killed: no file by the name asked for, only the hidden partial one.
    assert sorted(os.listdir(tmp_path)) == [".one.parquet.partial"]
    done = subprocess.run(scan_cmd(mxscan_bin, testbed, out), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp_path)) == ["one.parquet"]
    assert len(read_parquet(out)) == len(testbed.truth)


def test_two_scans_cannot_share_a_dataset(mxscan_bin, testbed, tmp_path):
    out = tmp_path / "scan.d"
    first = subprocess.Popen(scan_cmd(mxscan_bin, testbed, out, rate="50"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not (out / "_journal.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first scan should still be running"
        second = subprocess.run(scan_cmd(mxscan_bin, testbed, out, "--resume"), capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 1 and "another mxscan" in second.stderr, second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    # The lock went with the killed process: the scan can be taken up.
    resumed = subprocess.run(scan_cmd(mxscan_bin, testbed, out, "--resume"), capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert len(read_parquet(out / "*.parquet")) == len(testbed.truth)
