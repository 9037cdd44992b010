"""End-to-end tests: the real mxscan binary scans the generated world through the loopback test
bed (conftest.py), and every output row is compared with the world's truth (scripts/gen-world.py).

Each output is compared twice: as the scan stage writes it (the scan columns, and the findings
without the analysis codes) and as the analysis stage completes it (provider columns, org
domains, self_hosted, and the whole findings list). The second kind has "analysis" in its name:
`-k "not analysis"` runs the scan-stage checks alone.
"""
import collections
import json
import subprocess
import sys

import duckdb
import pytest

SCAN_TIMEOUT = 300  # seconds; the scans themselves take seconds
COMMON = ["--rate", "0", "--timeout", "1s", "--retries", "2", "--quiet"]
SHOW = 8  # mismatching rows shown in a failure
ANALYSIS_FINDINGS = {"mixed_providers", "gateway_bypass", "dangling_mx", "single_mx", "single_address"}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=SCAN_TIMEOUT, **kw)


def ok(proc, what):
    """Fail with the command's own output unless it exited 0."""
    if proc.returncode != 0:
        out = proc.stdout if isinstance(proc.stdout, str) else proc.stdout.decode(errors="replace")
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")
        pytest.fail(f"{what} exited {proc.returncode}:\n{out[-3000:]}{err[-3000:]}", pytrace=False)


def key(row):
    return row["domain"] if row["domain"] is not None else ("invalid", row["input"])


def read_parquet(path):
    con = duckdb.connect()
    rel = con.sql(f"select * exclude (scanned_at) from read_parquet('{path}')")
    return [dict(zip(rel.columns, values)) for values in rel.fetchall()]


def read_jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------ comparing rows with the truth

def fmt_mx(m):
    addrs = " ".join(m.get("ipv4") or []) + (" | " if m.get("ipv6") else "") + " ".join(m.get("ipv6") or [])
    status = m.get("address_status")
    if m.get("address_status_alt"):
        status = "/".join([status] + m["address_status_alt"])
    cname = f" cname={m['cname']}" if m.get("cname") else ""
    return f"{m.get('preference')} {m.get('exchange')} tier={m.get('tier')} {status} [{addrs}]{cname}"


def mx_matches(got, want, mx_only):
    if (got["preference"], got["exchange"], got["tier"]) != (want["preference"], want["exchange"], want["tier"]):
        return False
    if mx_only:
        return (got["address_status"], list(got["ipv4"] or []), list(got["ipv6"] or []), got["cname"]) == \
            ("skipped", [], [], None)
    return (got["address_status"] in [want["address_status"]] + want["address_status_alt"]
            and list(got["ipv4"] or []) == want["ipv4"] and list(got["ipv6"] or []) == want["ipv6"]
            and got["cname"] == want["cname"])


def want_implicit_mx(want, mx_only):
    """implicit_mx is null when unknown: with --mx-only a domain without MX has no A/AAAA answers to
    decide it (with MX it is false either way)."""
    if mx_only and want["status"] == "ok" and not want["mx"]:
        return None
    return want["implicit_mx"]


def scan_findings(findings):
    return [f for f in findings or [] if f not in ANALYSIS_FINDINGS]


def mismatches(got, want, mx_only=False, ranked=True):
    """Human-readable differences between an output row and its expected row (scan-stage columns)."""
    out = []
    statuses = [want["status"]] + want["status_alt"]
    if got["status"] not in statuses:
        out.append(f"status: got {got['status']!r}, want {' or '.join(map(repr, statuses))}")
    expect = {"domain": want["domain"], "input": want["input"], "rank": want["rank"] if ranked else None,
              "domain_cname": want["domain_cname"], "null_mx": want["null_mx"],
              "implicit_mx": want_implicit_mx(want, mx_only),
              "findings": scan_findings(want["findings_mx_only" if mx_only else "findings"])}
    for field, value in expect.items():
        have = got.get(field)
        if field == "findings":
            have = scan_findings(have)
        if have != value:
            out.append(f"{field}: got {have!r}, want {value!r}")
    got_mx, want_mx = list(got.get("mx") or []), want["mx"]
    if len(got_mx) != len(want_mx) or not all(mx_matches(g, w, mx_only) for g, w in zip(got_mx, want_mx)):
        if mx_only:
            want_mx = [dict(w, ipv4=[], ipv6=[], cname=None, address_status="skipped", address_status_alt=[])
                       for w in want_mx]
        out.append("mx: got\n" + "".join(f"        {fmt_mx(m)}\n" for m in got_mx) +
                   "      want\n" + "".join(f"        {fmt_mx(m)}\n" for m in want_mx))
    return out


MX_ANALYSIS = ("preference", "exchange", "tier", "provider", "category", "org_domain")


def fmt_mx_analysis(m):
    return (f"{m.get('preference')} {m.get('exchange')} tier={m.get('tier')} "
            f"provider={m.get('provider')}/{m.get('category')} org={m.get('org_domain')}")


def analysis_mismatches(got, want, mx_only=False):
    """Differences in what the analysis stage adds (provider columns, org domains, all findings).
    The analysis is name-based except dangling_mx and single_address: --mx-only gives the same
    columns, and findings_mx_only."""
    out = []
    expect = {"provider": want["provider"], "provider_category": want["provider_category"],
              "providers": want["providers"], "self_hosted": want["self_hosted"],
              "findings": want["findings_mx_only" if mx_only else "findings"]}
    for field, value in expect.items():
        have = got.get(field)
        if field in ("findings", "providers"):
            have = list(have or [])
        if have != value:
            out.append(f"{field}: got {have!r}, want {value!r}")
    got_mx, want_mx = list(got.get("mx") or []), want["mx"]
    if [tuple(g.get(k) for k in MX_ANALYSIS) for g in got_mx] != [tuple(w[k] for k in MX_ANALYSIS) for w in want_mx]:
        out.append("mx: got\n" + "".join(f"        {fmt_mx_analysis(m)}\n" for m in got_mx) +
                   "      want\n" + "".join(f"        {fmt_mx_analysis(m)}\n" for m in want_mx))
    return out


def compare(rows, truth, analysis=False, **kw):
    """Failure text for rows that do not match the truth (missing, extra, different), or ''.
    analysis: compare what the analysis stage adds instead of the scan-stage columns."""
    differ = analysis_mismatches if analysis else mismatches
    want = {key(r): r for r in truth}
    problems, seen, cases = [], set(), collections.Counter()
    for row in rows:
        k = key(row)
        if k in seen:
            problems.append(f"{k}: more than one row")
            continue
        seen.add(k)
        if k not in want:
            problems.append(f"{k}: unexpected row (input {row.get('input')!r})")
            continue
        diff = differ(row, want[k], **kw)
        if diff:
            w = want[k]
            cases[w["case"]] += 1
            problems.append(f"{k} (case {w['case']}, input {w['input']!r}):\n" + "".join(f"    {d}\n" for d in diff))
    missing = [k for k in want if k not in seen]
    if missing:
        problems.append(f"{len(missing)} expected rows missing, e.g. {missing[:5]}")
    if not problems:
        return ""
    by_case = ", ".join(f"{c} {n}" for c, n in cases.most_common())
    by_case = f" (by world case: {by_case})" if by_case else ""
    return (f"{len(problems)} of {len(want)} expected rows differ from the output{by_case}; "
            f"the first {min(SHOW, len(problems))}:\n" + "\n".join(p.rstrip("\n") + "\n" for p in problems[:SHOW]))


# ------------------------------------------------------------------ the full scan of input.csv

@pytest.fixture(scope="session")
def full_scan(mxscan_bin, testbed, tmp_path_factory):
    out = tmp_path_factory.mktemp("scan") / "out.parquet"
    proc = run([mxscan_bin, "scan", str(testbed.input_csv), "-o", str(out), "--resolver", testbed.resolver] + COMMON)
    return proc, out


@pytest.fixture(scope="session")
def full_rows(full_scan):
    proc, out = full_scan
    ok(proc, "mxscan scan")
    return read_parquet(out)


def test_scan_exits_zero(full_scan):
    proc, out = full_scan
    ok(proc, "mxscan scan")
    assert out.exists()


def check_output(tool, out, testbed, stage):
    proc = run([sys.executable, tool, str(out), "--input", str(testbed.input_csv), "--stage", stage], text=True)
    ok(proc, f"check-output.py --stage {stage}")


def test_output_passes_contract_check(full_scan, full_rows, testbed, check_output_tool):
    check_output(check_output_tool, full_scan[1], testbed, "scan")


def test_output_passes_contract_check_analysis(full_scan, full_rows, testbed, check_output_tool):
    check_output(check_output_tool, full_scan[1], testbed, "analysis")


def test_row_and_status_counts(full_rows, testbed):
    rows, want = len(full_rows), len(testbed.truth)
    assert rows == want, "row count differs from the truth"

    def counts(statuses):  # servfail and timeout are each other's alternatives: count them together
        c = collections.Counter("servfail|timeout" if s in ("servfail", "timeout") else s for s in statuses)
        return dict(sorted(c.items()))

    got, want = counts(r["status"] for r in full_rows), counts(r["status"] for r in testbed.truth)
    assert got == want


def test_every_row_matches_truth(full_rows, testbed):
    problems = compare(full_rows, testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)


def test_every_row_matches_truth_analysis(full_rows, testbed):
    problems = compare(full_rows, testbed.truth, analysis=True)
    if problems:
        pytest.fail(problems, pytrace=False)


def test_queries_resolver_and_errors(full_rows, testbed):
    bad = []
    for r in full_rows:
        if r["status"] == "invalid":
            if not r["error"]:
                bad.append(f"{r['input']!r}: invalid row without error text")
            continue
        if not r["queries"] or r["queries"] < 1:
            bad.append(f"{r['domain']}: queries {r['queries']!r}")
        # a timed-out MX lookup has no resolver that gave the answer
        if r["resolver"] != testbed.resolver and not (r["status"] == "timeout" and r["resolver"] is None):
            bad.append(f"{r['domain']}: resolver {r['resolver']!r}, want {testbed.resolver!r}")
    if bad:
        pytest.fail(f"{len(bad)} rows:\n" + "\n".join(bad[:20]), pytrace=False)


# ------------------------------------------------------------------ other modes

@pytest.fixture(scope="session")
def mx_only_scan(mxscan_bin, testbed, tmp_path_factory):
    out = tmp_path_factory.mktemp("mx-only") / "out.jsonl"
    proc = run([mxscan_bin, "scan", str(testbed.input_csv), "--mx-only", "--format", "jsonl", "-o", str(out),
                "--resolver", testbed.resolver] + COMMON)
    ok(proc, "mxscan scan --mx-only")
    return out


def test_mx_only_jsonl(mx_only_scan, check_output_tool, testbed):
    check_output(check_output_tool, mx_only_scan, testbed, "scan")
    problems = compare(read_jsonl(mx_only_scan.read_text(encoding="utf-8")), testbed.truth, mx_only=True)
    if problems:
        pytest.fail(problems, pytrace=False)


def test_mx_only_jsonl_analysis(mx_only_scan, check_output_tool, testbed):
    check_output(check_output_tool, mx_only_scan, testbed, "analysis")
    problems = compare(read_jsonl(mx_only_scan.read_text(encoding="utf-8")), testbed.truth, analysis=True,
                       mx_only=True)
    if problems:
        pytest.fail(problems, pytrace=False)


@pytest.fixture(scope="session")
def stdin_scan(mxscan_bin, testbed):
    """A list without ranks, read from stdin, written as JSON lines to stdout."""
    proc = run([mxscan_bin, "scan", "-", "--format", "jsonl", "-o", "-", "--resolver", testbed.resolver] + COMMON,
               input=testbed.input_txt.read_bytes())
    ok(proc, "mxscan scan -")
    rows = read_jsonl(proc.stdout.decode("utf-8"))
    by_input = {r["input"]: r for r in testbed.truth if r["domain"] is not None}
    tokens = [t.strip() for t in testbed.input_txt.read_text(encoding="utf-8").splitlines()]
    return rows, [by_input[t] for t in tokens if t and not t.startswith("#")]


def test_plain_list_from_stdin(stdin_scan):
    rows, truth = stdin_scan
    problems = compare(rows, truth, ranked=False)
    if problems:
        pytest.fail(problems, pytrace=False)


def test_plain_list_from_stdin_analysis(stdin_scan):
    rows, truth = stdin_scan
    problems = compare(rows, truth, analysis=True)
    if problems:
        pytest.fail(problems, pytrace=False)


def test_missing_input_fails(mxscan_bin, testbed, tmp_path):
    proc = run([mxscan_bin, "scan", "/nonexistent/list.csv", "-o", str(tmp_path / "x.parquet"),
                "--resolver", testbed.resolver] + COMMON)
    assert proc.returncode != 0
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    assert len(lines) == 1, f"want a one-line error on stderr, got: {lines}"


def test_output_in_missing_directory_fails(mxscan_bin, testbed, tmp_path):
    proc = run([mxscan_bin, "scan", str(testbed.input_txt), "-o", str(tmp_path / "no" / "such" / "x.parquet"),
                "--resolver", testbed.resolver] + COMMON)
    assert proc.returncode != 0
    assert proc.stderr.strip(), "want an error message on stderr"


def test_two_engine_threads_give_every_row_right(mxscan_bin, testbed, tmp_path):
    """--engine-threads 2: two cores, their own sockets and share of the domains, one writer. The rows are the
    single engine's (the truth), each input line once, and the counters add up."""
    out, stats = tmp_path / "out.parquet", tmp_path / "stats.json"
    proc = run([mxscan_bin, "scan", str(testbed.input_csv), "-o", str(out), "--resolver", testbed.resolver,
                "--engine-threads", "2", "--stats", str(stats)] + COMMON)
    ok(proc, "mxscan scan --engine-threads 2")
    rows = read_parquet(out)
    problems = compare(rows, testbed.truth, analysis=True)
    if problems:
        pytest.fail(problems, pytrace=False)
    domains = [r["domain"] for r in rows if r["domain"] is not None]
    assert len(rows) == len(testbed.truth) and len(domains) == len(set(domains))
    counters = json.loads(stats.read_text())
    assert counters["rows"] == len(rows)
    # Each engine asks its own domains' questions: together at least one MX query per domain.
    assert counters["queries_sent"] >= sum(1 for r in rows if r["status"] != "invalid")
    # An answer that loses a retransmission race (or comes after --timeout) is late, not unmatched: unmatched
    # datagrams are forged, duplicated or misrouted, and an engine that read another engine's socket would show
    # them by the thousand. A resolver's answer later than the id's linger (4 s) is unmatched too: allow 0.1 %.
    assert counters["answers"] > 0 and counters["unmatched"] * 1000 <= counters["answers"], counters
    assert counters["late"] < counters["answers"], counters
