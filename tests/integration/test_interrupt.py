"""Ctrl-C: once finishes the domains in flight and stops; twice stops at once. Either way the output is a valid
Parquet file, every row in it is complete and right, and mxscan exits 130. SIGTERM (what Slurm and Kubernetes
send before SIGKILL) is the same as Ctrl-C: a dataset scan seals what it has, and --resume finishes the rest."""
import signal
import subprocess
import time

import pytest

from test_scan import compare, key, read_parquet


def interrupted_scan(mxscan_bin, testbed, out, signals, sig=signal.SIGINT, extra=()):
    proc = subprocess.Popen([mxscan_bin, "scan", str(testbed.input_csv), "-o", str(out), "--resolver",
                             testbed.resolver, "--rate", "1500", "--timeout", "1s", "--retries", "2", "--quiet",
                             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(2.0)
    for _ in range(signals):
        proc.send_signal(sig)
        time.sleep(0.2)
    sent = time.monotonic()
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("mxscan did not stop after Ctrl-C")
    return proc.returncode, time.monotonic() - sent, stderr.decode(errors="replace")


@pytest.mark.parametrize("signals", [1, 2])
def test_ctrl_c_keeps_what_was_done(mxscan_bin, testbed, tmp_path, signals):
    out = tmp_path / "out.parquet"
    code, took, stderr = interrupted_scan(mxscan_bin, testbed, out, signals)
    assert code == 130, stderr
    assert "interrupted" in stderr
    # In-flight domains finish within their retries (3 × 1 s plus backoff); twice is at once.
    assert took < (8 if signals == 1 else 2), f"stopped {took:.1f}s after the signal"
    rows = read_parquet(out)
    assert 0 < len(rows) < len(testbed.truth), len(rows)
    present = {key(r) for r in rows}
    problems = compare(rows, [t for t in testbed.truth if key(t) in present])
    if problems:
        pytest.fail(problems, pytrace=False)


def test_sigterm_seals_a_dataset_and_resume_finishes_it(mxscan_bin, testbed, tmp_path):
    out = tmp_path / "ds"
    code, took, stderr = interrupted_scan(mxscan_bin, testbed, f"{out}/", 1, signal.SIGTERM, ["--part-rows", "500"])
    assert code == 130 and "terminated (SIGTERM)" in stderr, stderr
    assert took < 8, f"stopped {took:.1f}s after SIGTERM"
    assert not (out / "_SUCCESS").exists()
    sealed = read_parquet(f"{out}/*.parquet")
    assert 0 < len(sealed) < len(testbed.truth)
    done = subprocess.run([mxscan_bin, "scan", str(testbed.input_csv), "-o", f"{out}/", "--resume", "--resolver",
                           testbed.resolver, "--rate", "0", "--timeout", "1s", "--quiet"], capture_output=True)
    assert done.returncode == 0, done.stderr
    rows = read_parquet(f"{out}/*.parquet")
    problems = compare(rows, testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)
