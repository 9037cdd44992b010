"""The policy stage end to end: the test bed's world (SPF, DMARC, MTA-STS, TLS-RPT, DANE and DKIM
cases, signed zones validated by Unbound) scanned with `--policy --dkim` while scripts/policy-https
serves the MTA-STS policies on 127.0.80.1:443 under a test CA; every row's policy columns and findings
are checked against the generator's truth, and so are the MX-stage columns (the policy stage must not
disturb them). Every policy finding code of the catalogue must occur in the world and in the scan."""
import collections
import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, SBIN_PATH, in_ci, unavailable
from test_scan import compare, read_parquet
from test_cookbook import policy_codes, run

SHOW = 12


@pytest.fixture(scope="module")
def policy_https(tmp_path_factory):
    """scripts/policy-https serving the world's MTA-STS hosts; stopped by its PID at the end."""
    if not shutil.which("nginx", path=SBIN_PATH) or not shutil.which("openssl", path=SBIN_PATH):
        unavailable("nginx or openssl not installed (Debian packages nginx, openssl)")
    if os.geteuid() != 0:
        unavailable("scripts/policy-https listens on 127.0.80.1:443 and needs root")
    run_dir = tmp_path_factory.mktemp("policy-https")
    env = dict(os.environ, PATH=SBIN_PATH)
    script = str(REPO / "scripts" / "policy-https")
    done = subprocess.run([script, "start", str(run_dir)], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        subprocess.run([script, "stop", str(run_dir)], env=env, capture_output=True, timeout=60)
        pytest.fail(f"scripts/policy-https start failed:\n{done.stderr}", pytrace=False)
    try:
        yield run_dir
    finally:
        subprocess.run([script, "stop", str(run_dir)], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def policy_out(mxscan_bin, testbed, policy_https, tmp_path_factory):
    out = tmp_path_factory.mktemp("policy") / "out.parquet"
    proc = subprocess.run([mxscan_bin, "scan", str(testbed.input_csv), "-o", str(out), "--resolver", testbed.resolver,
                           "--rate", "0", "--policy", "--dkim", "--ca-file", str(policy_https / "ca.pem"), "-q"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def policy_scan(policy_out):
    return {r["input"]: r for r in read_parquet(policy_out)}


def accepted(want, field):
    return [want[field]] + want.get("alt", {}).get(field, [])


def same(have, want):
    if isinstance(want, float) or isinstance(have, float):
        return have is not None and want is not None and abs(have - want) < 1e-4
    if isinstance(want, list) and have is not None:
        return list(have) == want
    return have == want


STRUCTS = {
    "spf": ["status", "all", "lookups", "void_lookups", "includes"],
    "dmarc": ["status", "found_at", "p", "sp", "np", "pct", "adkim", "aspf", "t", "psd", "rua", "rua_unauthorized"],
    "mta_sts": ["status", "id", "mode", "max_age", "mx_patterns", "mx_uncovered", "patterns_unused", "mx_coverage"],
    "tlsrpt": ["status", "rua"],
}


def policy_mismatches(got, truth_row):
    want = truth_row["policy"]
    out = []
    if want is None:
        for name in list(STRUCTS) + ["dkim", "mx_authenticated"]:
            if got.get(name) is not None:
                out.append(f"{name}: got {got[name]!r}, want null (the stage did not run)")
        return out
    for name, fields in STRUCTS.items():
        have, w = got.get(name) or {}, want[name]
        for field in fields:
            if field in w.get("unchecked", []):
                continue
            if not any(same(have.get(field), a) for a in accepted(w, field)):
                out.append(f"{name}.{field}: got {have.get(field)!r}, want {' or '.join(map(repr, accepted(w, field)))}")
    key = ("selector", "status", "key_type", "key_bits", "testing")
    have_keys = sorted(tuple(k[f] for f in key) for k in got.get("dkim") or [])
    want_keys = sorted(tuple(k[f] for f in key) for k in want["dkim"])
    if have_keys != want_keys:
        out.append(f"dkim: got {have_keys}, want {want_keys}")
    if got.get("mx_authenticated") != want["mx_authenticated"]:
        out.append(f"mx_authenticated: got {got.get('mx_authenticated')!r}, want {want['mx_authenticated']!r}")
    for have_mx, want_mx in zip(got.get("mx") or [], want["mx"]):
        tlsa = lambda rows: sorted((t["usage"], t["selector"], t["matching"], t["data"].lower()) for t in rows or [])
        if (tlsa(have_mx.get("tlsa")) != tlsa(want_mx["tlsa"])
                or have_mx.get("tlsa_authenticated") != want_mx["tlsa_authenticated"]):
            out.append(f"mx {want_mx['exchange']}: tlsa got {tlsa(have_mx.get('tlsa'))} "
                       f"{have_mx.get('tlsa_authenticated')}, want {tlsa(want_mx['tlsa'])} {want_mx['tlsa_authenticated']}")
    stage = policy_codes()
    have_codes = sorted(set(got.get("findings") or []) & stage)
    options = [sorted(want["policy_findings"])] + [sorted(a) for a in want.get("policy_findings_alt", [])]
    if have_codes not in options:
        out.append(f"policy findings: got {have_codes}, want {options[0]}"
                   + (f" (or {options[1:]})" if options[1:] else ""))
    return out


def test_policy_columns_match_the_truth(policy_scan, testbed):
    problems, cases = [], collections.Counter()
    for t in testbed.truth:
        got = policy_scan.get(t["input"])
        if got is None:
            problems.append(f"{t['input']}: no row")
            continue
        diff = policy_mismatches(got, t)
        if diff:
            cases[t["case"]] += 1
            problems.append(f"{t['domain']} (case {t['case']}):\n" + "".join(f"    {d}\n" for d in diff))
    by_case = ", ".join(f"{c} {n}" for c, n in cases.most_common())
    assert not problems, (f"{len(problems)} rows differ (by case: {by_case}); the first {SHOW}:\n"
                          + "\n".join(problems[:SHOW]))


def test_the_mx_stage_is_unchanged_by_the_policy_stage(policy_scan, testbed):
    """The scan-stage columns of the --policy run match the truth exactly, like a scan without it (the
    policy codes in `findings` are checked by the test above)."""
    stage = policy_codes()
    rows = [dict(r, findings=[f for f in r["findings"] if f not in stage]) for r in policy_scan.values()]
    problems = compare(rows, testbed.truth)
    assert not problems, problems


def test_every_policy_code_is_in_the_world_and_in_the_scan(policy_scan, testbed):
    stage = policy_codes()
    in_truth = {c for t in testbed.truth if t.get("policy") for c in t["policy"]["policy_findings"]}
    in_scan = {c for r in policy_scan.values() for c in r.get("findings") or [] if c in stage}
    assert stage - in_truth == set(), f"codes no world case exercises: {sorted(stage - in_truth)}"
    assert stage - in_scan == set(), f"codes the scan never reported: {sorted(stage - in_scan)}"


def test_mta_sts_fetches_reach_the_https_server(policy_scan, policy_https):
    """The fetch outcomes the table promises: bodies for the good hosts, the error for the others."""
    good = [r for r in policy_scan.values() if (r.get("mta_sts") or {}).get("mode") == "enforce"
            and (r.get("mta_sts") or {}).get("status") == "ok"]
    failed = [r for r in policy_scan.values() if (r.get("mta_sts") or {}).get("status") == "fetch_failed"]
    assert good, "no enforce policy was fetched"
    errors = " | ".join(sorted(r["mta_sts"]["fetch_error"] for r in failed))
    for fragment in ("HTTP 404", "HTTP 500", "redirect", "expired", "timed out", "larger than"):
        assert fragment in errors, f"no fetch failed with {fragment!r}: {errors}"
    log = Path(policy_https) / "access.log"
    if log.exists():
        assert "mxscan/" in log.read_text(errors="replace"), "requests carry mxscan's User-Agent"


# ------------------------------------------------------------------ the cookbook's policy queries
# Expected answers come from the scanned rows, which the tests above check against the generator's
# truth field by field: these tests check that each query says what it claims over those rows.

@pytest.fixture(scope="module")
def policy_db(policy_out):
    con = duckdb.connect()
    con.sql(f"create view domains as select * from read_parquet('{policy_out}')")
    return con


def test_cookbook_spf_adoption(policy_db, policy_scan):
    want = collections.Counter((r["spf"]["status"], r["spf"]["all"] or "(no all)")
                               for r in policy_scan.values() if r.get("spf"))
    got = {(r["status"], r["qualifier"]): r["domains"] for r in run(policy_db, "spf_adoption")}
    assert len(want) > 3 and got == dict(want)


def test_cookbook_spf_over_the_lookup_limit(policy_db, policy_scan):
    want = sorted(r["domain"] for r in policy_scan.values() if r.get("spf") and r["spf"]["lookups"] > 10)
    got = [r["domain"] for r in run(policy_db, "spf_over_the_lookup_limit")]
    assert want and got == want


def test_cookbook_dmarc_policies(policy_db, policy_scan):
    want = collections.Counter((r["dmarc"]["p"] or "(none)", r["dmarc"]["found_at"] == "_dmarc." + r["domain"])
                               for r in policy_scan.values() if r.get("dmarc") and r["dmarc"]["status"] == "ok")
    got = {(r["policy"], r["own_record"]): r["domains"] for r in run(policy_db, "dmarc_policies")}
    assert (("reject", False) in want) and got == dict(want)


def test_cookbook_mta_sts_coverage_gaps(policy_db, policy_scan):
    want = sorted(r["domain"] for r in policy_scan.values()
                  if r.get("mta_sts") and (r["mta_sts"]["mx_uncovered"] or r["mta_sts"]["patterns_unused"]))
    got = [r["domain"] for r in run(policy_db, "mta_sts_coverage_gaps")]
    assert want and got == want


def test_cookbook_dane_without_dnssec(policy_db, policy_scan):
    want = sorted((r["domain"], m["exchange"]) for r in policy_scan.values() for m in r["mx"] or []
                  if m["tlsa"] and (m["tlsa_authenticated"] is False or r["mx_authenticated"] is False))
    got = [(r["domain"], r["exchange"]) for r in run(policy_db, "dane_without_dnssec")]
    assert want and got == want
