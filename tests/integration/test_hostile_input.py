"""Hostile input files: binary garbage, a 100 MB line, NUL bytes, invalid UTF-8, mixed encodings. Each bad line
becomes a clear `invalid` row (or the file a clear error), memory stays bounded, nothing panics, and the good
lines around them are still scanned right."""
import json
import os
import random
import subprocess
import sys

import duckdb

from test_scan import read_parquet

MAX_RSS_MIB = 256


def scan_measured(mxscan_bin, args):
    """Run mxscan in a child Python so ru_maxrss is this scan's alone."""
    wrapper = ("import json, resource, subprocess, sys\n"
               "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
               "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
               "print(json.dumps([p.returncode, r.ru_maxrss, p.stderr.decode(errors='replace')]))\n")
    out = subprocess.run([sys.executable, "-c", wrapper, mxscan_bin, *args], capture_output=True, text=True,
                         check=True, timeout=300)
    code, rss_kib, stderr = json.loads(out.stdout)
    return code, rss_kib / 1024, stderr


def test_hostile_lines_become_invalid_rows(mxscan_bin, testbed, tmp_path):
    good = [t for t in testbed.truth if t["domain"] and t["status"] == "ok"][:5]
    lines = [
        b"\x00\x01\x02binary\x00.com",                      # NUL bytes
        b"\xff\xfe\xfd.example",                            # not UTF-8
        "bücher-latin1.de".encode("latin-1"),               # another encoding
        "bücher-utf16.de".encode("utf-16"),                 # UTF-16 with BOM, NULs inside
        b"a" * (100 * 1024 * 1024),                          # a 100 MB line
        b"\x1b[31mred\x1b[0m.example",                      # terminal escapes
        b"<script>alert(1)</script>",                       # markup
        b"xn--zz-zzz-zzzzzz.example.",                      # bogus punycode, still a DNS name
    ]
    body = b"\n".join(lines[:4] + [t["domain"].encode() for t in good[:2]] + lines[4:] +
                      [t["domain"].encode() for t in good[2:]]) + b"\n"
    path = tmp_path / "hostile.txt"
    path.write_bytes(body)
    out = tmp_path / "out.parquet"
    code, rss, stderr = scan_measured(mxscan_bin, ["scan", str(path), "-o", str(out), "--resolver", testbed.resolver,
                                                   "--rate", "0", "--timeout", "1s", "--quiet"])
    assert code == 0, stderr
    assert rss < MAX_RSS_MIB, f"peak RSS {rss:.0f} MiB for a file with a 100 MB line"
    rows = read_parquet(out)
    by_input = {}
    for r in rows:
        assert len(r["input"]) <= 4096
        by_input[r["input"][:40]] = r
    invalid = [r for r in rows if r["status"] == "invalid"]
    reasons = sorted(r["error"] for r in invalid)
    assert "contains a NUL byte" in reasons
    assert reasons.count("not valid UTF-8") >= 2, reasons
    assert "line longer than 4096 bytes" in reasons
    assert any(e.startswith("invalid character") for e in reasons), reasons
    assert all(r["domain"] is None and r["error"] for r in invalid)
    # The good domains around the garbage are scanned and right.
    for t in good:
        row = next(r for r in rows if r["domain"] == t["domain"])
        assert row["status"] == t["status"]
        assert [(m["preference"], m["exchange"]) for m in row["mx"]] == [(m["preference"], m["exchange"]) for m in t["mx"]]


def test_binary_garbage_is_bounded_and_accounted_for(mxscan_bin, testbed, tmp_path):
    rng = random.Random(7)
    blob = bytes(rng.getrandbits(8) for _ in range(2 * 1024 * 1024))
    path = tmp_path / "garbage.bin"
    path.write_bytes(blob)
    out = tmp_path / "out.parquet"
    code, rss, stderr = scan_measured(mxscan_bin, ["scan", str(path), "-o", str(out), "--resolver", testbed.resolver,
                                                   "--rate", "0", "--timeout", "1s", "--retries", "0", "--quiet"])
    assert code == 0, stderr
    assert rss < MAX_RSS_MIB
    con = duckdb.connect()
    total, invalid = con.sql(f"select count(*), count(*) filter (status = 'invalid') from read_parquet('{out}')").fetchall()[0]
    assert total > 1000 and invalid / total > 0.99, (total, invalid)


def test_a_gzip_that_is_not_is_a_clear_error(mxscan_bin, testbed, tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(64))
    proc = subprocess.run([mxscan_bin, "scan", str(path), "-o", str(tmp_path / "o.parquet"), "--resolver",
                           testbed.resolver, "--quiet"], capture_output=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    assert len(lines) == 1 and "cannot read the input" in lines[0], lines
