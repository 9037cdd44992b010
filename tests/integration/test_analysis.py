"""Checks of the world itself for the analysis stage (no scanner needed): the truth's analysis
columns follow the agreed rules, its org domains agree with the Public Suffix List, every analysis
case shows what it was built for, and the test bed answers as the truth assumes (dangling
registrable domains are NXDOMAIN, the contrast ones exist). The scanner's output is compared
with this truth in test_scan.py (the tests named *_analysis).
"""
import collections
import ipaddress
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, SBIN_PATH, unavailable

# The agreed providers (a subset of data/providers.toml): id -> (category, suffixes). Written out
# again here, not imported from the generator, so that a slip in one shows against the other.
AGREED = {
    "google": ("mailbox", "aspmx.l.google.com googlemail.com google.com"),
    "microsoft": ("mailbox", "mail.protection.outlook.com mx.microsoft"),
    "zoho": ("mailbox", "zoho.com zoho.eu"),
    "yandex": ("mailbox", "yandex.net"),
    "fastmail": ("mailbox", "messagingengine.com"),
    "proofpoint": ("gateway", "pphosted.com ppe-hosted.com"),
    "mimecast": ("gateway", "mimecast.com"),
    "cisco": ("gateway", "iphmx.com"),
    "barracuda": ("gateway", "barracudanetworks.com"),
    "broadcom": ("gateway", "messagelabs.com"),
    "ovh": ("hosting", "ovh.net"),
    "godaddy": ("hosting", "secureserver.net"),
    "ionos": ("hosting", "kundenserver.de"),
    "namecheap": ("hosting", "registrar-servers.com"),
    "cloudflare": ("forwarding", "mx.cloudflare.net"),
    "improvmx": ("forwarding", "improvmx.com"),
    "pobox": ("forwarding", "pobox.com"),
}
CATEGORY = {p: c for p, (c, _) in AGREED.items()}
PSL_FILE = Path("/usr/share/publicsuffix/public_suffix_list.dat")  # Debian package publicsuffix
# rules newer than Debian's copy that this world depends on (the scanner embeds a current list)
PSL_NEWER = {"cloudflare.net"}


def match(host):
    best = None
    for pid, (_, sfxs) in AGREED.items():
        for s in sfxs.split():
            if (host == s or host.endswith("." + s)) and (best is None or len(s) > len(best[1])):
                best = (pid, s)
    return best[0] if best else None


def is_ip(name):
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def own_org(domain):
    """The registrable domain of a listed domain: itself, except for the policy world's subdomains
    (mail.<org>, <case>.policy.test; test_analysis_org_domains_agree_with_public_suffix_list checks
    this against the Public Suffix List)."""
    return ".".join(domain.split(".")[-3 if domain.endswith(".co.uk") else -2:])


def ok_rows(testbed):
    return [r for r in testbed.truth if r["status"] == "ok"]


def fail(problems, what):
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n" + "\n".join(problems[:20]), pytrace=False)


# ------------------------------------------------------------------ the truth follows the rules

def test_analysis_truth_follows_the_rules(testbed):
    bad = []
    for r in testbed.truth:
        d, mx = r["domain"], r["mx"]
        if r["status"] != "ok":
            # unknown is null: a failed (or unmade) MX lookup leaves self_hosted null; NXDOMAIN is an answer
            known = False if r["status"] == "nxdomain" else None
            if (r["provider"], r["provider_category"], r["providers"], r["self_hosted"]) != (None, None, [], known):
                bad.append(f"{d or r['input']}: status {r['status']} with analysis values")
            if (r["null_mx"], r["implicit_mx"]) != (known, known):
                bad.append(f"{d or r['input']}: status {r['status']} with null_mx/implicit_mx "
                           f"{r['null_mx']}/{r['implicit_mx']}, want {known}")
            continue
        for m in mx:
            ex = m["exchange"]
            want = None if ex == "." else match(ex)
            if (m["provider"], m["category"]) != (want, CATEGORY.get(want)):
                bad.append(f"{d}: {ex} provider {m['provider']}/{m['category']}, want {want}")
        tier1 = collections.Counter(m["provider"] for m in mx if m["tier"] == 1 and m["provider"])
        provider = sorted(tier1, key=lambda p: (-tier1[p], p))[0] if tier1 else None
        providers = []
        for m in mx:
            if m["provider"] and m["provider"] not in providers:
                providers.append(m["provider"])
        real = [m for m in mx if m["exchange"] != "."]
        self_hosted = bool(real) and all(m["org_domain"] == own_org(d) for m in real)
        got = (r["provider"], r["provider_category"], r["providers"], r["self_hosted"])
        want = (provider, CATEGORY.get(provider), providers, self_hosted)
        if got != want:
            bad.append(f"{d}: provider, category, providers, self_hosted {got}, want {want}")
        f, fm = set(r["findings"]), set(r["findings_mx_only"])
        rules = {
            "single_mx": len({m["exchange"] for m in real}) == 1,
            "mixed_providers": len({m["provider"] for m in mx if m["category"] == "mailbox"}) >= 2,
            "gateway_bypass": CATEGORY.get(provider) == "gateway"
            and any(m["tier"] > 1 and m["category"] != "gateway" for m in real),
        }
        for code, expected in rules.items():
            if (code in f, code in fm) != (expected, expected):
                bad.append(f"{d}: {code} in findings {code in f}, in findings_mx_only {code in fm}, want {expected}")
        single_address = bool(real) and len({a for m in real for a in m["ipv4"] + m["ipv6"]}) == 1
        if ("single_address" in f) != single_address or "single_address" in fm:
            bad.append(f"{d}: single_address {'single_address' in f}, want {single_address} (never in mx-only)")
        if "dangling_mx" in fm or ("dangling_mx" in f and not any(m["address_status"] == "nxdomain" for m in mx)):
            bad.append(f"{d}: dangling_mx without an NXDOMAIN exchange, or in mx-only findings")
        if r["findings"] != sorted(f) or r["findings_mx_only"] != sorted(fm):
            bad.append(f"{d}: findings not sorted and unique")
    fail(bad, "truth rows break the analysis rules")


def psl_rules():
    rules, exceptions = set(), set()
    for line in PSL_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        rule = line.split()[0].encode("idna").decode("ascii") if not line.isascii() else line.split()[0]
        (exceptions.add(rule[1:]) if rule.startswith("!") else rules.add(rule.lower()))
    return rules | PSL_NEWER, exceptions


def registrable(name, rules, exceptions):
    """The PSL algorithm (ICANN and private sections; an unlisted TLD is a suffix: rule '*')."""
    labels = name.split(".")
    suffix_len = 1
    for i in range(len(labels)):
        cand = ".".join(labels[i:])
        wild = ".".join(["*"] + labels[i + 1:])
        if cand in exceptions:
            suffix_len = len(labels) - i - 1
            break
        if cand in rules or wild in rules:
            suffix_len = len(labels) - i
            break
    return ".".join(labels[-suffix_len - 1:]) if len(labels) > suffix_len else None


def test_analysis_org_domains_agree_with_public_suffix_list(testbed):
    if not PSL_FILE.is_file():
        unavailable(f"no {PSL_FILE} (Debian package publicsuffix; .ci/run installs it)")
    rules, exceptions = psl_rules()
    bad = []
    for r in ok_rows(testbed):
        org = registrable(r["domain"], rules, exceptions)
        if org != own_org(r["domain"]) or (org != r["domain"] and not r["case"].startswith("policy_")):
            bad.append(f"{r['domain']}: the listed domain's registrable domain is {org}")
        for m in r["mx"]:
            ex = m["exchange"]
            want = None if ex in (".", "localhost") or is_ip(ex) else registrable(ex, rules, exceptions)
            if m["org_domain"] != want:
                bad.append(f"{r['domain']}: {ex} org_domain {m['org_domain']}, the PSL says {want}")
    fail(sorted(set(bad)), "org domains differ from the Public Suffix List")


def toml_match(host, entries):
    """(id, category, suffix) by data/providers.toml's rule: label boundary, '*' is one label, longest wins."""
    labels, best = host.split("."), None
    for e in entries:
        for sfx in e["suffixes"]:
            s = sfx.lower().split(".")
            if len(s) <= len(labels) and all(a == "*" or a == b for a, b in zip(s, labels[-len(s):])):
                if best is None or (len(s), len(sfx)) > best[0]:
                    best = ((len(s), len(sfx)), (e["id"], e["category"], sfx))
    return best[1] if best else (None, None, None)


def test_analysis_world_agrees_with_providers_toml(testbed):
    """The world relies on data/providers.toml holding the agreed providers, and on no other entry
    matching a host the truth gives no provider: a new pattern that does shows here first."""
    path = REPO / "data" / "providers.toml"
    assert path.is_file(), f"no {path}: it is part of the repository"
    entries = tomllib.loads(path.read_text(encoding="utf-8"))["provider"]
    bad = []
    for pid, (cat, sfxs) in AGREED.items():
        e = [e for e in entries if e["id"] == pid]
        if not e or e[0]["category"] != cat or not set(sfxs.split()) <= {x.lower() for x in e[0]["suffixes"]}:
            bad.append(f"providers.toml lacks {pid} ({cat}: {sfxs})")
    seen = set()
    for r in ok_rows(testbed):
        for m in r["mx"]:
            ex = m["exchange"]
            if ex in seen or ex == "." or is_ip(ex):
                continue
            seen.add(ex)
            pid, cat, sfx = toml_match(ex, entries)
            if (pid, cat) != (m["provider"], m["category"]):
                bad.append(f"{ex}: providers.toml says {pid}/{cat} (suffix {sfx}), the truth {m['provider']}/{m['category']}")
    fail(bad, "disagreements between data/providers.toml and the world")


# ------------------------------------------------------------------ the cases show what they were built for

CASE_RULES = {
    "dangling": lambda r: "dangling_mx" in r["findings"] and "mx_unresolvable" in r["findings"],
    "dangling_contrast": lambda r: "mx_unresolvable" in r["findings"] and "dangling_mx" not in r["findings"],
    "mixed_mailbox_tier1": lambda r: "mixed_providers" in r["findings"],
    "mixed_mailbox_split": lambda r: "mixed_providers" in r["findings"]
    and len({m["provider"] for m in r["mx"] if m["tier"] == 1}) == 1,
    "gateway_bypass": lambda r: "gateway_bypass" in r["findings"] and r["provider_category"] == "gateway",
    "gateway_ok": lambda r: r["provider_category"] == "gateway" and "gateway_bypass" not in r["findings"],
    "gateway_shared_tier1": lambda r: r["provider_category"] == "gateway" and "gateway_bypass" not in r["findings"],
    "tier1_unknown": lambda r: r["provider"] is None and r["providers"],
    "tie_tier1": lambda r: r["provider"] is not None,
    "single_address": lambda r: "single_address" in r["findings"] and "single_mx" not in r["findings"],
    "lookalike": lambda r: r["providers"] == [] and all(m["org_domain"] for m in r["mx"]),
    "cname_self_hosted": lambda r: r["domain_cname"] and "domain_is_cname" in r["findings"],
}


def test_analysis_cases_show_their_findings(testbed):
    by_case = collections.defaultdict(list)
    for r in testbed.truth:
        by_case[r["case"]].append(r)
    bad = [f"no rows of case {c}" for c in CASE_RULES if not by_case[c]]
    bad += [f"{r['domain']} (case {c}) does not show it" for c, rule in CASE_RULES.items()
            for r in by_case[c] if not rule(r)]
    if len(by_case["dangling"]) < 20:
        bad.append(f"only {len(by_case['dangling'])} dangling domains")
    # tier-1 ties are decided by id, not by the order of the mx list
    tie = by_case["tie_tier1"]
    if not any(r["provider"] != r["providers"][0] for r in tie) or not any(r["provider"] == r["providers"][0] for r in tie):
        bad.append("tie_tier1 never (or always) picks a provider other than the first in the mx list")
    if not {True, False} <= {r["self_hosted"] for r in by_case["cname_self_hosted"]}:
        bad.append("cname_self_hosted lacks a self-hosted or a not self-hosted alias")
    rows = ok_rows(testbed)
    per_category = collections.Counter(r["provider_category"] for r in rows)
    per_provider = collections.Counter(p for r in rows for p in r["providers"])
    for c in ("mailbox", "gateway", "hosting", "forwarding"):
        if per_category[c] < 30:
            bad.append(f"only {per_category[c]} domains with provider_category {c}")
    for p in AGREED:
        if per_provider[p] < 10:
            bad.append(f"only {per_provider[p]} domains use {p}")
    findings = collections.Counter(f for r in rows for f in r["findings"])
    for code in ("mixed_providers", "gateway_bypass", "dangling_mx", "single_mx", "single_address"):
        if findings[code] < 20:
            bad.append(f"only {findings[code]} domains with {code}")
    fail(bad, "problems with the analysis cases")


# ------------------------------------------------------------------ the test bed answers as the truth assumes

def dig_status(testbed, name, rtype):
    host, port = testbed.resolver.split(":")
    kdig = shutil.which("kdig", path=SBIN_PATH)
    out = subprocess.run([kdig, f"@{host}", "-p", port, name, rtype, "+time=2", "+retry=1"],
                         capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"status: (\w+)", out)
    answers = re.findall(rf"^{re.escape(name)}\.\s+\d+\s+IN\s+{rtype}\s+(\S+)", out, re.M)
    return (m.group(1) if m else f"no answer: {out[-200:]!r}"), sorted(answers)


def test_analysis_world_answers_as_the_truth_says(testbed):
    bad = []
    checked = collections.Counter()
    for r in ok_rows(testbed):
        c = r["case"]
        if c not in ("dangling", "dangling_contrast", "lookalike", "mixed_mailbox_tier1", "tie_tier1"):
            continue
        if checked[c] >= 12:
            continue
        checked[c] += 1
        for m in r["mx"]:
            ex, org = m["exchange"], m["org_domain"]
            if m["address_status"] == "nxdomain":
                st, _ = dig_status(testbed, ex, "A")
                if st != "NXDOMAIN":
                    bad.append(f"{r['domain']}: {ex} A: {st}, truth says NXDOMAIN")
                st, _ = dig_status(testbed, org, "SOA")
                dangling = "dangling_mx" in r["findings"]
                if (st == "NXDOMAIN") != dangling or st not in ("NXDOMAIN", "NOERROR"):
                    bad.append(f"{r['domain']}: {ex}'s registrable domain {org} SOA: {st}, dangling_mx {dangling}")
            elif m["address_status"] == "ok" and m["ipv4"]:
                st, addrs = dig_status(testbed, ex, "A")
                if (st, addrs) != ("NOERROR", m["ipv4"]):
                    bad.append(f"{r['domain']}: {ex} A: {st} {addrs}, truth says {m['ipv4']}")
    if checked["dangling"] < 10 or checked["dangling_contrast"] < 10:
        bad.append(f"too few dangling cases checked: {dict(checked)}")
    fail(bad, "answers differ from the truth")
