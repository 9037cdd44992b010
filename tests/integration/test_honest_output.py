"""Honest output names: a single-file output is written as `.NAME.partial` and gets its final NAME only
when the scan is complete. An input that breaks part way leaves only the partial file (with a one-line
error and exit 1); a reader of stdout that goes away (`| head -1`) ends the scan quietly with exit 0.
(Every resolver dead: test_resilience.py.)"""
import gzip
import subprocess

import pytest

from test_scan import COMMON, read_jsonl, read_parquet, run


def truncated_gzip(testbed, tmp_path):
    """input.csv gzipped, cut in the middle of the deflate stream: the first part reads well."""
    data = gzip.compress(testbed.input_csv.read_bytes())
    path = tmp_path / "input.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("name", ["out.parquet", "out.jsonl"])
def test_truncated_gzip_leaves_no_final_name(mxscan_bin, testbed, tmp_path, name):
    out = tmp_path / name
    proc = run([mxscan_bin, "scan", str(truncated_gzip(testbed, tmp_path)), "-o", str(out),
                "--resolver", testbed.resolver] + COMMON)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    assert len(lines) == 1 and "cannot read the input" in lines[0], lines
    assert f".{name}.partial" in lines[0], lines
    assert not out.exists(), "the final name means complete, and this scan is not"
    partial = tmp_path / f".{name}.partial"
    assert partial.exists(), "the rows scanned before the input broke are kept under the partial name"
    # What it holds is readable: whole rows from the first part of the list.
    rows = read_parquet(partial) if name.endswith(".parquet") else read_jsonl(partial.read_text(encoding="utf-8"))
    assert 0 < len(rows) < len(testbed.truth), len(rows)


def test_a_whole_scan_gets_its_final_name(mxscan_bin, testbed, tmp_path):
    """The counterpart: the same list, gzipped whole, ends under NAME and leaves no partial file."""
    path = tmp_path / "input.csv.gz"
    path.write_bytes(gzip.compress(testbed.input_csv.read_bytes()))
    out = tmp_path / "out.jsonl"
    proc = run([mxscan_bin, "scan", str(path), "-o", str(out), "--resolver", testbed.resolver] + COMMON)
    assert proc.returncode == 0, proc.stderr
    assert out.exists() and not (tmp_path / ".out.jsonl.partial").exists()
    assert len(read_jsonl(out.read_text(encoding="utf-8"))) == len(testbed.truth)


def test_stdout_closed_by_head_is_a_quiet_exit_zero(mxscan_bin, testbed):
    """`mxscan scan ... -o - | head -1`: EPIPE means the reader is done, not that the scan failed."""
    proc = subprocess.Popen([mxscan_bin, "scan", str(testbed.input_csv), "-o", "-", "--resolver", testbed.resolver,
                             "--rate", "0", "--timeout", "1s", "--retries", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()  # what `head -1` reads, then it exits
    proc.stdout.close()
    try:
        _, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("mxscan went on scanning after its reader had gone")
    assert first.startswith(b"{"), first[:200]
    assert proc.returncode == 0, stderr
    assert stderr == b"", stderr


def test_stdout_closed_through_a_shell_pipe(mxscan_bin, testbed):
    """The same through a real `| head -1`, with pipefail so mxscan's own exit status counts."""
    cmd = (f"set -o pipefail; '{mxscan_bin}' scan '{testbed.input_csv}' -o - --resolver {testbed.resolver} "
           f"--rate 0 --timeout 1s --retries 2 | head -1")
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b"", proc.stderr
    assert len(proc.stdout.splitlines()) == 1
