"""Through the fault-injecting proxy (30 % loss each way, duplicates, reordering, forgeries, malformed
packets, 5 % of answers truncated): at least 99.9 % of domains get the same result as the truth, and no forged answer is accepted."""
import json


from faultproxy import FaultProxy
from test_scan import compare, ok, read_parquet, run


def test_lossy_hostile_path_gives_the_same_results_and_no_forgery(mxscan_bin, testbed, tmp_path):
    host, port = testbed.resolver.rsplit(":", 1)
    proxy = FaultProxy((host, int(port)), loss=0.30, duplicate=0.2, delay=0.2, forge=0.5, mangle=0.1,
                       truncate=0.05).start()
    out = tmp_path / "out.parquet"
    try:
        proc = run([mxscan_bin, "scan", str(testbed.input_csv), "-o", str(out), "--resolver", proxy.address,
                    "--rate", "0", "--concurrency", "400", "--timeout", "300ms", "--retries", "14",
                    "--randomize-case"])
    finally:
        proxy.stop()
    ok(proc, "mxscan scan through the fault proxy")
    counts = dict(proxy.counts)
    assert counts["forged"] > 1000 and counts["malformed"] > 100 and counts["dropped_answers"] > 1000, counts
    rows = read_parquet(out)
    # Zero forged answers accepted: no poisoned address or exchange anywhere.
    text = json.dumps(rows, default=str)
    assert "6.6.6.6" not in text and "invalid-mx-com" not in text
    # At least 99.9 % of domains as in a clean run.
    problems = compare(rows, testbed.truth)
    bad = problems.count("\n    ")
    differing = 0 if not problems else int(problems.split(" of ")[0])
    assert differing <= len(testbed.truth) * 0.001, f"{differing} rows differ ({bad} fields):\n{problems[:3000]}"
    stderr = proc.stderr.decode(errors="replace")
    print("\n" + stderr.strip() + f"\nproxy: {counts}; {differing} of {len(rows)} rows differ")
