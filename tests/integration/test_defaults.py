"""Right at the defaults, on a resolver nobody tuned: the 12,000-domain world through Unbound as Debian ships
it, each scan on a cold cache, with no flag but the resolver (and, once, --rate 0: the user who runs their own
resolver and lifts the limit). Every row must match the truth: the adaptive window, not the user, finds how
much the resolver takes."""
import json

import pytest

from test_scan import compare, ok, read_parquet, run


@pytest.mark.parametrize("flags", [[], ["--rate", "0"]], ids=["defaults", "rate-0"])
def test_untuned_resolver_at_default_flags_gives_every_row_right(mxscan_bin, untuned_testbed, tmp_path, flags):
    untuned_testbed.restart()
    out = tmp_path / "out.parquet"
    stats = tmp_path / "stats.json"
    proc = run([mxscan_bin, "scan", str(untuned_testbed.input_csv), "-o", str(out),
                "--resolver", untuned_testbed.resolver, "--stats", str(stats), *flags])
    ok(proc, f"mxscan scan {' '.join(flags) or '(defaults)'} through the untuned Unbound")
    problems = compare(read_parquet(out), untuned_testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)
    counters = json.loads(stats.read_text())
    # The engine met the resolver's limit and adapted rather than timing out: a handful of timeouts at most
    # (the world's own dead zones time out by design).
    assert counters["queries_sent"] > 0
    print(json.dumps({k: counters[k] for k in ("elapsed_seconds", "queries_sent", "timeouts", "retransmits",
                                                "window_cuts")}))
