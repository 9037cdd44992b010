"""`mxscan serve` over HTTP against the loopback test bed: the lookup page and its JSON API give the world's truth,
findings carry their fix and RFC link, and the guards hold (Host check, methods, bad names, rate limits, headers).
The browser tests (Chromium) are in test_serve_browser.py."""
import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from test_scan import mismatches, ok

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def start_server(mxscan_bin, resolver, *flags):
    """Start `mxscan serve` on a free loopback port; return (process, base URL)."""
    proc = subprocess.Popen([mxscan_bin, "serve", "--listen", "127.0.0.1:0", "--resolver", resolver, "--timeout", "1s",
                             *flags], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = ""
    for _ in range(5):  # a "loaded" line may come first
        line = proc.stderr.readline()
        seen += line
        m = re.search(r"serving (http://127\.0\.0\.1:\d+)/", line)
        if m:
            return proc, m.group(1)
        if not line:
            break
    proc.kill()
    pytest.fail(f"mxscan serve did not start: {seen}{proc.stderr.read()}", pytrace=False)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server(mxscan_bin, testbed):
    # Generous limits: this module makes a few dozen lookups; the limit test starts its own server.
    proc, base = start_server(mxscan_bin, testbed.resolver, "--lookups-per-minute", "100000",
                              "--client-lookups-per-minute", "100000")
    yield base
    stop(proc)


def get(url, host=None, method="GET", follow=True):
    """(status, headers, body text) of a request; errors are answers too."""
    req = urllib.request.Request(url, method=method)
    if host:
        req.add_header("Host", host)
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


def policy_codes(base):
    """The policy stage's codes: the catalogue lists them from spf_missing on (lookups always run that stage)."""
    status, _, body = get(base + "/api/findings")
    assert status == 200
    codes = [f["code"] for f in json.loads(body)]
    return set(codes[codes.index("spf_missing"):])


def pick(testbed, predicate, n=1):
    rows = [t for t in testbed.truth if t["domain"] and t["status"] == "ok" and not t["status_alt"] and predicate(t)]
    assert len(rows) >= n, "the world lacks the case"
    return rows[:n]


def test_api_lookup_gives_the_truth(server, testbed):
    drop = policy_codes(server)
    cases = (pick(testbed, lambda t: len({m["tier"] for m in t["mx"]}) >= 2 and t["provider"], 1)
             + pick(testbed, lambda t: t["null_mx"], 1) + pick(testbed, lambda t: t["implicit_mx"], 1))
    for want in cases:
        status, headers, body = get(f"{server}/api/lookup/{want['domain']}")
        assert status == 200, body
        assert headers["Content-Type"].startswith("application/json")
        row = json.loads(body)
        row["findings"] = [f for f in row["findings"] if f not in drop]
        problems = mismatches(row, want, ranked=False)
        assert not problems, f"{want['domain']}: {problems}"
        assert (row["provider"], row["provider_category"]) == (want["provider"], want["provider_category"])
        assert isinstance(row["spf"], dict) and row["spf"]["status"], "lookups run the policy stage"


def test_the_page_shows_tiers_provider_findings_and_records(server, testbed):
    want = pick(testbed, lambda t: len({m["tier"] for m in t["mx"]}) >= 2 and "single_mx" not in t["findings"]
                and any(f for f in t["findings"]), 1)[0]
    status, headers, page = get(f"{server}/d/{want['domain']}")
    assert status == 200
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    for m in want["mx"]:
        assert m["exchange"] in page
        assert f'class="tier-{min(m["tier"], 4)}"' in page
        for a in m["ipv4"]:
            assert a in page
    # The dig view: the MX RRset with its TTL.
    assert re.search(rf"{re.escape(want['domain'])}\.\t\d+\tIN\tMX\t{want['mx'][0]['preference']} ", page)
    _, _, body = get(server + "/api/findings")
    catalogue = {f["code"]: f for f in json.loads(body)}
    for code in want["findings"]:
        f = catalogue[code]
        assert f'id="f-{code}"' in page
        assert f["fix"] and escape(f["fix"]) in page
        if f["url"]:
            assert f'href="{f["url"]}"' in page
    assert "<script>" not in page and 'href="/d/' in page


def escape(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("'", "&#39;"))


def test_a_pasted_list_becomes_a_table_and_one_name_its_permalink(server, testbed):
    rows = pick(testbed, lambda t: True, 3)
    names = [r["domain"] for r in rows]
    status, _, page = get(f"{server}/?q=" + urllib.request.quote(" ,\n".join(names + ["not a domain!"])))
    assert status == 200
    for name in names:
        assert f'<a href="/d/{name}">' in page
    assert "not" in page and "invalid" in page
    status, headers, _ = get(f"{server}/?q={names[0].upper()}.", follow=False)
    assert status in (302, 303, 307) and headers["Location"] == f"/d/{names[0]}"


def test_idn_input_is_shown_in_both_forms(server):
    status, _, page = get(f"{server}/d/" + urllib.request.quote("bücher.example"))
    # Not served by the world: the lookup answers, the page shows both forms.
    assert status == 200, page
    assert "bücher.example" in page and "xn--bcher-kva.example" in page


@pytest.mark.parametrize("path,status,needle", [
    ("/d/not_a%20domain!", 400, "is not a domain name"),
    ("/d/192.0.2.1", 400, "an address, not a domain name"),
    ("/api/lookup/10.0.0.0%2F8", 400, "is not a domain name"),
    ("/?q=" + "+".join(f"d{i}.example" for i in range(26)), 400, "at most 25 domains"),
    ("/nowhere", 404, "Not found"),
])
def test_bad_requests_get_clear_answers(server, path, status, needle):
    got, headers, body = get(server + path)
    assert got == status and needle in body, body
    assert headers["Content-Security-Policy"] == CSP


def test_foreign_hosts_and_other_methods_are_refused(server):
    status, _, body = get(server + "/d/example.com", host="attacker.example")
    assert status == 421 and "DNS rebinding" in body
    status, _, _ = get(server + "/", host="localhost:1234")
    assert status == 200
    status, headers, _ = get(server + "/", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_lookups_are_rate_limited(mxscan_bin, testbed):
    # 4 a minute: a burst of 1, then 429 with Retry-After.
    proc, base = start_server(mxscan_bin, testbed.resolver, "--lookups-per-minute", "4")
    try:
        name = pick(testbed, lambda t: True, 1)[0]["domain"]
        first, _, _ = get(f"{base}/api/lookup/{name}")
        second, headers, body = get(f"{base}/api/lookup/{name}")
        assert first == 200
        assert second == 429 and int(headers["Retry-After"]) >= 1 and "too many lookups" in body
        # Pages and assets are not lookups.
        assert get(base + "/static/style.css")[0] == 200
    finally:
        stop(proc)


def test_serve_refuses_a_port_in_use(mxscan_bin, server):
    port = server.rsplit(":", 1)[1]
    proc = subprocess.run([mxscan_bin, "serve", "--listen", f"127.0.0.1:{port}", "--resolver", "127.0.0.1:9"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    ok(subprocess.run([mxscan_bin, "serve", "--help"], capture_output=True), "serve --help")


# ------------------------------------------------------------------ the scan browser (--scan)

import duckdb  # noqa: E402

from test_scan import full_scan  # noqa: E402,F401  (the session's scan of the world)


@pytest.fixture(scope="module")
def scan_server(mxscan_bin, testbed, full_scan):  # noqa: F811
    proc_scan, out = full_scan
    ok(proc_scan, "mxscan scan")
    proc, base = start_server(mxscan_bin, testbed.resolver, "--scan", str(out), "--lookups-per-minute", "100000",
                              "--client-lookups-per-minute", "100000")
    yield base, out
    stop(proc)


def sql(out, query):
    return duckdb.sql(query.replace("SCAN", f"read_parquet('{out}')")).fetchall()


def api(base, params):
    status, _, body = get(f"{base}/api/scan?{params}")
    assert status == 200, body
    return json.loads(body)


@pytest.mark.parametrize("params,where", [
    ("status=nxdomain", "status = 'nxdomain'"),
    ("provider=google", "provider = 'google'"),
    ("provider=none", "provider is null"),
    ("category=gateway", "provider_category = 'gateway'"),
    ("finding=single_mx", "list_contains(findings, 'single_mx')"),
    ("tiers=2", "len(list_distinct([m.tier for m in mx])) = 2"),
    ("text=MAIL", "contains(lower(coalesce(domain, input)), 'mail')"),
    ("status=ok&provider=microsoft&finding=single_mx",
     "status = 'ok' and provider = 'microsoft' and list_contains(findings, 'single_mx')"),
])
def test_scan_filters_count_what_duckdb_counts(scan_server, params, where):
    base, out = scan_server
    want = sql(out, f"select count(*) from SCAN where {where}")[0][0]
    assert want > 0, "the world lacks the case"
    page = api(base, params)
    assert page["total"] == want
    assert len(page["rows"]) == min(want, 50)


def test_scan_sorts_and_pages(scan_server):
    base, out = scan_server
    want = [r[0] for r in sql(out, "select coalesce(domain, input) d from SCAN order by d limit 200")]
    got = api(base, "sort=domain&limit=100")["rows"] + api(base, "sort=domain&limit=100&offset=100")["rows"]
    assert [r["domain"] for r in got] == want
    ranks = [r["rank"] for r in api(base, "sort=rank&desc=1&limit=20")["rows"]]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] == sql(out, "select max(rank) from SCAN")[0][0]
    total = api(base, "")["total"]
    assert total == sql(out, "select count(*) from SCAN")[0][0]
    assert api(base, f"offset={total}") == {"total": total, "rows": []}
    by_findings = [len(r["findings"]) for r in api(base, "sort=findings&desc=1&limit=50")["rows"]]
    assert by_findings == sorted(by_findings, reverse=True)


def test_scan_exports_every_matching_row(scan_server, tmp_path):
    import pyarrow.parquet as pq
    base, out = scan_server
    want = sorted(r[0] for r in sql(out, "select domain from SCAN where provider = 'microsoft'"))
    status, headers, body = get(f"{base}/scan/export.csv?provider=microsoft")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    # Streamed as it is written (chunked), not built whole in the server's memory first.
    assert headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in headers, dict(headers)
    lines = body.splitlines()
    assert lines[0] == "domain,rank,status,provider,provider_category,mx_count,tiers,findings"
    assert sorted(l.split(",")[0] for l in lines[1:]) == want
    req = urllib.request.urlopen(f"{base}/scan/export.parquet?provider=microsoft", timeout=30)
    (tmp_path / "x.parquet").write_bytes(req.read())
    table = pq.read_table(tmp_path / "x.parquet")
    assert sorted(table.column("domain").to_pylist()) == want
    assert set(table.column("provider").to_pylist()) == {"microsoft"}


def test_scan_row_and_how_common(scan_server, testbed):
    base, out = scan_server
    domain, provider = sql(out, "select domain, provider from SCAN where provider = 'google' and status = 'ok' "
                                "order by rank limit 1")[0]
    status, _, page = get(f"{base}/scan/d/{domain}")
    assert status == 200 and f"&quot;domain&quot;: &quot;{domain}&quot;" in page  # the row's JSON, escaped
    assert get(f"{base}/scan/d/absent-from-the-scan.example")[0] == 404
    # The lookup page says how common the provider is in the loaded scan.
    n = sql(out, "select count(*) from SCAN where provider = 'google'")[0][0]
    total = sql(out, "select count(*) from SCAN")[0][0]
    status, _, page = get(f"{base}/d/{domain}")
    assert status == 200 and "How common is this" in page
    assert f"{n} of {total} domains" in page


@pytest.mark.parametrize("params", ["tiers=9", "sort=size", "offset=-3", "limit=x"])
def test_scan_bad_parameters_are_refused(scan_server, params):
    base, _ = scan_server
    assert get(f"{base}/api/scan?{params}")[0] == 400
    assert get(f"{base}/scan?{params}")[0] == 400


def test_serve_refuses_an_unreadable_scan(mxscan_bin, tmp_path):
    bad = tmp_path / "not.parquet"
    bad.write_text("not parquet")
    for path in (tmp_path / "missing.parquet", bad):
        proc = subprocess.run([mxscan_bin, "serve", "--listen", "127.0.0.1:0", "--scan", str(path),
                               "--resolver", "127.0.0.1:9"], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 1 and str(path) in proc.stderr and "serving" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
