"""The project's contract checker (check_output.py) itself: it passes a good output and catches what the
contract forbids, here the "unknown is null" rules and a non-nullable column holding null. No test bed."""
import json
import subprocess
import sys

from conftest import REPO

CHECKER = REPO / "tests" / "integration" / "check_output.py"


def good_rows():
    base = {"rank": None, "error": None, "domain_cname": None, "findings": [], "queries": 1, "elapsed_ms": 5,
            "resolver": "127.0.0.1:53", "scanned_at": "2026-11-29T00:00:00.000Z", "provider": None,
            "provider_category": None, "providers": []}
    mx = {"preference": 10, "exchange": "mx.example.net", "tier": 1, "ipv4": ["45.0.0.1"], "ipv6": [], "cname": None,
          "address_status": "ok", "provider": None, "category": None, "org_domain": "example.net"}
    return [
        dict(base, domain="a.example", input="a.example", status="ok", mx_ttl=300, null_mx=False,
             implicit_mx=False, mx=[mx], self_hosted=False, findings=["single_address", "single_mx"]),
        dict(base, domain="b.example", input="b.example", status="nxdomain", mx_ttl=None, null_mx=False,
             implicit_mx=False, mx=[], self_hosted=False),
        dict(base, domain="c.example", input="c.example", status="timeout", mx_ttl=None, null_mx=None,
             implicit_mx=None, mx=[], self_hosted=None, resolver=None),
    ]


def check(tmp_path, rows):
    path = tmp_path / "out.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return subprocess.run([sys.executable, str(CHECKER), str(path), "--stage", "analysis"], capture_output=True,
                          text=True, timeout=60)


def test_a_good_output_passes(tmp_path):
    proc = check(tmp_path, good_rows())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_false_for_unknown_is_caught(tmp_path):
    rows = good_rows()
    rows[2]["null_mx"] = False  # the MX lookup timed out: nobody knows
    proc = check(tmp_path, rows)
    assert proc.returncode == 1 and "c.example: status timeout but null_mx is False" in proc.stdout, proc.stdout


def test_null_for_known_is_caught(tmp_path):
    rows = good_rows()
    rows[1]["self_hosted"] = None  # NXDOMAIN is an answer
    rows[0]["implicit_mx"] = None  # MX records present: no implicit MX
    proc = check(tmp_path, rows)
    assert proc.returncode == 1, proc.stdout
    assert "b.example: status nxdomain answers it, but self_hosted is null" in proc.stdout, proc.stdout
    assert "a.example: status ok with 1 MX: implicit_mx None" in proc.stdout, proc.stdout


def test_null_in_a_column_that_never_is_is_caught(tmp_path):
    rows = good_rows()
    rows[0]["queries"] = None
    proc = check(tmp_path, rows)
    assert proc.returncode == 1 and "null queries" in proc.stdout, proc.stdout
