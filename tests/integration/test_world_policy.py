"""Checks of the mail-policy world itself (no scanner needed): the truth's `policy` objects have the
agreed shape, every policy case is there and shows what it was built for, and the test bed answers
as the truth assumes when asked through Unbound with kdig: the TXT records behind each SPF,
DMARC, MTA-STS, TLS-RPT and DKIM expectation, TLSA data, the AD bit (set on answers from the
DNSSEC-signed zones, in both Unbound profiles, and on no other), and a TXT answer longer than 1232
bytes (TC over UDP, whole over TCP). The scanner's policy columns are compared with this truth
elsewhere, once the policy stage writes them.
"""
import collections
import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, SBIN_PATH, unavailable

POLICY_KEYS = {"spf", "dmarc", "mta_sts", "tlsrpt", "dkim", "mx_authenticated", "mx", "policy_findings",
               "policy_findings_alt"}
SPF_KEYS = {"status", "all", "lookups", "void_lookups", "includes", "findings"}
DMARC_KEYS = {"status", "found_at", "p", "sp", "np", "pct", "adkim", "aspf", "t", "psd", "rua", "rua_unauthorized"}
STS_KEYS = {"status", "id", "mode", "max_age", "mx_patterns", "mx_uncovered", "patterns_unused", "mx_coverage"}
OPTIONAL = {"alt", "unchecked", "rfc7489"}
SIGNED = ("policy.test", "dane.test")
SELECTORS = {"google", "selector1", "selector2", "default", "k1", "s1", "s2", "dkim", "mail"}

# case -> (finding codes the row must have, codes it must not have); written out here, not taken
# from the generator, so a slip in one shows against the other
CASES = {
    "policy_spf_none": ({"spf_missing"}, set()),
    "policy_spf_neutral_all": ({"spf_neutral_all"}, {"spf_plus_all"}),
    "policy_spf_plus_all": ({"spf_plus_all"}, set()),
    "policy_spf_bare_all": ({"spf_plus_all"}, set()),
    "policy_spf_no_all": ({"spf_no_all"}, set()),
    "policy_spf_ptr": ({"spf_ptr"}, set()),
    "policy_spf_multiple": ({"spf_multiple_records"}, {"spf_missing"}),
    "policy_spf_redirect": (set(), {"spf_no_all", "spf_include_missing"}),
    "policy_spf_syntax_error": ({"spf_syntax_error"}, set()),
    "policy_spf_exactly_10": (set(), {"spf_too_many_lookups"}),
    "policy_spf_too_many_lookups": ({"spf_too_many_lookups"}, set()),
    "policy_spf_lookups_14": ({"spf_too_many_lookups"}, set()),
    "policy_spf_too_many_void_lookups": ({"spf_too_many_void_lookups"}, set()),
    "policy_spf_two_void_lookups": (set(), {"spf_too_many_void_lookups"}),
    "policy_spf_include_missing": ({"spf_include_missing"}, set()),
    "policy_spf_include_nxdomain": ({"spf_include_missing"}, set()),
    "policy_spf_temperror": ({"spf_temperror"}, set()),
    "policy_spf_long_record": (set(), {"spf_missing", "spf_syntax_error"}),
    "policy_null_mx_spf_allows": ({"null_mx_spf_allows_senders"}, set()),
    "policy_null_mx_spf_deny": (set(), {"null_mx_spf_allows_senders"}),
    "policy_dmarc_missing": ({"dmarc_missing"}, set()),
    "policy_dmarc_policy_none": ({"dmarc_policy_none"}, set()),
    "policy_dmarc_partial_pct": ({"dmarc_partial_pct", "dmarc_retired_tag"}, set()),
    "policy_dmarc_retired_tags": ({"dmarc_retired_tag"}, {"dmarc_partial_pct"}),
    "policy_dmarc_multiple_records": ({"dmarc_multiple_records"}, set()),
    "policy_dmarc_v_not_first": ({"dmarc_syntax_error"}, set()),
    "policy_dmarc_bad_p": ({"dmarc_syntax_error"}, set()),
    "policy_dmarc_bad_rua": ({"dmarc_syntax_error"}, set()),
    "policy_dmarcbis_tags": (set(), {"dmarc_syntax_error", "dmarc_retired_tag"}),
    "policy_dmarc_rua_authorized": (set(), {"dmarc_rua_unauthorized"}),
    "policy_dmarc_rua_unauthorized": ({"dmarc_rua_unauthorized"}, set()),
    "policy_dmarc_at_parent": (set(), {"dmarc_missing"}),
    "policy_dmarc_tree_walk_differs": (set(), {"dmarc_missing"}),
    "policy_dmarc_reject_without_auth": ({"dmarc_reject_without_auth", "spf_missing"}, set()),
    "policy_tlsrpt_https": (set(), {"tlsrpt_invalid"}),
    "policy_tlsrpt_mailto": (set(), {"tlsrpt_invalid"}),
    "policy_tlsrpt_bad_scheme": ({"tlsrpt_invalid"}, set()),
    "policy_tlsrpt_two_records": ({"tlsrpt_invalid"}, set()),
    "policy_dkim_revoked": (set(), {"dkim_key_invalid"}),
    "policy_dkim_testing": ({"dkim_testing"}, set()),
    "policy_dkim_bad_base64": ({"dkim_key_invalid"}, set()),
    "policy_dkim_unknown_k": ({"dkim_key_invalid"}, set()),
    "policy_dkim_ed25519": (set(), {"dkim_key_invalid"}),
    "policy_mta_sts_enforce": (set(), {"mta_sts_mx_uncovered", "mta_sts_without_tlsrpt", "mta_sts_testing"}),
    "policy_mta_sts_testing": ({"mta_sts_testing", "mta_sts_without_tlsrpt"}, set()),
    "policy_mta_sts_none": (set(), {"mta_sts_policy_invalid"}),
    "policy_mta_sts_wildcard": ({"mta_sts_mx_uncovered", "mta_sts_pattern_unused"}, set()),
    "policy_mta_sts_lf": ({"mta_sts_without_tlsrpt"}, {"mta_sts_policy_invalid"}),
    "policy_mta_sts_chunked": ({"mta_sts_testing"}, {"mta_sts_policy_unavailable"}),
    "policy_mta_sts_html": ({"mta_sts_testing"}, {"mta_sts_policy_unavailable"}),
    "policy_mta_sts_duplicate-key": (set(), {"mta_sts_policy_invalid", "mta_sts_testing"}),
    "policy_mta_sts_max-age-over": ({"mta_sts_policy_invalid"}, set()),
    "policy_mta_sts_missing-mx": ({"mta_sts_policy_invalid"}, set()),
    "policy_mta_sts_expiring": ({"mta_sts_cert_expiring"}, set()),
    "policy_mta_sts_badid": ({"mta_sts_record_invalid"}, set()),
    "policy_mta_sts_tworecords": ({"mta_sts_record_invalid"}, set()),
    **{f"policy_mta_sts_{c}": ({"mta_sts_policy_unavailable"}, set())
       for c in ("redirect", "not-found", "server-error", "expired", "wrong-name", "slow", "oversized", "no-vhost",
                 "refused")},
    "policy_dane_ee": (set(), {"dane_not_authenticated", "dane_mx_not_authenticated", "dane_unusable_usage"}),
    "policy_dane_ta": (set(), {"dane_not_authenticated", "dane_unusable_usage"}),
    "policy_dane_sha512": (set(), {"dane_bad_digest_length"}),
    "policy_dane_pkix": ({"dane_unusable_usage"}, set()),
    "policy_dane_bad_digest": ({"dane_bad_digest_length"}, set()),
    "policy_dane_tlsa_unsigned": ({"dane_not_authenticated"}, {"dane_mx_not_authenticated"}),
    "policy_dane_mx_unsigned": ({"dane_mx_not_authenticated"}, {"dane_not_authenticated"}),
    "policy_dane_unsigned": ({"dane_not_authenticated", "dane_mx_not_authenticated"}, set()),
    "policy_nolisting": ({"nolisting"}, set()),
    "policy_no_fallback_tier": ({"no_fallback_tier"}, set()),
    "policy_single_network": ({"single_network"}, set()),
}
# the MTA-STS cases: every policy host the HTTPS test server serves, and two that fail at the record
MTA_STS_CASES = [h["case"] for h in json.loads((REPO / "scripts" / "policy-hosts.json").read_text())["hosts"]]
MTA_STS_CASES += ["badid", "tworecords"]


def fail(problems, what):
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n" + "\n".join(problems[:25]), pytrace=False)


def by_case(testbed):
    rows = collections.defaultdict(list)
    for r in testbed.truth:
        rows[r["case"]].append(r)
    return rows


# ------------------------------------------------------------------ kdig through Unbound

def kdig(resolver, name, rtype, *opts):
    """(status, flags, [rdata]) of one question; TXT rdata joined (RFC 7208 §3.3)."""
    host, port = resolver.split(":")
    exe = shutil.which("kdig", path=SBIN_PATH)
    if not exe:
        unavailable("kdig not installed (Debian package knot-dnsutils)")
    out = subprocess.run([exe, f"@{host}", "-p", port, name, rtype, "+time=3", "+retry=1", *opts],
                         capture_output=True, text=True, timeout=60).stdout
    status = re.search(r"status: (\w+)", out)
    flags = re.search(r"^;; Flags: ([a-z ]*);", out, re.M)
    rdata = []
    for m in re.finditer(rf"^{re.escape(name)}\.\s+\d+\s+IN\s+{rtype}\s+(.*)$", out, re.M | re.I):
        data = m.group(1)
        if rtype == "TXT":
            data = "".join(re.sub(r"\\(.)", r"\1", s) for s in re.findall(r'"((?:[^"\\]|\\.)*)"', data))
        rdata.append(data)
    return (status.group(1) if status else f"no answer: {out[-300:]!r}",
            set(flags.group(1).split()) if flags else set(), rdata)


def txt(testbed, name):
    st, _, recs = kdig(testbed.resolver, name, "TXT")
    return st, recs


# ------------------------------------------------------------------ the truth's shape

def test_policy_truth_has_the_agreed_shape(testbed):
    bad = []
    for r in testbed.truth:
        p, d = r.get("policy", "missing"), r["domain"] or r["input"]
        if r["status"] != "ok":
            if p is not None:
                bad.append(f"{d}: status {r['status']} with a policy object")
            continue
        if not isinstance(p, dict) or set(p) != POLICY_KEYS:
            bad.append(f"{d}: policy keys {sorted(p) if isinstance(p, dict) else p}")
            continue
        for name, keys in (("spf", SPF_KEYS), ("dmarc", DMARC_KEYS), ("mta_sts", STS_KEYS), ("tlsrpt", {"status", "rua"})):
            if not keys <= set(p[name]) <= keys | OPTIONAL:
                bad.append(f"{d}: {name} keys {sorted(p[name])}")
        for k in p["dkim"]:
            if not {"selector", "status", "key_type", "key_bits", "testing"} <= set(k) or k["selector"] not in SELECTORS:
                bad.append(f"{d}: dkim element {k}")
        if [m["exchange"] for m in p["mx"]] != [m["exchange"] for m in r["mx"]]:
            bad.append(f"{d}: policy.mx is not aligned with mx")
        for m in p["mx"]:
            if (m["tlsa_authenticated"] is None) != (not m["tlsa"]):
                bad.append(f"{d}: {m['exchange']} tlsa_authenticated {m['tlsa_authenticated']} with {len(m['tlsa'])} TLSA")
        f = p["policy_findings"]
        if f != sorted(set(f)) or any(a != sorted(set(a)) or a == f for a in p["policy_findings_alt"]):
            bad.append(f"{d}: findings not sorted and unique, or an alternative equal to them")
        if set(p["spf"]["findings"]) - set(f):
            bad.append(f"{d}: spf findings {p['spf']['findings']} not in the policy findings")
        if set(f) & set(r["findings"]):
            bad.append(f"{d}: policy findings repeat scan-stage findings {set(f) & set(r['findings'])}")
    fail(bad, "truth rows with a wrongly shaped policy object")


def test_every_policy_case_is_there_and_shows_its_findings(testbed):
    rows = by_case(testbed)
    bad = [f"no rows of case {c}" for c in CASES if not rows[c]]
    for case, (must, must_not) in CASES.items():
        for r in rows[case]:
            f = set(r["policy"]["policy_findings"])
            if not must <= f or f & must_not:
                bad.append(f"{r['domain']} ({case}): findings {sorted(f)}; must have {sorted(must)}, "
                           f"not {sorted(must_not)}")
    good = rows["policy_good"]
    clean = [r for r in good if not set(r["policy"]["policy_findings"]) - {"single_network", "dmarc_policy_none"}]
    if len(good) < 150 or len(clean) < 0.9 * len(good):
        bad.append(f"{len(clean)} of {len(good)} policy_good rows without a finding other than single_network/p=none")
    # the shared provider includes: hundreds of domains, exactly 10 lookups through the big one
    big = [r for r in testbed.truth if r["policy"] and "_spf.mailhost-big.com" in r["policy"]["spf"]["includes"]]
    if len(big) < 30 or any(r["policy"]["spf"]["lookups"] < 10 for r in big):
        bad.append(f"{len(big)} domains include _spf.mailhost-big.com (want 30+, each at 10 lookups or more)")
    if sum(r["policy"]["spf"]["lookups"] == 10 and r["policy"]["spf"]["status"] == "ok"
           for r in big) < 20:
        bad.append("fewer than 20 domains at exactly 10 lookups")
    google = [r for r in testbed.truth if r["policy"] and "_spf.google.com" in r["policy"]["spf"]["includes"]]
    if len(google) < 200:
        bad.append(f"only {len(google)} domains include _spf.google.com")
    for case in ("policy_spf_too_many_void_lookups", "policy_spf_two_void_lookups"):
        want = 3 if "too_many" in case else 2
        bad += [f"{r['domain']}: void_lookups {r['policy']['spf']['void_lookups']}, want {want}"
                for r in rows[case] if r["policy"]["spf"]["void_lookups"] != want]
    # DMARC found by the tree walk at a parent; where RFC 7489's organisational domain differs, both
    for r in rows["policy_dmarc_at_parent"] + rows["policy_dmarc_tree_walk_differs"]:
        dm = r["policy"]["dmarc"]
        parent = r["domain"].split(".", 1)[1]
        if dm["found_at"] != f"_dmarc.{parent}" or dm["status"] != "ok":
            bad.append(f"{r['domain']}: DMARC found at {dm['found_at']}, want _dmarc.{parent}")
        differs = r["case"] == "policy_dmarc_tree_walk_differs"
        if differs != ("rfc7489" in dm) or (differs and dm["rfc7489"]["found_at"] != "_dmarc." + parent.split(".", 1)[1]):
            bad.append(f"{r['domain']}: rfc7489 expectation {dm.get('rfc7489')}")
    # MX topology findings come from every row's MX data, old rows included
    old = collections.Counter(f for r in testbed.truth if r["policy"] and not r["case"].startswith("policy_")
                              for f in r["policy"]["policy_findings"])
    for code in ("nolisting", "no_fallback_tier", "single_network", "spf_missing", "dmarc_missing"):
        if old[code] < 5:
            bad.append(f"only {old[code]} old rows with {code}")
    fail(bad, "problems with the policy cases")


def test_mta_sts_table_matches_the_truth(testbed):
    """DIR/mta-sts-cases.json, scripts/policy-hosts.json (what the HTTPS server serves) and the truth agree."""
    table = json.loads((testbed.dir / "mta-sts-cases.json").read_text())
    hosts = {h["case"]: h for h in json.loads((REPO / "scripts" / "policy-hosts.json").read_text())["hosts"]}
    bad = [] if sorted(table) == sorted(MTA_STS_CASES) else [f"cases {sorted(table)}"]
    truth = {r["domain"]: r for r in testbed.truth if r["domain"]}
    for case, spec in table.items():
        r = truth.get(f"{case}.policy.test")
        if r is None or r["case"] != f"policy_mta_sts_{case}":
            bad.append(f"{case}: no row, or the wrong case")
            continue
        if sorted((m["preference"], m["exchange"]) for m in r["mx"]) != sorted(map(tuple, spec["mx"])):
            bad.append(f"{case}: MX {[(m['preference'], m['exchange']) for m in r['mx']]} vs table {spec['mx']}")
        sts = r["policy"]["mta_sts"]
        if (spec["expected"]["status"], spec["expected"]["findings"]) != (
                sts["status"], [f for f in r["policy"]["policy_findings"] if f.startswith("mta_sts_")]):
            bad.append(f"{case}: table expects {spec['expected']}, truth {sts['status']}")
        h = hosts.get(case)
        if h is None:
            if sts["status"] != "record_invalid":
                bad.append(f"{case}: not served, and not an invalid record")
            continue
        if (h["fetch"] == "ok") != (sts["status"] in ("ok", "policy_invalid")):
            bad.append(f"{case}: the server's fetch gives {h['fetch']!r}, the truth {sts['status']}")
        if sts["status"] == "ok":
            lines = h["policy"]
            mode = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("mode:"))
            mx = [line.split(":", 1)[1].strip() for line in lines if line.startswith("mx:")]
            if (sts["mode"], sts["mx_patterns"]) != (mode, mx):
                bad.append(f"{case}: truth {sts['mode']} {sts['mx_patterns']}, served {mode} {mx}")
        st, _, addrs = kdig(testbed.resolver, f"mta-sts.{case}.policy.test", "A")
        if (st, addrs) != ("NOERROR", [h.get("address", "127.0.80.1")]):
            bad.append(f"{case}: mta-sts.{case}.policy.test A {st} {addrs}")
    good = truth["enforce.policy.test"]["policy"]["mta_sts"]
    if (good["status"], good["mode"], good["mx_coverage"], good["mx_uncovered"]) != ("ok", "enforce", 1.0, []):
        bad.append(f"enforce: {good}")
    wild = truth["wildcard.policy.test"]["policy"]["mta_sts"]
    if (wild["mx_uncovered"], wild["patterns_unused"]) != (["a.b.mx.wildcard.policy.test"], ["*.example.net"]):
        bad.append(f"wildcard: {wild}")
    fail(bad, "differences between mta-sts-cases.json, policy-hosts.json and the truth")


def test_world_is_deterministic(tmp_path):
    """Same seed, same world (zones, lists, truth, tables); the policy part included."""
    outs = []
    for i in range(2):
        out = tmp_path / f"w{i}"
        subprocess.run([sys.executable, str(REPO / "scripts" / "gen-world.py"), "--domains", "2000", "--seed", "5",
                        "--out", str(out)], check=True, capture_output=True, timeout=300)
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert any(str(f) == "zones/policy.test.zone" for f in files)
    differ = [str(f) for f in files if (outs[0] / f).read_bytes() != (outs[1] / f).read_bytes()]
    assert not differ, f"the same seed gave different files: {differ}"


# ------------------------------------------------------------------ the test bed answers as the truth says

def sample(testbed, per_case=3):
    """Every policy row but the typical ones (of those, 40), and 40 old rows."""
    rows = by_case(testbed)
    out = []
    for case, rs in sorted(rows.items()):
        rs = [r for r in rs if r["status"] == "ok"]
        if case == "policy_good":
            out += rs[:40]
        elif case.startswith("policy_"):
            out += rs
        elif case in ("google", "null_mx", "hosting", "domain_cname", "mx_localhost"):
            out += rs[:per_case * 3]
    return out


def test_txt_records_answer_as_the_truth_says(testbed):
    bad = []
    for r in sample(testbed):
        d, p = r["domain"], r["policy"]
        st, recs = txt(testbed, d)
        spf = [t for t in recs if t.lower().startswith("v=spf1") and (len(t) == 6 or t[6] == " ")]
        want = {"none": 0, "ok": 1}.get(p["spf"]["status"])
        if p["spf"]["status"] == "temperror" or "spf_multiple_records" in p["spf"]["findings"]:
            want = 1 if p["spf"]["status"] == "temperror" else 2
        if want is not None and (st, len(spf)) != ("NOERROR", want):
            bad.append(f"{d}: TXT {st} with {len(spf)} SPF records, truth {p['spf']['status']}")
        if p["spf"]["includes"] and spf and p["spf"]["includes"][0] not in spf[0]:
            bad.append(f"{d}: SPF {spf[0]!r} lacks include {p['spf']['includes'][0]}")
        dm = p["dmarc"]
        if dm["found_at"]:
            st, recs = txt(testbed, dm["found_at"])
            n = sum("v=DMARC1" in t for t in recs)
            if st != "NOERROR" or n != (2 if "dmarc_multiple_records" in p["policy_findings"] else 1):
                bad.append(f"{d}: {dm['found_at']} TXT {st} with {n} DMARC records")
            if dm["status"] == "ok" and f"p={dm['p']}" not in recs[0]:
                bad.append(f"{d}: {recs[0]!r} is not p={dm['p']}")
        elif dm["status"] == "none":
            st, recs = txt(testbed, f"_dmarc.{d}")
            if any("v=DMARC1" in t for t in recs):
                bad.append(f"{d}: _dmarc TXT {recs}, truth none")
        for k in p["dkim"]:
            st, recs = txt(testbed, f"{k['selector']}._domainkey.{d}")
            if st != "NOERROR" or not recs:
                bad.append(f"{d}: DKIM selector {k['selector']}: {st}")
            elif k["status"] == "ok" and k["key_type"] == "rsa" and len(recs[0]) < (380 if k["key_bits"] == 2048 else 200):
                bad.append(f"{d}: DKIM {k['selector']} key too short for {k['key_bits']} bits")
        for what, name, n_want in (("mta_sts", f"_mta-sts.{d}", None), ("tlsrpt", f"_smtp._tls.{d}", None)):
            status = p[what]["status"]
            st, recs = txt(testbed, name)
            prefix = "v=STSv1" if what == "mta_sts" else "v=TLSRPTv1"
            n = sum(t.startswith(prefix) for t in recs)
            if (n == 0) != (status == "none"):
                bad.append(f"{d}: {name} has {n} records, truth {status}")
        if p["mta_sts"]["status"] not in ("none",):
            st, _, addrs = kdig(testbed.resolver, f"mta-sts.{d}", "A")
            if st != "NOERROR" or len(addrs) != 1 or not addrs[0].startswith("127.0.80."):
                bad.append(f"{d}: mta-sts.{d} A {st} {addrs}")
    fail(bad, "answers differ from the truth")


def test_tlsa_and_ad_bits_answer_as_the_truth_says(testbed):
    bad, signed_seen, unsigned_seen = [], 0, 0
    for r in sample(testbed):
        d, p = r["domain"], r["policy"]
        st, flags, _ = kdig(testbed.resolver, d, "MX", "+adflag")
        ad = "ad" in flags
        if st != "NOERROR" or ad != p["mx_authenticated"]:
            bad.append(f"{d}: MX {st} AD {ad}, truth mx_authenticated {p['mx_authenticated']}")
        signed = d.endswith(SIGNED)
        if ad != signed:
            bad.append(f"{d}: MX AD {ad} for a name {'in' if signed else 'outside'} the signed zones")
        signed_seen += signed
        unsigned_seen += not signed
        for m in p["mx"]:
            if not m["tlsa"]:
                continue
            name = f"_25._tcp.{m['exchange']}"
            st, flags, recs = kdig(testbed.resolver, name, "TLSA", "+adflag")
            got = sorted(tuple(x.split(None, 3)) for x in recs)
            want = sorted((str(t["usage"]), str(t["selector"]), str(t["matching"]), t["data"].upper()) for t in m["tlsa"])
            got = [(a, b, c, e.replace(" ", "").upper()) for a, b, c, e in got]
            if st != "NOERROR" or got != want or ("ad" in flags) != m["tlsa_authenticated"]:
                bad.append(f"{d}: {name} {st} AD {'ad' in flags} {got}, truth {want} AD {m['tlsa_authenticated']}")
    if signed_seen < 20 or unsigned_seen < 20:
        bad.append(f"only {signed_seen} signed and {unsigned_seen} unsigned domains checked")
    # NXDOMAIN from a signed zone is authenticated too (NSEC), from an unsigned one not
    for name, want in (("nothing-here.policy.test", True), ("nothing-here.dane.test", True),
                       ("nothing-here-at-all.com", False)):
        st, flags, _ = kdig(testbed.resolver, name, "A", "+adflag")
        if st != "NXDOMAIN" or ("ad" in flags) != want:
            bad.append(f"{name}: {st} AD {'ad' in flags}, want NXDOMAIN AD {want}")
    fail(bad, "TLSA or AD answers differ from the truth")


def test_long_txt_is_truncated_over_udp_and_whole_over_tcp(testbed):
    rows = by_case(testbed)["policy_spf_long_record"]
    assert rows, "no policy_spf_long_record row"
    d = rows[0]["domain"]
    st, flags, recs = kdig(testbed.resolver, d, "TXT", "+bufsize=1232", "+ignore")
    assert st == "NOERROR" and "tc" in flags and not recs, f"UDP: {st} {flags} {len(recs)} records, want TC"
    st, flags, recs = kdig(testbed.resolver, d, "TXT", "+tcp")
    spf = [t for t in recs if t.startswith("v=spf1 ")]
    assert st == "NOERROR" and "tc" not in flags and len(spf) == 1, f"TCP: {st} {flags} {recs}"
    assert len(spf[0]) > 1232 and spf[0].endswith(" -all"), f"the record is {len(spf[0])} bytes"
    assert rows[0]["policy"]["spf"]["status"] == "ok"


def test_untuned_unbound_validates_too(untuned_testbed):
    for name, rtype, want in (("enforce.policy.test", "MX", True), ("_25._tcp.mx1.shared.dane.test", "TLSA", True),
                              ("reportco.net", "MX", False)):
        st, flags, recs = kdig(untuned_testbed.resolver, name, rtype, "+adflag")
        assert st == "NOERROR" and recs and ("ad" in flags) == want, f"{name} {rtype}: {st} {flags} {recs}"
