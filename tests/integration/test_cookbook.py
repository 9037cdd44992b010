"""The DuckDB cookbook (docs/queries.sql): every query runs with the real DuckDB against a test-bed scan,
and its answer is checked against the generator's truth."""
import collections
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
QUERIES = REPO / "docs" / "queries.sql"


def queries():
    parts = re.split(r"^-- name: (\w+)\s*$", QUERIES.read_text(encoding="utf-8"), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


@pytest.fixture(scope="module")
def scan(mxscan_bin, testbed, tmp_path_factory):
    out = tmp_path_factory.mktemp("cookbook") / "out.parquet"
    proc = subprocess.run([mxscan_bin, "scan", str(testbed.input_csv), "-o", str(out), "--resolver", testbed.resolver,
                           "--rate", "0", "--timeout", "1s", "--retries", "2", "--quiet"], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    con = duckdb.connect()
    con.sql(f"create view domains as select * from read_parquet('{out}')")
    return con


def run(con, name):
    rel = con.sql(queries()[name])
    return [dict(zip(rel.columns, row)) for row in rel.fetchall()]


def has_mx(t):
    return t["status"] == "ok" and any(m["exchange"] != "." for m in t["mx"])


def test_every_query_is_checked():
    assert set(queries()) == {"provider_share", "gateways_by_rank_bucket", "error_findings_with_exchangers",
                              "bypassable_gateways", "shared_exchangers",
                              # checked in test_policy.py, against a --policy scan
                              "spf_adoption", "spf_over_the_lookup_limit", "dmarc_policies",
                              "mta_sts_coverage_gaps", "dane_without_dnssec"}


def test_provider_share(scan, testbed):
    want = collections.Counter(
        t["provider"] or ("(self-hosted)" if t["self_hosted"] else "(unknown)") for t in testbed.truth if has_mx(t))
    got = run(scan, "provider_share")
    assert {r["provider"]: r["domains"] for r in got} == dict(want)
    assert abs(sum(r["pct"] for r in got) - 100) < 0.1
    assert got[0]["domains"] == max(want.values())


def bucket(rank):
    if rank is None:
        return "unranked"
    for limit, name in ((1000, "top 1k"), (10000, "top 10k"), (100000, "top 100k"), (1000000, "top 1M")):
        if rank <= limit:
            return name
    return "beyond 1M"


def test_gateways_by_rank_bucket(scan, testbed):
    want = collections.Counter((bucket(t["rank"]), t["provider"]) for t in testbed.truth
                               if t.get("provider_category") == "gateway")
    got = {(r["bucket"], r["gateway"]): r["domains"] for r in run(scan, "gateways_by_rank_bucket")}
    assert want, "the world has gateway domains"
    assert got == dict(want)


def policy_codes():
    """The policy stage's codes (docs/findings.md, "Mail policy"): a scan without --policy never has them."""
    text = (REPO / "docs" / "findings.md").read_text(encoding="utf-8")
    section = text[text.index("## Mail policy"):]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))


def error_codes_from_the_catalogue(mxscan_bin):
    """Error codes of the scan and analysis stages, from `mxscan findings`."""
    out = subprocess.run([mxscan_bin, "findings"], capture_output=True, text=True, check=True).stdout
    codes = {line.split()[0] for line in out.splitlines()[1:] if line.split()[1:2] == ["error"]}
    assert codes & policy_codes(), "the catalogue has policy error codes"
    return codes - policy_codes()


def test_error_findings_with_exchangers(scan, testbed, mxscan_bin):
    codes = error_codes_from_the_catalogue(mxscan_bin)
    in_sql = set(re.findall(r"'([a-z_]+)'", queries()["error_findings_with_exchangers"]))
    assert codes and codes <= in_sql, f"the query misses error codes {codes - in_sql}"
    want = collections.Counter((t["domain"], m["preference"], m["exchange"]) for t in testbed.truth
                               if set(t["findings"]) & codes for m in t["mx"])
    got = collections.Counter((r["domain"], r["preference"], r["exchange"])
                              for r in run(scan, "error_findings_with_exchangers"))
    assert want, "the world has error findings"
    assert got == want


def test_bypassable_gateways(scan, testbed):
    want = {}
    for t in testbed.truth:
        if "gateway_bypass" in t["findings"]:
            want[t["domain"]] = (t["provider"], sorted(m["exchange"] for m in t["mx"]
                                                       if m["tier"] > 1 and m["exchange"] != "."
                                                       and m.get("category") != "gateway"))
    got = {r["domain"]: (r["gateway"], sorted(r["bypass_exchanges"])) for r in run(scan, "bypassable_gateways")}
    assert want, "the world has bypassable gateways"
    assert got == want


def test_shared_exchangers(scan, testbed):
    users = collections.defaultdict(set)
    provider = {}
    for t in testbed.truth:
        if t["status"] == "ok":
            for m in t["mx"]:
                if m["exchange"] != ".":
                    users[m["exchange"]].add(t["domain"])
                    provider[m["exchange"]] = m.get("provider")
    want = sorted(((len(d), e) for e, d in users.items()), key=lambda x: (-x[0], x[1]))[:20]
    got = run(scan, "shared_exchangers")
    assert [(r["domains"], r["exchange"]) for r in got] == want
    assert all(r["provider"] == provider[r["exchange"]] for r in got)
