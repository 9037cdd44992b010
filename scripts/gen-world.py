#!/usr/bin/env python3
"""Generate a synthetic DNS world for mxscan's test bed, with the expected scan result.

usage: gen-world.py --domains N [--seed S] --out DIR

Writes into DIR:
  zones/<tld>.zone    one zone file per TLD served by Knot (every name under the TLD, no delegations)
  knot-zones.txt      the TLD zones, one per line
  timeout-zones.txt   zones Unbound must send to a dead port (their names time out)
  probe.txt           "name TYPE answer": a name the test bed asks to know the servers are up
  input.csv           the list to scan (Tranco style, with a BOM, a header, CRLF, comments,
                      blank lines, uppercase, trailing dots, IDN, duplicates and invalid lines)
  input.txt           a plain one-name-per-line list of ~200 of the same domains
  truth.jsonl         one expected output row per row the scan of input.csv must write
  world.json          the seed, the number of rows per case, per finding and per provider
  signed-zones.txt    the zones Knot signs (DNSSEC; scripts/testbed makes their keys Unbound's trust anchors)
  mta-sts-cases.json  per MTA-STS case (<case>.policy.test): the record, MX, policy body, how the HTTPS
                      test server at 127.0.80.1 must answer, and the expected status and findings

Every truth row with status ok also has a `policy` object, the expected policy-stage columns
(gen_policy.py says how each is decided):
  spf       {status, all, lookups, void_lookups, includes, findings}
  dmarc     {status, found_at, p, sp, np, pct, adkim, aspf, t, psd, rua, rua_unauthorized}
            (+ rfc7489 {found_at, p} where RFC 7489's organisational-domain fallback finds another record)
  mta_sts   {status, id, mode, max_age, mx_patterns, mx_uncovered, patterns_unused, mx_coverage}
  tlsrpt    {status, rua}
  dkim      [{selector, status, key_type, key_bits, testing}] for the selectors of gen_policy.SELECTORS
            that have a record, by selector
  mx_authenticated   AD on the MX answer
  mx        [{exchange, tlsa: [{usage, selector, matching, data (hex)}], tlsa_authenticated}], one per
            element of the row's mx, in its order
  policy_findings      the policy-stage finding codes, sorted
  policy_findings_alt  other finding lists a correct scanner may give (where a rule reads two ways)
A struct may also have `alt` ({field: [other accepted values]}) and `unchecked` ([fields not predicted]).
Rows of other statuses (and invalid lines) have policy null.

The expected rows follow the semantics agreed with the scanner (see tests/integration): the
truth is computed from the records written here by a small model of what Unbound answers, and
the findings by the rules of docs/findings.md, not labelled by hand. The analysis
columns (providers, org domains, self_hosted) use PROVIDERS below, a subset of the project's
data/providers.toml, and a Public Suffix List reduced to the suffixes this world uses.
Deterministic for a given seed and N. Standard library only.
"""
import argparse
import collections
import functools
import gc
import ipaddress
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_policy  # noqa: E402  (the mail-policy part of the world)

LISTED_TLDS = ["com", "net", "org", "de", "uk", "io", "fr", "nl", "es"]  # where listed domains live
TLD_WEIGHTS = [45, 8, 8, 10, 6, 4, 5, 5, 4]
SERVED_TLDS = LISTED_TLDS + ["eu", "microsoft"]  # Knot serves these (eu: zoho.eu; microsoft: mx.microsoft)
IDN_TLDS = ["com", "de", "fr", "es"]
UNSERVED_TLDS = ["xyz", "top", "shop"]  # Knot answers REFUSED -> Unbound SERVFAIL
DOMAIN_TIMEOUT_ZONES = ["lame-dns-1.com", "lame-dns-2.org", "lame-dns-3.net"]
MX_TIMEOUT_ZONE = "lame-mx.net"
TIMEOUT_ZONES = DOMAIN_TIMEOUT_ZONES + [MX_TIMEOUT_ZONE]

FAILURES = ("servfail", "refused", "timeout")
# The providers this world uses: id -> (category, hostname suffixes). All are in the project's
# data/providers.toml with these ids and categories (it has more; this world uses no host under them).
PROVIDERS = {
    "google": ("mailbox", ["aspmx.l.google.com", "googlemail.com", "google.com"]),
    "microsoft": ("mailbox", ["mail.protection.outlook.com", "mx.microsoft"]),
    "zoho": ("mailbox", ["zoho.com", "zoho.eu"]),
    "yandex": ("mailbox", ["yandex.net"]),
    "fastmail": ("mailbox", ["messagingengine.com"]),
    "proofpoint": ("gateway", ["pphosted.com", "ppe-hosted.com"]),
    "mimecast": ("gateway", ["mimecast.com"]),
    "cisco": ("gateway", ["iphmx.com"]),
    "barracuda": ("gateway", ["barracudanetworks.com"]),
    "broadcom": ("gateway", ["messagelabs.com"]),
    "ovh": ("hosting", ["ovh.net"]),
    "godaddy": ("hosting", ["secureserver.net"]),
    "ionos": ("hosting", ["kundenserver.de"]),
    "namecheap": ("hosting", ["registrar-servers.com"]),
    "cloudflare": ("forwarding", ["mx.cloudflare.net"]),
    "improvmx": ("forwarding", ["improvmx.com"]),
    "pobox": ("forwarding", ["pobox.com"]),
}
SUFFIXES = sorted(((sfx, pid) for pid, (_, sfxs) in PROVIDERS.items() for sfx in sfxs), key=lambda x: -len(x[0]))
# Public suffixes of more than one label that names in this world end with (every other name's
# registrable domain is its last two labels: the world has no other multi-label public suffix).
# cloudflare.net is in the list's private section (in current copies, e.g. the one the psl crate
# embeds; Debian's older copy lacks it): the org domain of route1.mx.cloudflare.net is mx.cloudflare.net.
MULTI_LABEL_SUFFIXES = ("co.uk", "cloudflare.net")
# Names that look like a provider's but are not on a label boundary (or are under another domain)
LOOKALIKES = ["mx.google.com.evil-example.com", "aspmx.l.google.com.evil-example.com", "mx1.mypphosted.com",
              "mx.notmimecast.com", "aspmx-l-google.com", "mail-protection-outlook.com",
              "mx.outlook.com.phish-example.net", "smtp.iphmx.com.evil-example.org", "googlemail.com.example-mail.de",
              "mx1.improvmx.com-relay.net", "eu-smtp-inbound-1.mimecast.com.mailfilter-example.nl"]
PRIVATE_NETS = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "0.0.0.0/8",
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
    "fe80::/10", "fc00::/7", "2001:db8::/32", "::/128")]
SYLLABLES = ("ka lo mi ra te su no vi be da ge fo lu pa ri so ta ve zu an el or ix um "
             "bar ken lin mor pet sal tor win").split()
IDN_SWAPS = {"u": "ü", "o": "ö", "a": "ä", "e": "é", "n": "ñ"}


# ---------------------------------------------------------------- the records and a model resolver

class World:
    def __init__(self, rng):
        self.rng = rng
        self.nodes = {}          # owner (lowercase, no dot) -> {"A": [...], "AAAA": [...], "MX": [...], ...}
        self.names = set()       # every owner and label-boundary ancestor (empty non-terminals exist)
        self.used = set()        # every second-level name handed out, to keep names unique
        self.ip_counter = 0
        self.exchanges = {}      # exchange -> its resolution, filled once every record is in

    # records ----------------------------------------------------------------
    def add(self, owner, rtype, value):
        owner = owner.lower()
        values = self.nodes.setdefault(owner, {}).setdefault(rtype, [])
        if value in values:  # an RRset is a set
            return
        values.append(value)
        labels = owner.split(".")
        for i in range(len(labels)):
            self.names.add(".".join(labels[i:]))

    def has(self, owner):
        return owner.lower() in self.nodes

    def host(self, name, v4=1, v6=0):
        """An address-bearing host with fresh public addresses (idempotent)."""
        if not self.has(name):
            for _ in range(v4):
                self.add(name, "A", self.public_v4())
            for _ in range(v6):
                self.add(name, "AAAA", self.public_v6())
        return name

    def public_v4(self):
        self.ip_counter += 1
        n = self.ip_counter
        return f"45.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"

    def public_v6(self):
        self.ip_counter += 1
        n = self.ip_counter
        return f"2a01:4f8:{(n >> 16) & 0xffff:x}:{n & 0xffff:x}::25"

    def word(self, lo=2, hi=3):
        return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(lo, hi)))

    def new_name(self, tld, prefix=""):
        """A fresh registrable-looking name under tld (co.uk for uk). Never reused."""
        suffix = "co.uk" if tld == "uk" else tld
        while True:
            label = prefix + self.word() + (str(self.rng.randint(1, 9999)) if self.rng.random() < 0.7 else "")
            name = f"{label}.{suffix}"
            if name not in self.used and name not in self.names:
                self.used.add(name)
                return name

    # the model of what Unbound answers ---------------------------------------
    def lookup(self, name, rtype):
        """(status, values, cname) as seen through Unbound; cname is the final alias target."""
        cname = None
        for _ in range(16):
            if name == "localhost":   # an RFC 6761 local zone of Unbound
                return "ok", {"A": ["127.0.0.1"], "AAAA": ["::1"]}.get(rtype, []), cname
            if name.endswith(".localhost"):
                return "nxdomain", [], cname
            if any(name == z or name.endswith("." + z) for z in TIMEOUT_ZONES):
                return "timeout", [], cname
            tld = name.rsplit(".", 1)[-1]
            if tld not in SERVED_TLDS and tld not in gen_policy.EXTRA_TLDS:
                return "servfail", [], cname
            node = self.nodes.get(name)
            if node is None:
                return ("ok" if name in self.names else "nxdomain"), [], cname
            if "CNAME" in node:
                name = cname = node["CNAME"][0]
                continue
            return "ok", list(node.get(rtype, [])), cname
        raise ValueError(f"CNAME loop at {name}")


# ---------------------------------------------------------------- expected rows

@functools.cache
def is_ip_literal(name):
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


@functools.cache
def is_private(addr):
    ip = ipaddress.ip_address(addr)
    return any(ip.version == n.version and ip in n for n in PRIVATE_NETS)


@functools.cache
def is_loopback(addr):
    return ipaddress.ip_address(addr).is_loopback


@functools.cache
def is_invalid_hostname(name):
    if len(name) > 253:
        return True
    for label in name.split("."):
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            return True
        if any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in label):
            return True
    return False


def is_relative(exchange, domain):
    dd = f"{domain}.{domain}"
    return exchange == dd or exchange.endswith("." + dd)


def resolve_exchange(world, exchange):
    """The address part of an mx element (shared exchanges are resolved once, like the scanner does)."""
    cached = world.exchanges.get(exchange)
    if cached is None:
        cached = world.exchanges[exchange] = resolve_exchange_uncached(world, exchange)
    return cached


def resolve_exchange_uncached(world, exchange):
    if exchange == "." or is_ip_literal(exchange):
        return {"ipv4": [], "ipv6": [], "cname": None, "address_status": "skipped", "address_status_alt": []}
    sa, v4, ca = world.lookup(exchange, "A")
    s6, v6, c6 = world.lookup(exchange, "AAAA")
    v4 = sorted(v4)
    v6 = sorted(ipaddress.IPv6Address(a).compressed for a in v6)
    if v4 or v6:
        status = "ok"
    elif "nxdomain" in (sa, s6):
        status = "nxdomain"
    elif sa in FAILURES or s6 in FAILURES:
        status = sa if sa in FAILURES else s6
    else:
        status = "nodata"
    alt = {"timeout": ["servfail"], "servfail": ["timeout"]}.get(status, [])
    return {"ipv4": v4, "ipv6": v6, "cname": ca or c6, "address_status": status, "address_status_alt": alt}


def mx_findings(domain, mx, mx_only):
    f = set()
    exchanges = [m["exchange"] for m in mx]
    nulls = [m for m in mx if m["exchange"] == "."]
    others = [m for m in mx if m["exchange"] != "."]
    if nulls and others:
        f.add("null_mx_with_other_mx")
    if any(m["preference"] != 0 for m in nulls):
        f.add("null_mx_nonzero_preference")
    if any(exchanges.count(e) > 1 for e in exchanges):
        f.add("mx_duplicate")
    for m in others:
        ex = m["exchange"]
        addrs = m["ipv4"] + m["ipv6"]
        if is_ip_literal(ex):
            f.add("mx_is_ip_literal")
        if is_invalid_hostname(ex):
            f.add("mx_invalid_hostname")
        if is_relative(ex, domain):
            f.add("mx_relative_name")
        if ex == "localhost" or (not mx_only and m["address_status"] == "ok" and all(map(is_loopback, addrs))):
            f.add("mx_localhost")
        if mx_only:
            continue
        if m["cname"]:
            f.add("mx_is_cname")
        st = m["address_status"]
        if st == "nxdomain":
            f.add("mx_unresolvable")
        elif st == "nodata":
            f.add("mx_no_address")
        elif st in FAILURES:
            f.add("mx_lookup_failed")
        if any(map(is_private, addrs)):
            f.add("mx_private_address")
    if others and not mx_only:
        usable = any(not is_loopback(a) and not is_private(a) for m in others for a in m["ipv4"] + m["ipv6"])
        failed = any(m["address_status"] in FAILURES for m in others)
        if not usable and not failed:
            f.add("all_mx_unusable")
    return f


@functools.cache
def provider_of(host):
    """(provider id, category) of an exchange: the longest matching suffix on a label boundary."""
    for sfx, pid in SUFFIXES:  # longest first
        if host == sfx or host.endswith("." + sfx):
            return pid, PROVIDERS[pid][0]
    return None, None


@functools.cache
def org_domain(name):
    """Registrable domain (PSL) of a name; None for the null MX, IP literals and localhost."""
    if name == "." or name == "localhost" or is_ip_literal(name):
        return None
    labels = name.split(".")
    n = 3 if any(name.endswith("." + s) for s in MULTI_LABEL_SUFFIXES) else 2
    return ".".join(labels[-n:]) if len(labels) >= n else None


NO_ANALYSIS = {"provider": None, "provider_category": None, "providers": [], "self_hosted": False}


def analyse(world, domain, row):
    """Fill the analysis columns of an ok row (mx elements too); return (findings, mx-only findings)."""
    mx = row["mx"]
    for m in mx:
        ex = m["exchange"]
        m["provider"], m["category"] = (None, None) if ex == "." else provider_of(ex)
        m["org_domain"] = org_domain(ex)
    tier1 = collections.Counter(m["provider"] for m in mx if m["tier"] == 1 and m["provider"])
    provider = min(tier1, key=lambda p: (-tier1[p], p)) if tier1 else None
    real = [m for m in mx if m["exchange"] != "."]
    own = org_domain(domain)
    row.update(provider=provider, provider_category=PROVIDERS[provider][0] if provider else None,
               providers=list(dict.fromkeys(m["provider"] for m in mx if m["provider"])),
               self_hosted=bool(real) and all(m["org_domain"] == own for m in real))
    both = set()
    if len({m["provider"] for m in mx if m["category"] == "mailbox"}) >= 2:
        both.add("mixed_providers")
    if row["provider_category"] == "gateway" and any(m["tier"] > 1 and m["category"] != "gateway" for m in real):
        both.add("gateway_bypass")
    if len({m["exchange"] for m in real}) == 1:
        both.add("single_mx")
    full = set(both)
    if any(m["address_status"] == "nxdomain" and m["org_domain"]
           and world.lookup(m["org_domain"], "SOA")[0] == "nxdomain" for m in real):
        full.add("dangling_mx")
    if real and len({a for m in real for a in m["ipv4"] + m["ipv6"]}) == 1:
        full.add("single_address")
    return full, both


def expected_row(world, domain, case):
    """The row a full scan writes for a valid, normalised domain."""
    status, records, dcname = world.lookup(domain, "MX")
    # Unbound may give up on a dead server with SERVFAIL before the scanner's own timeout
    row = {"domain": domain, "case": case, "status": status, "status_alt": ["servfail"] if status == "timeout" else [],
           "domain_cname": dcname, "null_mx": False, "implicit_mx": False, "mx": [], **NO_ANALYSIS}
    base = {"domain_is_cname"} if dcname else set()
    if status != "ok":
        if status != "nxdomain":
            # unknown is null: after a failed MX lookup nothing is known of the MX set (NXDOMAIN is an
            # answer: no MX of any kind, no address, no exchange)
            row.update(null_mx=None, implicit_mx=None, self_hosted=None)
        row["findings"] = row["findings_mx_only"] = sorted(base)
        return row
    records = sorted((pref, ex.lower().rstrip(".") or ".") for pref, ex in records)
    prefs = sorted({p for p, _ in records})
    for pref, ex in records:
        row["mx"].append({"preference": pref, "exchange": ex, "tier": prefs.index(pref) + 1,
                          **resolve_exchange(world, ex)})
    row["null_mx"] = any(m["exchange"] == "." for m in row["mx"])
    analysis_full, analysis_mx_only = analyse(world, domain, row)
    findings = base | mx_findings(domain, row["mx"], mx_only=False) | analysis_full
    if not records:
        sa, v4, _ = world.lookup(domain, "A")
        s6, v6, _ = world.lookup(domain, "AAAA")
        # the scanner's combination of the two answers: an address, else NXDOMAIN, else a failure
        # (unknown: null), else NODATA
        if v4 or v6:
            row["implicit_mx"] = True
        elif "nxdomain" in (sa, s6) or (sa not in FAILURES and s6 not in FAILURES):
            row["implicit_mx"] = False
        else:
            row["implicit_mx"] = None
        if row["implicit_mx"]:
            findings.add("implicit_mx")
        elif sa not in FAILURES and s6 not in FAILURES:
            findings.add("no_mx")
    row["findings"] = sorted(findings)
    mx_only = [{**m, "ipv4": [], "ipv6": [], "cname": None, "address_status": "skipped"} for m in row["mx"]]
    row["findings_mx_only"] = sorted(base | mx_findings(domain, mx_only, mx_only=True) | analysis_mx_only)
    return row


# ---------------------------------------------------------------- the MX setups

GOOGLE = [(1, "aspmx.l.google.com"), (5, "alt1.aspmx.l.google.com"), (5, "alt2.aspmx.l.google.com"),
          (10, "alt3.aspmx.l.google.com"), (10, "alt4.aspmx.l.google.com")]
PROVIDER_SETS = {  # shared by many domains; every category is here
    "zoho": [(10, "mx.zoho.com"), (20, "mx2.zoho.com"), (50, "mx3.zoho.com")],
    "zoho_eu": [(10, "mx.zoho.eu"), (20, "mx2.zoho.eu"), (50, "mx3.zoho.eu")],
    "ovh": [(1, "mx1.mail.ovh.net"), (5, "mx2.mail.ovh.net"), (100, "mx3.mail.ovh.net")],
    "mimecast_eu": [(10, "eu-smtp-inbound-1.mimecast.com"), (10, "eu-smtp-inbound-2.mimecast.com")],
    "mimecast_us": [(10, "us-smtp-inbound-1.mimecast.com"), (10, "us-smtp-inbound-2.mimecast.com")],
    "ionos": [(10, "mx00.kundenserver.de"), (10, "mx01.kundenserver.de")],
    "godaddy": [(0, "smtp.secureserver.net"), (10, "mailstore1.secureserver.net")],
    "namecheap": [(10, "eforward1.registrar-servers.com"), (10, "eforward2.registrar-servers.com"),
                  (10, "eforward3.registrar-servers.com"), (15, "eforward4.registrar-servers.com"),
                  (20, "eforward5.registrar-servers.com")],
    "yandex": [(10, "mx.yandex.net")],
    "fastmail": [(10, "in1-smtp.messagingengine.com"), (20, "in2-smtp.messagingengine.com")],
    "cloudflare": [(13, "route1.mx.cloudflare.net"), (37, "route2.mx.cloudflare.net"),
                   (86, "route3.mx.cloudflare.net")],
    "improvmx": [(10, "mx1.improvmx.com"), (20, "mx2.improvmx.com")],
    "pobox": [(10, "mx-1.pobox.com"), (10, "mx-2.pobox.com"), (20, "mx-3.pobox.com")],
    "google_single": [(1, "smtp.google.com")],
    "google_legacy": [(1, "aspmx.l.google.com"), (5, "alt1.aspmx.l.google.com"), (5, "alt2.aspmx.l.google.com"),
                      (10, "aspmx2.googlemail.com"), (10, "aspmx3.googlemail.com")],
    "broadcom": [(10, "cluster1.eu.messagelabs.com"), (20, "cluster1a.eu.messagelabs.com")],
    "proofpoint_essentials": [(10, "mx1-us1.ppe-hosted.com"), (10, "mx2-us1.ppe-hosted.com")],
}
GATEWAYS = ("proofpoint", "mimecast", "cisco", "barracuda", "broadcom")
PRIVATE_SAMPLES = [("A", "10.0.0.25"), ("A", "172.16.5.4"), ("A", "172.31.255.1"), ("A", "192.168.1.10"),
                   ("A", "100.64.0.7"), ("A", "100.127.3.3"), ("A", "169.254.10.1"), ("A", "0.1.2.3"),
                   ("A", "192.0.2.25"), ("A", "198.51.100.25"), ("A", "203.0.113.25"),
                   ("AAAA", "fe80::25"), ("AAAA", "fd00:1234::25"), ("AAAA", "fc00::1"),
                   ("AAAA", "2001:db8::25"), ("AAAA", "::")]
# just outside the non-public ranges: these are healthy
BOUNDARY_SAMPLES = ["172.15.255.1", "172.32.0.1", "100.63.255.1", "100.128.0.1", "192.169.0.1",
                    "169.253.1.1", "11.0.0.1", "198.51.101.1", "203.0.114.1", "192.0.3.1"]


class Builder:
    """Each case_* method sets up one domain's records (the domain name is given)."""

    def __init__(self, world):
        self.w = world
        self.rng = world.rng
        w = world
        for i, (_, h) in enumerate(GOOGLE):
            w.add(h, "A", f"45.100.{i}.26")
            w.add(h, "AAAA", f"2a00:1450:4010:c0{i}::1a")
        w.add("smtp.google.com", "A", "45.100.9.26")
        w.add("smtp.google.com", "AAAA", "2a00:1450:4010:c09::1b")
        for name, hosts in PROVIDER_SETS.items():
            for _, h in hosts:
                w.host(h, v4=2, v6=1 if name in ("fastmail", "cloudflare", "google_single", "pobox") else 0)
        for h in LOOKALIKES:
            w.host(h, v4=1)
        self.pphosted = [f"{self.rng.randint(100000, 999999):08d}" for _ in range(300)]
        self.iphmx = [f"hc{self.rng.randint(100, 9999)}-{self.rng.randint(1, 99)}" for _ in range(100)]
        self.barracuda = [f"d{self.rng.randint(100000, 999999)}" for _ in range(100)]
        self.hosters = [w.new_name(self.rng.choice(["net", "com", "de"]), prefix="host") for _ in range(300)]
        for h in self.hosters:
            w.host(f"mx1.{h}", v4=1)
            w.host(f"mx2.{h}", v4=1)
            w.add(h, "A", w.public_v4())
        self.dead_hosts = [w.new_name("com", prefix="gone") for _ in range(40)]  # never in a zone
        self.timeouts = 0
        self.dangling = 0
        self.aliases = 0

    def healthy_set(self):
        """A healthy MX set from a shared provider or hoster (for backups and CNAME targets)."""
        r = self.rng.random()
        if r < 0.4:
            return list(GOOGLE)
        if r < 0.6:
            return list(self.rng.choice(list(PROVIDER_SETS.values())))
        h = self.rng.choice(self.hosters)
        return [(10, f"mx1.{h}"), (20, f"mx2.{h}")]

    def ms_host(self, d, modern=None):
        """The Microsoft 365 exchange of d: <d>.mail.protection.outlook.com or <d>.<x>-v1.mx.microsoft."""
        if modern is None:
            modern = self.rng.random() < 0.3
        label = d.replace(".", "-")
        h = f"{label}.{self.rng.choice('lop')}-v1.mx.microsoft" if modern else f"{label}.mail.protection.outlook.com"
        if not self.w.has(h):
            self.w.add(h, "A", f"52.101.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}")
            self.w.add(h, "A", f"52.101.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}")
        return h

    def gateway_hosts(self, gw):
        """Two exchanges of a gateway customer (per-customer names where the service uses them)."""
        if gw == "proofpoint":
            if self.rng.random() < 0.2:
                return [h for _, h in PROVIDER_SETS["proofpoint_essentials"]]
            cid = self.rng.choice(self.pphosted)
            hosts = [f"mx0a-{cid}.pphosted.com", f"mx0b-{cid}.pphosted.com"]
        elif gw == "mimecast":
            return [h for _, h in PROVIDER_SETS[self.rng.choice(["mimecast_eu", "mimecast_us"])]]
        elif gw == "cisco":
            c = self.rng.choice(self.iphmx)
            hosts = [f"mx1.{c}.iphmx.com", f"mx2.{c}.iphmx.com"]
        elif gw == "barracuda":
            c = self.rng.choice(self.barracuda)
            hosts = [f"{c}.a.ess.barracudanetworks.com", f"{c}.b.ess.barracudanetworks.com"]
        else:
            return [h for _, h in PROVIDER_SETS["broadcom"]]
        for h in hosts:
            self.w.host(h, v4=1)
        return hosts

    def one_host_of(self, pid, d):
        """One exchange of provider pid (for domains that mix providers)."""
        if pid == "google":
            return self.rng.choice([h for _, h in GOOGLE] + ["smtp.google.com", "aspmx2.googlemail.com"])
        if pid == "microsoft":
            return self.ms_host(d)
        if pid in GATEWAYS:
            return self.rng.choice(self.gateway_hosts(pid))
        sets = [v for k, v in PROVIDER_SETS.items() if provider_of(v[0][1])[0] == pid]
        return self.rng.choice(self.rng.choice(sets))[1]

    def mx(self, d, records):
        for pref, ex in records:
            self.w.add(d, "MX", (pref, ex))

    def web(self, d, p=0.4):
        if self.rng.random() < p:
            self.w.add(d, "A", self.w.public_v4())

    # healthy ------------------------------------------------------------------
    def case_google(self, d):
        self.mx(d, GOOGLE)
        self.web(d)
        self.w.add(d, "TXT", "v=spf1 include:_spf.google.com ~all")

    def case_microsoft(self, d):
        self.mx(d, [(0, self.ms_host(d))])
        self.web(d)

    def case_proofpoint(self, d):
        hosts = self.gateway_hosts("proofpoint")
        self.mx(d, [(10, hosts[0]), (10, hosts[1])])

    def case_provider(self, d):
        self.mx(d, self.rng.choice(list(PROVIDER_SETS.values())))
        self.web(d)

    def case_hosting(self, d):
        h = self.rng.choice(self.hosters)
        self.mx(d, [(10, f"mx1.{h}")] if self.rng.random() < 0.5 else [(10, f"mx1.{h}"), (20, f"mx2.{h}")])
        self.web(d, 0.8)

    def case_self_hosted(self, d):
        r = self.rng.random()
        if r < 0.5:
            self.mx(d, [(10, self.w.host(f"mail.{d}", v4=1, v6=self.rng.randint(0, 1)))])
        elif r < 0.8:
            self.mx(d, [(10, self.w.host(f"mx1.{d}", v4=1, v6=1)), (20, self.w.host(f"mx2.{d}", v4=1))])
        else:  # AAAA-only primary, 3 hosts over 2 preferences
            self.mx(d, [(5, self.w.host(f"mx-a.{d}", v4=0, v6=1)), (5, self.w.host(f"mx-b.{d}", v4=2)),
                        (15, self.w.host(f"backup.{d}", v4=1))])
        self.web(d)

    def case_mixed(self, d):
        """2-5 MX over 1-3 distinct preferences from a mix of shared and own hosts."""
        n = self.rng.randint(2, 5)
        prefs = sorted(self.rng.sample([0, 5, 10, 20, 30, 50, 100], self.rng.randint(1, min(3, n))))
        pool = [h for _, h in GOOGLE + [x for v in PROVIDER_SETS.values() for x in v]]
        pool += [f"mx1.{h}" for h in self.rng.sample(self.hosters, 3)]
        pool += [self.w.host(f"mx{i}.{d}", v4=1, v6=i % 2) for i in range(1, 3)]
        hosts = self.rng.sample(pool, n)
        self.mx(d, [(prefs[i] if i < len(prefs) else self.rng.choice(prefs), h) for i, h in enumerate(hosts)])

    # providers and topology (the analysis stage) ------------------------------------
    def case_mixed_mailbox_tier1(self, d):
        """Two mailbox providers share tier 1 (the one with more tier-1 exchanges wins, then by id)."""
        r = self.rng.random()
        if r < 0.35:
            self.mx(d, [(10, "aspmx.l.google.com"), (10, self.ms_host(d))])  # 1:1, google by id
        elif r < 0.55:
            self.mx(d, [(0, self.ms_host(d, modern=False)), (0, self.ms_host(d, modern=True)),
                        (0, "aspmx.l.google.com")])  # 2:1 microsoft
        elif r < 0.75:
            self.mx(d, [(10, "mx.zoho.com"), (10, "mx2.zoho.com"), (10, "alt1.aspmx.l.google.com"),
                        (20, "mx3.zoho.com")])  # 2:1 zoho
        else:
            self.mx(d, [(10, "mx.yandex.net"), (10, "in1-smtp.messagingengine.com"),
                        (20, "in2-smtp.messagingengine.com")])  # 1:1, fastmail by id
        self.web(d)

    def case_mixed_mailbox_split(self, d):
        """A migration half done: one mailbox provider at tier 1, another at a later tier."""
        r = self.rng.random()
        if r < 0.4:
            self.mx(d, list(GOOGLE) + [(20, self.ms_host(d))])
        elif r < 0.7:
            self.mx(d, [(0, self.ms_host(d))] + [(p + 10, h) for p, h in GOOGLE[:3]])
        elif r < 0.85:
            self.mx(d, [(10, "mx.zoho.eu"), (20, "mx2.zoho.eu"), (30, "aspmx.l.google.com")])
        else:
            self.mx(d, [(5, "in1-smtp.messagingengine.com"), (50, "mx.yandex.net")])
        self.web(d)

    def backup_outside_gateway(self, d):
        """A later-tier exchange that is not a gateway's: own host, mailbox, hoster or hosting provider."""
        r = self.rng.random()
        if r < 0.35:
            return self.w.host(f"backup.{d}", v4=1)
        if r < 0.6:
            return self.rng.choice(["aspmx.l.google.com", "alt1.aspmx.l.google.com", self.ms_host(d)])
        if r < 0.8:
            return f"mx2.{self.rng.choice(self.hosters)}"
        return self.rng.choice(["mx1.mail.ovh.net", "smtp.secureserver.net", "route1.mx.cloudflare.net"])

    def case_gateway_bypass(self, d):
        """A gateway holds tier 1; a later tier skips the filter."""
        hosts = self.gateway_hosts(self.rng.choice(GATEWAYS))
        prefs = [10, 10] if self.rng.random() < 0.5 else [10, 20]
        records = list(zip(prefs, hosts)) + [(100, self.backup_outside_gateway(d))]
        if self.rng.random() < 0.2:  # and a second one
            records.append((200, self.w.host(f"mx9.{d}", v4=1)))
        self.mx(d, records)

    def case_gateway_ok(self, d):
        """A gateway at every tier (one gateway, or one behind another)."""
        gws = self.rng.sample(GATEWAYS, 2)
        hosts = self.gateway_hosts(gws[0])
        r = self.rng.random()
        if r < 0.4:
            self.mx(d, [(10, hosts[0]), (20, hosts[1])])
        elif r < 0.7:
            self.mx(d, [(10, hosts[0]), (10, hosts[1])] + [(20, h) for h in self.gateway_hosts(gws[1])])
        else:
            self.mx(d, [(10, hosts[0]), (10, hosts[1]), (30, self.gateway_hosts(gws[0])[0])])

    def case_gateway_shared_tier1(self, d):
        """A gateway and an own host share tier 1: the gateway is the provider, and only a later tier
        counts for gateway_bypass (none here)."""
        hosts = self.gateway_hosts(self.rng.choice(GATEWAYS))
        self.mx(d, [(10, hosts[0]), (10, self.w.host(f"mail.{d}", v4=1))]
                + ([(20, hosts[1])] if self.rng.random() < 0.5 else []))

    def case_tier1_unknown(self, d):
        """Tier 1 has no provider (own host, unknown hoster, look-alike): provider null, whatever
        later tiers hold (mostly Google)."""
        r = self.rng.random()
        if r < 0.5:
            first = [(5, self.w.host(f"mail.{d}", v4=1, v6=self.rng.randint(0, 1)))]
        elif r < 0.8:
            first = [(5, f"mx1.{self.rng.choice(self.hosters)}")]
        else:
            first = [(5, self.rng.choice(LOOKALIKES))]
        if self.rng.random() < 0.7:
            later = [(p + 10, h) for p, h in GOOGLE]
        else:
            hosts = self.gateway_hosts(self.rng.choice(GATEWAYS))
            later = [(20, hosts[0]), (30, self.rng.choice(["mx1.improvmx.com", "mx-1.pobox.com", "mx.zoho.com"]))]
        self.mx(d, first + later)

    TIE_HOSTS = ("google", "microsoft", "zoho", "yandex", "fastmail", "proofpoint", "mimecast", "cisco",
                 "barracuda", "broadcom", "ovh", "godaddy", "ionos", "namecheap", "cloudflare", "improvmx", "pobox")

    def case_tie_tier1(self, d):
        """Tier 1 holds one exchange each of two providers (the smaller id wins), sometimes with an
        unknown host beside them, or a third provider twice (more exchanges win)."""
        a, b = self.rng.sample(self.TIE_HOSTS, 2)
        records = [(10, self.one_host_of(a, d)), (10, self.one_host_of(b, d))]
        r = self.rng.random()
        if r < 0.25:
            records.append((10, self.w.host(f"mx.{d}", v4=1)))
        elif r < 0.4:
            c = self.rng.choice([p for p in ("zoho", "namecheap", "pobox") if p not in (a, b)])
            hosts = {"zoho": ["mx.zoho.com", "mx.zoho.eu"], "pobox": ["mx-1.pobox.com", "mx-2.pobox.com"],
                     "namecheap": ["eforward1.registrar-servers.com", "eforward3.registrar-servers.com"]}[c]
            records += [(10, h) for h in hosts]
        if self.rng.random() < 0.3:
            records.append((50, self.rng.choice(["mx2.improvmx.com", f"mx2.{self.rng.choice(self.hosters)}"])))
        self.mx(d, records)

    def case_dangling(self, d):
        """An exchange under a registrable domain that does not exist (anyone may register it)."""
        self.dangling += 1
        n = self.dangling
        tld = ["com", "net", "org", "de", "io", "co.uk", "nl", "fr"][n % 8]
        org = f"gone-{n}.{tld}"
        r = self.rng.random()
        if r < 0.3:
            self.mx(d, [(10, f"mx.{org}")])  # the only exchange
        elif r < 0.45:
            self.mx(d, [(10, org)])  # the registrable name itself
        elif r < 0.6:
            self.mx(d, [(10, f"mx1.{org}"), (20, f"mx2.{org}")])
        elif r < 0.8:
            self.mx(d, [(10, self.w.host(f"mail.{d}", v4=1)), (20, f"mx.{org}")])  # a dangling backup
        else:
            self.mx(d, list(GOOGLE[:3]) + [(50, f"mail.{org}")])

    def case_dangling_contrast(self, d):
        """An NXDOMAIN exchange under a registrable domain that exists: mx_unresolvable only."""
        r = self.rng.random()
        if r < 0.5:
            ex = f"missing.{self.rng.choice(self.hosters)}"
        else:  # the registrable domain exists only as an empty non-terminal (www.<org> has records)
            org = self.w.new_name(self.rng.choice(["com", "net", "de"]), prefix="parent")
            self.w.add(f"www.{org}", "A", self.w.public_v4())
            ex = f"mx.{org}"
        self.mx(d, [(10, ex)] + ([(20, self.w.host(f"mx2.{d}", v4=1))] if self.rng.random() < 0.4 else []))

    def case_single_address(self, d):
        """Two or three exchange names, one IP address between them."""
        addr = self.w.public_v4()
        names = [f"mx{i}.{d}" for i in range(1, self.rng.randint(2, 3) + 1)]
        for h in names:
            self.w.add(h, "A", addr)
        prefs = [10] * len(names) if self.rng.random() < 0.4 else [10 * (i + 1) for i in range(len(names))]
        self.mx(d, list(zip(prefs, names)))
        self.web(d)

    def case_lookalike(self, d):
        """Names that contain a provider's suffix but not on a label boundary: no provider."""
        hosts = self.rng.sample(LOOKALIKES, self.rng.randint(1, 2))
        self.mx(d, [(10 * (i + 1), h) for i, h in enumerate(hosts)]
                + ([(50, self.w.host(f"mx.{d}", v4=1))] if self.rng.random() < 0.3 else []))

    def case_cname_self_hosted(self, d):
        """The domain is an alias: self_hosted compares exchanges with the listed domain, not the target."""
        target = self.w.new_name(self.rng.choice(LISTED_TLDS))
        self.w.add(d, "CNAME", target)
        self.aliases += 1
        if self.aliases % 2:
            self.mx(target, [(10, self.w.host(f"mail.{d}", v4=1))])  # self-hosted
        else:
            self.mx(target, [(10, self.w.host(f"mail.{target}", v4=1))])  # not: the target's own host

    def case_public_boundary(self, d):
        h = f"mail.{d}"
        self.w.add(h, "A", self.rng.choice(BOUNDARY_SAMPLES))
        self.mx(d, [(10, h)])

    # null MX --------------------------------------------------------------------
    def case_null_mx(self, d):
        self.mx(d, [(0, ".")])
        self.web(d, 0.5)
        self.w.add(d, "TXT", "v=spf1 -all")

    def case_null_mx_nonzero_preference(self, d):
        self.mx(d, [(self.rng.choice([1, 10, 100]), ".")])

    def case_null_mx_with_other_mx(self, d):
        if self.rng.random() < 0.7:
            self.mx(d, [(0, "."), (10, self.w.host(f"mail.{d}", v4=1))])
        else:  # both null-MX findings
            self.mx(d, [(10, ".")] + self.healthy_set())

    # no MX ----------------------------------------------------------------------
    def case_implicit_mx(self, d):
        r = self.rng.random()
        if r < 0.5:
            self.w.add(d, "A", self.w.public_v4())
        elif r < 0.75:
            self.w.add(d, "AAAA", self.w.public_v6())
        else:
            self.w.add(d, "A", self.w.public_v4())
            self.w.add(d, "AAAA", self.w.public_v6())

    def case_no_mx(self, d):
        if self.rng.random() < 0.7:
            self.w.add(d, "TXT", "google-site-verification=abc")
        else:  # an empty non-terminal: only www.<d> has records
            self.w.add(f"www.{d}", "A", self.w.public_v4())

    # aliases --------------------------------------------------------------------
    def case_domain_cname(self, d):
        target = self.w.new_name(self.rng.choice(LISTED_TLDS))
        self.mx(target, self.healthy_set())
        if self.rng.random() < 0.3:  # a chain of two
            mid = self.w.new_name(self.rng.choice(LISTED_TLDS))
            self.w.add(mid, "CNAME", target)
            target = mid
        self.w.add(d, "CNAME", target)

    def case_domain_cname_implicit(self, d):
        target = self.w.new_name(self.rng.choice(LISTED_TLDS))
        self.w.add(target, "A", self.w.public_v4())
        self.w.add(d, "CNAME", target)

    def case_domain_cname_nxdomain(self, d):
        self.w.add(d, "CNAME", self.w.new_name(self.rng.choice(LISTED_TLDS), prefix="parked"))

    def case_mx_cname(self, d):
        r = self.rng.random()
        alias = f"mx.{d}"
        if r < 0.4:
            self.w.add(alias, "CNAME", f"mx1.{self.rng.choice(self.hosters)}")
        elif r < 0.7:
            self.w.add(alias, "CNAME", "aspmx.l.google.com")
        else:  # a chain of two
            mid = f"mailhost.{self.rng.choice(self.hosters)}"
            if not self.w.has(mid):
                self.w.add(mid, "CNAME", f"mx2.{mid.split('.', 1)[1]}")
            self.w.add(alias, "CNAME", mid)
        self.mx(d, [(10, alias)] + ([(20, self.w.host(f"mx2.{d}"))] if self.rng.random() < 0.3 else []))

    # unusable exchanges ----------------------------------------------------------
    def case_mx_ip_literal(self, d):
        r = self.rng.random()
        if r < 0.4:
            self.mx(d, [(10, "192.0.2.1")])
        elif r < 0.7:
            self.mx(d, [(10, self.w.public_v4())])
        else:
            self.mx(d, [(10, self.w.host(f"mail.{d}")), (20, self.w.public_v4())])

    def case_mx_nxdomain(self, d):
        ex = f"mail.{self.rng.choice(self.dead_hosts)}" if self.rng.random() < 0.5 else f"mx.{d}"
        self.mx(d, [(10, ex)] + (self.healthy_set() if self.rng.random() < 0.4 else []))

    def case_mx_nodata(self, d):
        h = f"mail.{d}"
        self.w.add(h, "TXT", "v=spf1 a -all")
        self.mx(d, [(10, h)] + ([(20, self.w.host(f"mx2.{d}"))] if self.rng.random() < 0.4 else []))

    def case_mx_servfail(self, d):
        ex = f"mx.{self.w.word()}{self.rng.randint(1, 99)}.{self.rng.choice(UNSERVED_TLDS)}"
        self.mx(d, [(10, ex)] + ([(20, self.w.host(f"mx2.{d}"))] if self.rng.random() < 0.4 else []))

    def case_mx_timeout(self, d):
        self.timeouts += 1
        extra = [(5, self.w.host(f"mail.{d}"))] if self.timeouts % 2 == 0 else []  # one with a good primary
        self.mx(d, [(10, f"mx{self.timeouts}.{MX_TIMEOUT_ZONE}")] + extra)

    def case_mx_localhost(self, d):
        r = self.rng.random()
        if r < 0.6:
            self.mx(d, [(10, "localhost")])
        elif r < 0.8:
            self.mx(d, [(0, "localhost")] + self.healthy_set())
        else:
            self.mx(d, [(10, f"localhost.{d}")])
            self.w.add(f"localhost.{d}", "A", "127.0.0.1")

    def case_mx_loopback(self, d):
        self.w.add(f"mail.{d}", "A", "127.0.0.2")
        self.mx(d, [(10, f"mail.{d}")])

    def case_mx_private(self, d):
        h = f"mail.{d}"
        rtype, addr = self.rng.choice(PRIVATE_SAMPLES)
        self.w.add(h, rtype, addr)
        r = self.rng.random()
        if r < 0.5:
            self.mx(d, [(10, h)])
        elif r < 0.75:  # a private backup behind a healthy primary
            self.mx(d, [(10, self.w.host(f"mx1.{d}")), (20, h)])
        else:  # the same host also has a public address
            self.w.add(h, "A", self.w.public_v4())
            self.mx(d, [(10, h)])

    def case_mx_duplicate(self, d):
        h = self.w.host(f"mail.{d}", v4=1)
        if self.rng.random() < 0.5:
            self.mx(d, [(10, h), (20, h)])
        else:
            self.mx(d, [(10, h), (20, "MAIL." + d.upper()), (30, self.w.host(f"mx3.{d}"))])

    def case_mx_invalid_hostname(self, d):
        h = self.rng.choice([f"mail_in.{d}", f"-mx.{d}", f"mx-.{d}", f"smtp_relay.{d}"])
        self.w.add(h, "A", self.w.public_v4())
        self.mx(d, [(10, h)] + ([(20, self.w.host(f"mx2.{d}"))] if self.rng.random() < 0.3 else []))

    def case_mx_relative_name(self, d):
        r = self.rng.random()
        if r < 0.4:
            self.mx(d, [(10, f"mail.{d}.{d}")])  # NXDOMAIN too
        elif r < 0.7:  # the zone has the misplaced name too
            self.w.add(f"mail.{d}.{d}", "A", self.w.public_v4())
            self.mx(d, [(10, f"mail.{d}.{d}")])
        else:
            self.w.host(f"mail.{d}")
            self.mx(d, [(10, f"mail.{d}"), (20, f"{d}.{d}")])

    def case_all_mx_unusable(self, d):
        parts = []
        for kind in self.rng.sample(["literal", "nxdomain", "private", "nodata", "loopback"], self.rng.randint(2, 4)):
            if kind == "literal":
                parts.append("203.0.113.9")
            elif kind == "nxdomain":
                parts.append(f"mail.{self.rng.choice(self.dead_hosts)}")
            elif kind == "private":
                self.w.add(f"internal.{d}", "A", "192.168.0.25")
                parts.append(f"internal.{d}")
            elif kind == "nodata":
                self.w.add(f"old.{d}", "TXT", "decommissioned")
                parts.append(f"old.{d}")
            else:
                self.w.add(f"lo.{d}", "A", "127.0.0.1")
                parts.append(f"lo.{d}")
        self.mx(d, [(10 * (i + 1), h) for i, h in enumerate(parts)])

    def case_tcp_fallback(self, d):
        """40 long MX names: the answer exceeds 1232 bytes (TC over UDP)."""
        addr = self.w.public_v4()
        for i in range(40):
            h = f"mx{i:02d}-inbound-relay-cluster-node-with-a-long-name.{d}"
            self.w.add(h, "A", addr)
            self.mx(d, [(10 * (1 + i % 4), h)])

    # domains that fail -------------------------------------------------------------
    def case_domain_nxdomain(self, d):
        pass  # listed, never written into a zone

    def case_domain_servfail(self, d):
        pass  # under a TLD Knot does not serve

    def case_domain_timeout(self, d):
        pass  # a zone Unbound sends to a dead port


# case -> (share of N, minimum count); healthy cases share what is left
SPECIAL = {
    "null_mx": (0.015, 30), "null_mx_nonzero_preference": (0.002, 10), "null_mx_with_other_mx": (0.002, 12),
    "implicit_mx": (0.015, 30), "no_mx": (0.01, 20),
    "domain_cname": (0.005, 15), "domain_cname_implicit": (0.0005, 5), "domain_cname_nxdomain": (0.0003, 4),
    "mx_cname": (0.005, 15), "mx_ip_literal": (0.003, 12), "mx_nxdomain": (0.005, 15),
    "mx_nodata": (0.003, 10), "mx_servfail": (0.002, 8), "mx_timeout": (0, 2),
    "mx_localhost": (0.002, 10), "mx_loopback": (0.0005, 5), "mx_private": (0.005, 32),
    "public_boundary": (0.001, 10),
    "mx_duplicate": (0.002, 10), "mx_invalid_hostname": (0.002, 12), "mx_relative_name": (0.002, 12),
    "all_mx_unusable": (0.002, 10), "tcp_fallback": (0, 5),
    "domain_nxdomain": (0.01, 20), "domain_servfail": (0.002, 8), "domain_timeout": (0, 3),
    "mixed_mailbox_tier1": (0.004, 20), "mixed_mailbox_split": (0.004, 20),
    "gateway_bypass": (0.005, 25), "gateway_ok": (0.005, 25), "gateway_shared_tier1": (0.001, 8),
    "tier1_unknown": (0.004, 20), "tie_tier1": (0.005, 25), "dangling": (0.003, 24),
    "dangling_contrast": (0.002, 12), "single_address": (0.003, 15), "lookalike": (0.003, 16),
    "cname_self_hosted": (0.001, 8),
}
HEALTHY = {"google": 25, "microsoft": 20, "proofpoint": 3, "provider": 17, "hosting": 15,
           "self_hosted": 12, "mixed": 8}


def plan(n, rng):
    counts = {c: max(m, round(share * n)) for c, (share, m) in SPECIAL.items()}
    left = n - sum(counts.values())
    if left < len(HEALTHY) * 10:
        raise SystemExit(f"--domains {n} is too small: the special cases alone need {sum(counts.values())}")
    total = sum(HEALTHY.values())
    healthy = {c: left * w // total for c, w in HEALTHY.items()}
    healthy["google"] += left - sum(healthy.values())
    counts.update(healthy)
    cases = [c for c, k in counts.items() for _ in range(k)]
    rng.shuffle(cases)
    return cases


def domain_for(world, case, rng, counters):
    """The listed name (Unicode form for IDN) and its normalised A-label form."""
    if case == "domain_servfail":
        d = world.new_name(rng.choice(UNSERVED_TLDS))
        return d, d
    if case == "domain_timeout":
        i = counters.setdefault(case, 0)
        counters[case] += 1
        return DOMAIN_TIMEOUT_ZONES[i], DOMAIN_TIMEOUT_ZONES[i]
    tld = rng.choices(LISTED_TLDS, TLD_WEIGHTS)[0]
    if case in HEALTHY and tld in IDN_TLDS and rng.random() < 0.02:
        while True:
            base = world.word(2, 3)
            i = rng.choice([i for i, c in enumerate(base) if c in IDN_SWAPS] or [None])
            if i is None:
                continue
            label = base[:i] + IDN_SWAPS[base[i]] + base[i + 1:] + str(rng.randint(1, 999))
            u = f"{label}.{tld}"
            a = u.encode("idna").decode("ascii")
            if a not in world.used and a not in world.names:
                world.used.add(a)
                return u, a
    prefix = "gone" if case == "domain_nxdomain" else ""
    d = world.new_name(tld, prefix=prefix)
    return d, d


# ---------------------------------------------------------------- the input list

def spelled(rng, u):
    """How a valid name is written in the list: mostly as is, sometimes upper-cased or with a dot."""
    r = rng.random()
    if r < 0.02:
        return u.upper()
    if r < 0.03:
        first, rest = u.split(".", 1)
        return first.capitalize() + "." + rest.upper()
    if r < 0.045:
        return u + "."
    if r < 0.05:
        return u.upper() + "."
    return u


def invalid_tokens(n):
    """(token, kind): lines the scanner must reject, each once."""
    k = max(4, n // 2000)
    toks = []
    for i in range(k):
        toks.append((f"foo bar{i}.com", "space"))
        toks.append((f"shop{i}!.com", "bang"))
        toks.append((f"mail{i}..example.com", "empty_label"))
    toks += [
        ("a..com", "empty_label"),
        ("x" * 64 + ".com", "label_too_long"),
        (".".join(["abcdefghij" * 5 + "k"] * 5) + ".com", "name_too_long"),  # 263 octets
        ("-", "hyphen_only"),
        ("exa$mple.com", "bad_char"),
        ("under score.net", "space"),
    ]
    return toks


def write_inputs(out, rng, rows_by_domain, listed, extra=(), rng_extra=None):
    """listed: [(unicode name, normalised)] in list order; extra: more of them, appended after every
    other line (spelled with rng_extra, so that the lines before are as they were without them).
    Returns the truth rows in file order."""
    n = len(listed)
    items = [(float(i), i, ("valid", u, d)) for i, (u, d) in enumerate(listed)]
    for j, (tok, kind) in enumerate(invalid_tokens(n)):
        items.append((rng.uniform(0, n), n + j, ("invalid", tok, kind)))
    dup_of = rng.sample(range(n), max(10, n // 100))
    for j, i in enumerate(dup_of):
        items.append((rng.uniform(i + 1, n + 1), 2 * n + j, ("dup", listed[i][0], listed[i][1])))
    items.sort()

    lines = ["\ufeffrank,domain"]
    truth = []
    first_token = {}
    rank = 0
    for _, _, (kind, tok, d) in items:  # d: the normalised name, or the kind of invalid line
        r = rng.random()
        if r < 0.002:
            lines.append(f"# generated comment {len(lines)}")
        elif r < 0.003:
            lines.append(rng.choice(["", "   "]))
        rank += 1
        if kind == "valid":
            tok = spelled(rng, tok)
            first_token[d] = tok
            row = dict(rows_by_domain[d])
            row.update(input=tok, rank=rank)
            truth.append(row)
        elif kind == "dup":
            tok = spelled(rng, tok)
        else:
            truth.append({"domain": None, "case": "invalid_" + d, "input": tok, "rank": rank,
                          "status": "invalid", "status_alt": [], "domain_cname": None, "null_mx": None,
                          "implicit_mx": None, "mx": [], "findings": [], "findings_mx_only": [],
                          **NO_ANALYSIS, "self_hosted": None, "policy": None})
        lines.append(f"{rank},{tok}")
    old_lines = len(lines)
    old_truth = list(truth)
    for u, d in extra:
        rank += 1
        tok = spelled(rng_extra, u)
        first_token[d] = tok
        row = dict(rows_by_domain[d])
        row.update(input=tok, rank=rank)
        truth.append(row)
        lines.append(f"{rank},{tok}")
    with open(os.path.join(out, "input.csv"), "wb") as fh:
        for i, line in enumerate(lines):
            eol = b"\r\n" if (rng if i < old_lines else rng_extra).random() < 0.05 else b"\n"
            fh.write(line.encode("utf-8") + (eol if i < len(lines) - 1 else b""))  # no newline at the end

    # the plain list: a few names of every case (timeouts left out: they cost seconds), then others
    by_case = {}
    for row in old_truth:
        if row["domain"] and "timeout" not in row["case"]:
            by_case.setdefault(row["case"], []).append(row)
    chosen = [r for rows in by_case.values() for r in rows[:3]]
    picked = {r["domain"] for r in chosen}
    rest = [r for r in old_truth if r["domain"] and r["domain"] not in picked and "timeout" not in r["case"]]
    chosen += rng.sample(rest, max(0, min(len(rest), 200 - len(chosen))))
    rng.shuffle(chosen)
    with open(os.path.join(out, "input.txt"), "w", encoding="utf-8", newline="\n") as fh:
        fh.write("# a plain list, one name per line\n\n")
        fh.writelines(first_token[r["domain"]] + "\n" for r in chosen)
    return truth


# ---------------------------------------------------------------- zone files

def txt_rdata(value):
    """A TXT value (a string, or a tuple of the RR's strings) as zone-file text: strings longer than
    255 octets are split (RFC 7208 §3.3: readers join them without spaces)."""
    parts = []
    for s in (value if isinstance(value, tuple) else (value,)):
        parts += [s[i:i + 255] for i in range(0, len(s), 255)] or [""]
    return " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in parts)


def write_zones(out, world):
    zdir = os.path.join(out, "zones")
    os.makedirs(zdir, exist_ok=True)
    zones = SERVED_TLDS + gen_policy.EXTRA_ZONES
    by_tld = {t: [] for t in zones}
    for owner, node in world.nodes.items():
        if any(owner == z or owner.endswith("." + z) for z in TIMEOUT_ZONES):
            continue
        zone = max((z for z in zones if owner == z or owner.endswith("." + z)), key=len)
        lines = by_tld[zone]
        for rtype, values in node.items():
            for v in values:
                if rtype == "MX":
                    pref, ex = v
                    v = f"{pref} {ex.rstrip('.')}."
                elif rtype == "CNAME":
                    v = v + "."
                elif rtype == "TXT":
                    v = txt_rdata(v)
                elif rtype == "TLSA":
                    v = " ".join(map(str, v))
                lines.append(f"{owner}. {rtype} {v}\n")
    for tld, lines in by_tld.items():
        with open(os.path.join(zdir, f"{tld}.zone"), "w") as fh:
            fh.write(f"$TTL 3600\n{tld}. SOA ns.{tld}. hostmaster.{tld}. 1 3600 600 86400 300\n"
                     f"{tld}. NS ns.{tld}.\nns.{tld}. A 127.0.0.1\n")
            fh.writelines(lines)
    with open(os.path.join(out, "knot-zones.txt"), "w") as fh:
        fh.writelines(t + "\n" for t in zones)
    with open(os.path.join(out, "timeout-zones.txt"), "w") as fh:
        fh.writelines(z + "\n" for z in TIMEOUT_ZONES)
    with open(os.path.join(out, "probe.txt"), "w") as fh:
        fh.write("aspmx.l.google.com A 45.100.0.26\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--domains", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    gc.disable()  # millions of small objects, no cycles: the collector only costs time here
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)

    world = World(rng)
    builder = Builder(world)
    listed, cases_of = [], {}
    counters = {}
    for case in plan(a.domains, rng):
        u, d = domain_for(world, case, rng, counters)
        getattr(builder, "case_" + case)(d)
        listed.append((u, d))
        cases_of[d] = case
    rows_by_domain = {d: expected_row(world, d, cases_of[d]) for _, d in listed}

    # the mail-policy world: its own generator, new names and domains only (the rows above stay as they are)
    prng = random.Random(f"policy:{a.seed}")
    helpers = {"GOOGLE": GOOGLE, "SYLLABLES": SYLLABLES, "SERVED_TLDS": SERVED_TLDS, "hosters": builder.hosters,
               "is_private": is_private, "is_loopback": is_loopback, "is_ip_literal": is_ip_literal}
    policy = gen_policy.PolicyWorld(world, prng, helpers)
    extra = policy.build(a.domains)
    world.exchanges.clear()
    for _, d in listed:  # nothing the policy world added may change an old row
        if expected_row(world, d, cases_of[d]) != rows_by_domain[d]:
            raise SystemExit(f"gen-world: the policy records changed the row of {d}")
    for d, case in extra:
        cases_of[d] = case
        rows_by_domain[d] = expected_row(world, d, case)
    table = {v["domain"]: v for v in gen_policy.mta_sts_table().values()}
    for d, row in rows_by_domain.items():
        row["policy"] = policy.expected(row, table)

    write_zones(a.out, world)
    gen_policy.write_tables(a.out, rows_by_domain)
    truth = write_inputs(a.out, rng, rows_by_domain, listed, [(d, d) for d, _ in extra], prng)
    fields = ["input", "domain", "rank", "status", "status_alt", "domain_cname", "null_mx", "implicit_mx",
              "mx", "provider", "provider_category", "providers", "self_hosted", "findings", "findings_mx_only",
              "case", "policy"]
    path = os.path.join(a.out, "truth.jsonl")
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        for row in truth:
            fh.write(json.dumps({k: row[k] for k in fields}, ensure_ascii=False) + "\n")
    os.replace(path + ".tmp", path)  # last: scripts/testbed takes truth.jsonl for a complete world

    counts = collections.Counter(row["case"] for row in truth)
    findings = collections.Counter(f for row in truth for f in row["findings"])
    findings_mx_only = collections.Counter(f for row in truth for f in row["findings_mx_only"])
    provider = collections.Counter(row["provider"] for row in truth if row["provider"])
    category = collections.Counter(row["provider_category"] for row in truth if row["provider_category"])
    mx_provider = collections.Counter(p for row in truth for p in row["providers"])
    summary = {"seed": a.seed, "domains": a.domains, "rows": len(truth), "cases": dict(sorted(counts.items())),
               "findings": dict(sorted(findings.items())), "findings_mx_only": dict(sorted(findings_mx_only.items())),
               "provider": dict(sorted(provider.items())), "provider_category": dict(sorted(category.items())),
               "providers_any_tier": dict(sorted(mx_provider.items())),
               "self_hosted": sum(bool(row["self_hosted"]) for row in truth), "timeout_zones": TIMEOUT_ZONES,
               "policy_findings": dict(sorted(collections.Counter(
                   f for row in truth if row["policy"] for f in row["policy"]["policy_findings"]).items())),
               "signed_zones": gen_policy.SIGNED_ZONES, "dkim_selectors": gen_policy.SELECTORS}
    with open(os.path.join(a.out, "world.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
