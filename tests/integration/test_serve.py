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
    line = proc.stderr.readline()
    m = re.search(r"serving (http://127\.0\.0\.1:\d+)/", line)
    if not m:
        proc.kill()
        pytest.fail(f"mxscan serve did not start: {line}{proc.stderr.read()}", pytrace=False)
    return proc, m.group(1)


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
