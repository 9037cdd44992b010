"""The mail-policy part of the test world (imported by gen-world.py): SPF, DMARC, MTA-STS, TLS-RPT,
DANE/TLSA and DKIM records, DNSSEC-signed zones, and the `policy` object of every truth row.

It runs after the MX world is built, with its own random generator (random.Random("policy:<seed>")),
so the MX world and its truth stay exactly as they were; it only adds records under new owner
names and new listed domains (appended to input.csv after the old lines).

Zones: besides the TLD zones, Knot serves `test.` (unsigned, so that DMARC tree walks of
`*.test` names end in NXDOMAIN and not REFUSED), and `policy.test.` and `dane.test.`, which
Knot signs (SIGNED_ZONES; scripts/testbed gives Unbound their keys as trust anchors, so the AD
bit is real on every answer from them and on none from the other zones).

The truth is computed from the records by a small model of each checker (functions spf_audit,
dmarc_eval, ... below), in the project's agreed semantics; what the RFCs leave open is decided
here and written down where it is decided. Where another reading is defensible the truth says so
instead of guessing: a struct may carry `alt` ({field: [other accepted values]}) and `unchecked`
([fields whose value is not predicted]), and `policy_findings_alt` lists other accepted
finding lists.

SPF void lookups (RFC 7208 §4.6.4) as modelled here, agreed with the SPF audit (src/policy/spf):
the audit walks every term as an evaluation that matches nothing would; `a` queries A and AAAA
and is void when both are empty or NXDOMAIN; `mx` queries MX, void when empty or NXDOMAIN;
`exists` queries A; `ptr` and terms with macros are counted but not queried. An include or
redirect target whose TXT query is NXDOMAIN or NOERROR-without-records is counted as a void
lookup too (it is a DNS query with no data) and is a permerror (spf_include_missing); a target
that has TXT records, none of them SPF, is NOT a void lookup (NOERROR with records) but is a
permerror just the same. The cases are built so that only one row's void count depends on the
include reading (case policy_spf_include_nxdomain: 1, or 0; `alt`). The walk stops at the 11th
counted term (the too-many cases total exactly 11, except policy_spf_lookups_14, alt 14).
"""
import base64
import hashlib
import ipaddress
import itertools
import json
import os
import re

SIGNED_ZONES = ["policy.test", "dane.test"]
EXTRA_ZONES = ["test"] + SIGNED_ZONES          # Knot serves these besides the TLD zones
EXTRA_TLDS = ["test"]                          # names under these reach Knot (Unbound: local-zone nodefault)
# The DKIM selectors this world publishes keys under: all in the scanner's built-in probe list.
SELECTORS = ["google", "selector1", "selector2", "default", "k1", "s1", "s2", "dkim", "mail"]
MTA_STS_ADDR = "127.0.80.1"                    # the loopback HTTPS test server (one virtual host per case)
FAILURES = ("servfail", "refused", "timeout")

# Fixed test keys (SubjectPublicKeyInfo DER, base64; generated once with openssl; no private halves kept)
RSA2048 = ("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA9EtpKo9RPIP8P9TS+ydbpeDSOsoHK4RrKCH4H0m4f5P/q61MXGz0R1K"
           "ckdJaZjtCB1C71m94QTRhXW7PSnLGvgep+xk3vYJR9g+tZIC2nn2aD/0G9p/5yLbnRqki7V31Z96m6xshjtDSvuwChRMVquOCD5O"
           "cAIMh8cZQOaWt6oLRBJeHSAstBPN7A3tBWLjFMG4WqppOCOi6X/6EVuPe96P559jU7YpAwAtCiQOvuW8Z1CoAnkfPzrqqLB+8p7w5"
           "6I8FXAbpWOm/qtDdYoxvdJRi5FL3EhxyIWJ0gpd3+p/iWX7lDk3db004XoM5Dg62sERSq3qcNY6f+J1hS0KryQIDAQAB")
RSA1024 = ("MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC+CHQamf2RlnsxdiuajOvfm9jjtPobZTi9o+WKwkGGeSyWJfvB+OOggrW/f3qC"
           "bvNY06uZe1KeATCmpRr+qqxoMOvTWbdYIvXlsZt2kdrKCpDwiu1TOrii/Gw18/laUVt2DuSp1voIX2FoRaEegJZ3akCRSn8xjGU5N"
           "eTA3KuIzwIDAQAB")
ED25519 = "znx+OAww1cEV4CBjEg7Jr5BAY+u3S15kWreq2Q+GkvU="   # RFC 8463: the raw 32-byte public key
KEY_BITS = {RSA2048: ("rsa", 2048), RSA1024: ("rsa", 1024), ED25519: ("ed25519", 256)}
# TLSA data: digests of the test keys (3 1 1 = SHA-256 of the SubjectPublicKeyInfo)
SPKI2048_SHA256 = hashlib.sha256(base64.b64decode(RSA2048)).hexdigest()
SPKI1024_SHA256 = hashlib.sha256(base64.b64decode(RSA1024)).hexdigest()
CA_SHA256 = hashlib.sha256(b"mxscan test-world issuing CA").hexdigest()
CERT_SHA512 = hashlib.sha512(b"mxscan test-world end-entity certificate").hexdigest()

REPORTER = "reportco.net"  # an external DMARC/TLS-RPT report service; authorises its customers

# --------------------------------------------------------------------------- MTA-STS cases
# The MTA-STS cases are the policy hosts of scripts/policy-hosts.json, the table scripts/policy-https
# serves with nginx on 127.0.80.1:443 (one virtual host per case, mta-sts.<case>.policy.test): the
# world gives each case its _mta-sts record, the policy host's address and MX records that fit its
# policy, and the truth expects what that table says the fetch gives. Two more cases fail at the
# TXT record (no fetch is made for an invalid record). DIR/mta-sts-cases.json is the resulting table
# with the expected status and findings.
HOSTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "policy-hosts.json")
TXT_ONLY_CASES = {
    "badid": ["v=STSv1; id=2026-01-01;"],                          # id with dashes: record_invalid
    "tworecords": ["v=STSv1; id=20260101;", "v=STSv1; id=20260102;"],  # two records: record_invalid
}
NO_TLSRPT = {"testing", "lf"}  # MTA-STS without TLS-RPT (mta_sts_without_tlsrpt)


def mta_sts_table():
    """case -> {domain, host, address, txt, mx, body, server, fetch_ok, tlsrpt}."""
    with open(HOSTS_FILE, encoding="utf-8") as fh:
        hosts = json.load(fh)
    zone, table = hosts["zone"], {}
    assert zone == "policy.test", zone
    for e in hosts["hosts"]:
        case = e["case"]
        d = f"{case}.{zone}"
        eol = "\n" if e.get("eol") == "lf" else "\r\n"
        lines = e.get("policy", [])
        body = "".join(line + eol for line in lines)
        mx, pref = [], 10
        for line in lines:  # exchanges the patterns under the domain cover (a wildcard: one label added)
            if line.startswith("mx:"):
                pat = line.split(":", 1)[1].strip()
                if pat.endswith("." + d):
                    mx.append((pref, "a" + pat[1:] if pat.startswith("*.") else pat))
                    pref += 10
        if case == "wildcard":  # two labels under a one-label wildcard: not covered
            mx.append((pref, "a.b.mx.wildcard.policy.test"))
        table[case] = {"domain": d, "host": f"mta-sts.{d}", "address": e.get("address", hosts["address"]),
                       "txt": [f"v=STSv1; id={case.replace('-', '')}20260101;"], "mx": mx or [(10, f"mx.{d}")],
                       "body": body, "server": {k: v for k, v in e.items() if k not in ("case", "policy")},
                       "fetch_ok": e["fetch"] == "ok", "tlsrpt": case not in NO_TLSRPT}
    for case, txt in TXT_ONLY_CASES.items():
        d = f"{case}.{zone}"
        table[case] = {"domain": d, "host": f"mta-sts.{d}", "address": hosts["address"], "txt": txt,
                       "mx": [(10, f"mx.{d}")], "body": None, "server": {"serve": False, "note": "no fetch"},
                       "fetch_ok": False, "tlsrpt": True}
    return table


# --------------------------------------------------------------------------- small parsers (the model)

MACRO_LETTERS = set("slodiphcrtv")


def macro_ok(spec):
    """RFC 7208 §7.1 macro-string: %{letter[digits][r][delims]}, %%, %_, %-."""
    i = 0
    while i < len(spec):
        if spec[i] == "%":
            nxt = spec[i + 1:i + 2]
            if nxt in ("%", "_", "-"):
                i += 2
                continue
            m = re.match(r"\{([a-zA-Z])(\d*)(r?)([.\-+,/_=]*)\}", spec[i + 1:])
            if nxt != "{" or not m or m.group(1).lower() not in MACRO_LETTERS:
                return False
            i += 1 + m.end()
            continue
        i += 1
    return True


class SpfSyntax(Exception):
    pass


def spf_parse(record):
    """[(qualifier, kind, arg)] for mechanisms and ('', 'redirect'|'exp'|'mod', arg) for modifiers."""
    terms = record.split()
    if not terms or terms[0].lower() != "v=spf1":
        raise SpfSyntax("not v=spf1")
    out = []
    for t in terms[1:]:
        m = re.fullmatch(r"([a-zA-Z][a-zA-Z0-9_.\-]*)=(.*)", t)
        if m:
            name, arg = m.group(1).lower(), m.group(2)
            if not macro_ok(arg):
                raise SpfSyntax(t)
            out.append(("", name if name in ("redirect", "exp") else "mod", arg))
            continue
        q = t[0] if t[0] in "+-~?" else "+"
        body = t[1:] if t[0] in "+-~?" else t
        kind, _, arg = body.partition(":")
        kind = kind.lower()
        if "/" in kind:  # a/24, mx/24
            kind, cidr = kind.split("/", 1)
            arg = None if not arg else arg
        if kind == "all":
            if arg:
                raise SpfSyntax(t)
        elif kind in ("include", "exists"):
            if not arg or not macro_ok(arg):
                raise SpfSyntax(t)
        elif kind in ("a", "mx", "ptr"):
            if arg:
                spec = arg.split("/")[0]
                if not macro_ok(spec):
                    raise SpfSyntax(t)
                arg = spec
        elif kind in ("ip4", "ip6"):
            addr, _, cidr = (arg or "").partition("/")
            try:
                ip = ipaddress.ip_address(addr)
            except ValueError:
                raise SpfSyntax(t)
            if ip.version != int(kind[2]) or (cidr and not (cidr.isdigit() and int(cidr) <= ip.max_prefixlen)):
                raise SpfSyntax(t)
        else:
            raise SpfSyntax(t)
        out.append((q, kind, arg))
    return out


def is_spf(txt):
    return txt[:6].lower() == "v=spf1" and (len(txt) == 6 or txt[6] == " ")


def tags(record):
    """DMARC/STS/TLS-RPT/DKIM tag list: [(name, value)] in order (whitespace around ';' and '=')."""
    out = []
    for part in record.split(";"):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        out.append((name.strip(), value.strip() if eq else None))
    return out


def org_of(name):
    labels = name.split(".")
    n = 3 if name.endswith(".co.uk") else 2
    return ".".join(labels[-n:])


# --------------------------------------------------------------------------- the policy world

class PolicyWorld:
    def __init__(self, world, rng, helpers):
        self.w = world
        self.rng = rng
        self.h = helpers          # gen-world's functions and tables (GOOGLE, PROVIDER_SETS, is_private, ...)
        self.cases = []           # (listed domain, case) in list order
        self.dkim_free = set()    # domains built without DKIM keys
        self.counter = 0
        self.hosters = [x for x in helpers["hosters"]]
        self.infrastructure()

    # names --------------------------------------------------------------------------------------
    def fresh(self, tld, prefix=""):
        syl = self.h["SYLLABLES"]
        suffix = "co.uk" if tld == "uk" else tld
        while True:
            label = prefix + "".join(self.rng.choice(syl) for _ in range(self.rng.randint(2, 3)))
            label += str(self.rng.randint(1, 9999))
            name = f"{label}.{suffix}"
            if name not in self.w.used and name not in self.w.names:
                self.w.used.add(name)
                return name

    def host(self, name, v4=1, v6=0):
        """An address-bearing host (idempotent). Every address is in a /24 (and /48) of its own, so
        that single_network shows only where a case builds it."""
        if not self.w.has(name):
            for _ in range(v4):
                self.counter += 1
                self.w.add(name, "A", f"46.{(self.counter >> 8) & 255}.{self.counter & 255}.25")
            for _ in range(v6):
                self.counter += 1
                self.w.add(name, "AAAA", f"2a02:c7f:{self.counter:x}::25")
        return name

    def addr(self):
        self.counter += 1
        return f"46.{(self.counter >> 8) & 255}.{self.counter & 255}.25"

    def txt(self, owner, value):
        self.w.add(owner, "TXT", value)

    def mx(self, d, records):
        for pref, ex in records:
            self.w.add(d, "MX", (pref, ex))

    # shared infrastructure ------------------------------------------------------------------------
    def infrastructure(self):
        w = self.w
        # Google's SPF: 1 + 3 lookups for an include:_spf.google.com
        self.txt("_spf.google.com", "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com "
                                    "include:_netblocks3.google.com ~all")
        self.txt("_netblocks.google.com", "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ~all")
        self.txt("_netblocks2.google.com", "v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ~all")
        self.txt("_netblocks3.google.com", "v=spf1 ip4:172.217.0.0/19 ip4:108.177.96.0/19 ~all")
        self.txt("spf.protection.outlook.com", "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip6:2a01:111:f400::/48 -all")
        # a hoster's SPF: 1 + 2 lookups
        self.txt("_spf.mailhost-eu.com", "v=spf1 include:_s1.mailhost-eu.com include:_s2.mailhost-eu.com ~all")
        self.txt("_s1.mailhost-eu.com", "v=spf1 ip4:45.210.1.0/24 -all")
        self.txt("_s2.mailhost-eu.com", "v=spf1 ip4:45.210.2.0/24 ip6:2a01:4f9:10::/48 -all")
        # a big provider: exactly 10 DNS-querying terms for include:_spf.mailhost-big.com (1 include, 4 nested
        # includes, 1 mx, 4 a), none of them void
        big = ["v=spf1"] + [f"include:_n{i}.mailhost-big.com" for i in range(1, 5)] + ["mx:mailhost-big.com", "~all"]
        self.txt("_spf.mailhost-big.com", " ".join(big))
        for i in range(1, 5):
            self.txt(f"_n{i}.mailhost-big.com", f"v=spf1 a:out{i}.mailhost-big.com ip4:45.211.{i}.0/24 ~all")
            self.host(f"out{i}.mailhost-big.com", v4=1)
        w.add("mailhost-big.com", "MX", (10, self.host("mx.mailhost-big.com", v4=1)))
        self.txt("mailhost-big.com", "v=spf1 include:_spf.mailhost-big.com -all")
        # the report service: its own mail, and rua/TLS-RPT destinations
        self.mx(REPORTER, [(10, self.host(f"mx.{REPORTER}", v4=1))])
        # DANE's shared exchanges
        for i in (1, 2):
            self.host(f"mx{i}.shared.dane.test", v4=1, v6=1)
        self.tlsa("mx1.shared.dane.test", [(3, 1, 1, SPKI2048_SHA256)])
        self.tlsa("mx2.shared.dane.test", [(3, 1, 1, SPKI2048_SHA256), (3, 1, 1, SPKI1024_SHA256)])

    def tlsa(self, exchange, records):
        for r in records:
            self.w.add(f"_25._tcp.{exchange}", "TLSA", r)

    # building blocks of a domain --------------------------------------------------------------------
    def healthy_mx(self, d, kind=None):
        """(MX records, SPF record) of a typical domain: its provider and the SPF that goes with it."""
        h, w = self.h, self.w
        kind = kind or self.rng.choices(["google", "microsoft", "hoster", "self", "big"], [30, 25, 20, 15, 10])[0]
        if kind == "google":
            return list(h["GOOGLE"]), "v=spf1 include:_spf.google.com ~all"
        if kind == "microsoft":
            ex = f"{d.replace('.', '-')}.mail.protection.outlook.com"
            if not w.has(ex):
                w.add(ex, "A", f"52.101.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}")
                w.add(ex, "A", f"52.102.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}")
            return [(0, ex)], "v=spf1 include:spf.protection.outlook.com -all"
        if kind == "hoster":
            hoster = self.rng.choice(self.hosters)
            return [(10, f"mx1.{hoster}"), (20, f"mx2.{hoster}")], "v=spf1 include:_spf.mailhost-eu.com -all"
        if kind == "big":
            return [(10, "mx.mailhost-big.com")], "v=spf1 include:_spf.mailhost-big.com -all"
        self.host(f"mail.{d}", v4=1, v6=self.rng.randint(0, 1))
        w.add(d, "A", self.addr())
        spf = self.rng.choice(["v=spf1 mx -all", "v=spf1 a mx -all", f"v=spf1 mx ip4:{self.addr()} -all"])
        return [(10, f"mail.{d}")], spf

    def dmarc(self, d, p=None, rua="own", extra=""):
        p = p or self.rng.choices(["reject", "quarantine", "none"], [45, 35, 20])[0]
        rec = f"v=DMARC1; p={p}"
        if rua == "own":
            rec += f"; rua=mailto:dmarc@{d}"
        elif rua == "reporter":
            rec += f"; rua=mailto:agg+{d.replace('.', '-')}@{REPORTER}"
            self.txt(f"{d}._report._dmarc.{REPORTER}", "v=DMARC1")
        elif rua:
            rec += f"; rua={rua}"
        self.txt(f"_dmarc.{d}", rec + extra)

    def dkim(self, d, selector, key=RSA2048, extra=""):
        k = "ed25519" if key == ED25519 else "rsa"
        self.txt(f"{selector}._domainkey.{d}", f"v=DKIM1; k={k};{extra} p={key}")

    def tlsrpt(self, d, rua=None):
        self.txt(f"_smtp._tls.{d}", f"v=TLSRPTv1; rua={rua or f'mailto:tlsrpt@{d}'}")

    def domain(self, case, d=None, tld=None, mx_kind=None, spf=True, dmarc=True, dkim=True, tlsrpt=None):
        """A listed domain with typical records; each argument turns a part off or fixes it."""
        if d is None:
            d = self.fresh(tld or self.rng.choices(["com", "net", "org", "de", "uk", "io"], [50, 10, 10, 15, 8, 7])[0])
        records, spf_rec = self.healthy_mx(d, mx_kind)
        self.mx(d, records)
        if spf is True:
            self.txt(d, spf_rec)
        elif spf:
            for rec in ([spf] if isinstance(spf, (str, tuple)) else spf):
                self.txt(d, rec)
        if dmarc is True:
            self.dmarc(d, rua=self.rng.choice(["own", "own", "reporter", None]))
        elif dmarc:
            self.txt(f"_dmarc.{d}", dmarc)
        if dkim is True:
            if mx_kind == "google" or (mx_kind is None and records[0][1] == "aspmx.l.google.com"):
                self.dkim(d, "google")
            elif records[0][1].endswith("outlook.com"):
                self.dkim(d, "selector1")
                self.dkim(d, "selector2")
            else:
                sel = self.rng.choice(["default", "k1", "s1", "dkim", "mail"])
                self.dkim(d, sel, self.rng.choice([RSA2048, RSA2048, RSA1024, ED25519]))
                if self.rng.random() < 0.2:
                    self.dkim(d, "s2", ED25519)
        else:
            self.dkim_free.add(d)
        if tlsrpt is None:
            tlsrpt = self.rng.random() < 0.3
        if tlsrpt:
            self.tlsrpt(d, self.rng.choice([None, f"https://tlsrpt.{REPORTER}/v1/report"]))
        self.cases.append((d, case))
        return d

    # the cases ----------------------------------------------------------------------------------------
    def build(self, n):
        """Add every policy case (most several times) and the typical policy-carrying domains."""
        dom = self.domain
        w = self.w
        for _ in range(max(150, min(1000, n // 30))):
            dom("policy_good")
        for _ in range(2):
            dom("policy_spf_exactly_10", mx_kind="big")
        # SPF
        for _ in range(3):
            dom("policy_spf_none", spf=False, dmarc="v=DMARC1; p=quarantine")
        for _ in range(2):
            dom("policy_spf_neutral_all", spf="v=spf1 mx ?all")
            dom("policy_spf_plus_all", spf="v=spf1 +all")
            dom("policy_spf_bare_all", spf="v=spf1 a mx all")
            dom("policy_spf_no_all", spf="v=spf1 mx a")
            dom("policy_spf_ptr", spf="v=spf1 ptr mx -all")
            dom("policy_spf_multiple", spf=["v=spf1 mx -all", "v=spf1 include:_spf.google.com ~all"])
            dom("policy_spf_redirect", spf="v=spf1 redirect=_spf.mailhost-eu.com")
        for bad in ["v=spf1 mx foo:mail.example.com -all", "v=spf1 ip4:1.2.3.4/33 -all",
                    "v=spf1 exists:%{z}.spf.example.com -all", "v=spf1 a:%{ir.example.com -all"]:
            dom("policy_spf_syntax_error", spf=bad)
        for _ in range(3):
            dom("policy_spf_too_many_lookups", spf="v=spf1 include:_spf.mailhost-big.com a -all")
        dom("policy_spf_lookups_14", spf="v=spf1 include:_spf.google.com include:_spf.mailhost-big.com -all")
        for i in range(2):  # three void lookups: permerror
            d = self.fresh("com")
            w.add(f"txtonly.{d}", "TXT", "not an address")
            dom("policy_spf_too_many_void_lookups", d=d,
                spf=f"v=spf1 a:gone1.{d} mx:gone2.{d} a:txtonly.{d} ip4:{self.addr()} -all")
        d = self.fresh("net")  # exactly two: fine
        w.add(f"txtonly.{d}", "TXT", "not an address")
        dom("policy_spf_two_void_lookups", d=d, spf=f"v=spf1 mx exists:gone.{d} a:txtonly.{d} -all")
        for _ in range(2):  # the include target has TXT, none SPF: not void, but a permerror
            target = f"_spf.{self.fresh('com', prefix='spfgone')}"
            self.txt(target, "google-site-verification=Xy3v")
            dom("policy_spf_include_missing", spf=f"v=spf1 include:{target} -all")
        dom("policy_spf_include_nxdomain", spf=f"v=spf1 mx include:_spf.{self.fresh('org', prefix='gone')} -all")
        dom("policy_spf_temperror", spf="v=spf1 include:_spf.lame-dns-1.com -all")
        dom("policy_spf_temperror", spf="v=spf1 mx include:spf.lame-dns-2.org ~all")
        # one record of more than 1232 bytes (six strings in one TXT RR): TC over UDP, whole over TCP
        long = "v=spf1 " + " ".join(f"ip4:45.220.{i // 250}.{i % 250 + 1}" for i in range(90)) + " -all"
        dom("policy_spf_long_record", spf=(long,))
        # null MX
        for spf in ["v=spf1 include:_spf.google.com ~all", f"v=spf1 ip4:{self.addr()} -all", None]:
            d = self.fresh("com")
            self.mx(d, [(0, ".")])
            if spf:
                self.txt(d, spf)
            else:
                self.txt(d, "v=spf1 -all")
            self.dmarc(d, p="reject")
            self.cases.append((d, "policy_null_mx_spf_allows" if spf else "policy_null_mx_spf_deny"))
            self.dkim_free.add(d)
        # DMARC
        for _ in range(2):
            dom("policy_dmarc_missing", dmarc=False)
            d = dom("policy_dmarc_policy_none", dmarc=False)
            self.dmarc(d, p="none")
        for _ in range(2):
            d = dom("policy_dmarc_partial_pct", dmarc=False)
            self.txt(f"_dmarc.{d}", f"v=DMARC1; p=quarantine; pct=50; rua=mailto:dmarc@{d}")
        d = dom("policy_dmarc_retired_tags", dmarc=False)
        self.txt(f"_dmarc.{d}", f"v=DMARC1; p=reject; pct=100; rf=afrf; ri=3600; rua=mailto:dmarc@{d}")
        for _ in range(2):
            d = dom("policy_dmarc_multiple_records", dmarc=False)
            self.txt(f"_dmarc.{d}", "v=DMARC1; p=reject")
            self.txt(f"_dmarc.{d}", f"v=DMARC1; p=none; rua=mailto:dmarc@{d}")
        d = dom("policy_dmarc_v_not_first", dmarc=False)
        self.txt(f"_dmarc.{d}", f"p=reject; v=DMARC1; rua=mailto:dmarc@{d}")
        dom("policy_dmarc_bad_p", dmarc="v=DMARC1; p=block")
        dom("policy_dmarc_bad_rua", dmarc="v=DMARC1; p=reject; rua=dmarc-reports.example.com")
        d = dom("policy_dmarcbis_tags", dmarc=False)
        self.txt(f"_dmarc.{d}", f"v=DMARC1; p=quarantine; sp=reject; np=reject; psd=n; t=y; adkim=s; aspf=s; "
                                f"rua=mailto:dmarc@{d}")
        for _ in range(2):
            d = dom("policy_dmarc_rua_authorized", dmarc=False)
            self.dmarc(d, p="reject", rua="reporter")
            d = dom("policy_dmarc_rua_unauthorized", dmarc=False)
            self.txt(f"_dmarc.{d}", f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{d},mailto:agg@{REPORTER}")
        for _ in range(2):  # the record only at the organisational domain (tree walk and RFC 7489 agree)
            org = self.fresh("com")
            self.dmarc(org, p="reject", extra="; sp=quarantine")
            dom("policy_dmarc_at_parent", d=f"mail.{org}", dmarc=False)
        # the tree walk finds _dmarc.b.<org>; RFC 7489 goes straight to _dmarc.<org>
        org = self.fresh("net")
        self.dmarc(org, p="reject")
        # psd=n makes b.<org> the organisational domain for RFC 9989's walk, while the Public Suffix
        # List (RFC 7489) says <org>: the two rules find different records.
        self.dmarc(f"b.{org}", p="quarantine", extra="; psd=n")
        dom("policy_dmarc_tree_walk_differs", d=f"a.b.{org}", dmarc=False)
        for _ in range(2):  # p=reject, no SPF, no DKIM key
            dom("policy_dmarc_reject_without_auth", spf=False, dkim=False, dmarc="v=DMARC1; p=reject")
        # TLS-RPT
        dom("policy_tlsrpt_https", tlsrpt=False)
        self.tlsrpt(self.cases[-1][0], f"https://tlsrpt.{REPORTER}/v1/report")
        d = dom("policy_tlsrpt_mailto", tlsrpt=False)
        self.tlsrpt(d, f"mailto:tlsrpt@{d},mailto:tls@{REPORTER}")
        d = dom("policy_tlsrpt_bad_scheme", tlsrpt=False)
        self.txt(f"_smtp._tls.{d}", f"v=TLSRPTv1; rua=ftp://reports.{REPORTER}/tls")
        d = dom("policy_tlsrpt_two_records", tlsrpt=False)
        self.tlsrpt(d)
        self.tlsrpt(d, f"mailto:tls@{REPORTER}")
        # DKIM
        d = dom("policy_dkim_revoked", mx_kind="self", dkim=False)
        self.dkim(d, "k1", key="")
        self.dkim(d, "s1", RSA1024)
        for _ in range(2):
            d = dom("policy_dkim_testing", mx_kind="self", dkim=False)
            self.dkim(d, "default", RSA2048, extra=" t=y;")
        d = dom("policy_dkim_bad_base64", mx_kind="self", dkim=False)
        self.txt(f"dkim._domainkey.{d}", "v=DKIM1; k=rsa; p=MIIBIjANBgkq!!not*base64")
        d = dom("policy_dkim_unknown_k", mx_kind="self", dkim=False)
        self.txt(f"mail._domainkey.{d}", f"v=DKIM1; k=dsa; p={RSA1024}")
        d = dom("policy_dkim_ed25519", mx_kind="self", dkim=False)
        self.dkim(d, "default", ED25519)
        self.dkim(d, "s1", RSA2048)
        # MTA-STS under policy.test (signed)
        for case, spec in mta_sts_table().items():
            d = spec["domain"]
            for pref, ex in spec["mx"]:
                if not w.has(ex):
                    self.host(ex, v4=1)
            self.mx(d, spec["mx"])
            self.txt(d, "v=spf1 mx -all")
            self.dmarc(d, p="reject")
            for rec in spec["txt"]:
                self.txt(f"_mta-sts.{d}", rec)
            w.add(f"mta-sts.{d}", "A", spec["address"])
            if spec["tlsrpt"]:
                self.tlsrpt(d)
            self.dkim_free.add(d)
            self.cases.append((d, f"policy_mta_sts_{case}"))
        # MX topology (the same rules also apply to every old row)
        for _ in range(2):
            d = self.fresh("com")
            self.txt(f"mx0.{d}", "v=spf1 -all")  # exists, no address: nolisting (and mx_no_address)
            self.mx(d, [(10, f"mx0.{d}"), (20, self.host(f"mx1.{d}"))])
            self.std_policy(d, "policy_nolisting")
            d = self.fresh("de")
            self.mx(d, [(10, self.host(f"mx1.{d}")), (10, self.host(f"mx2.{d}", v6=1))])
            self.std_policy(d, "policy_no_fallback_tier")
            d = self.fresh("net")  # two hosts in one /24 and one /48
            for i, last in ((1, 10), (2, 11)):
                w.add(f"mx{i}.{d}", "A", f"47.{self.counter & 255}.{(self.counter >> 8) & 255}.{last}")
                w.add(f"mx{i}.{d}", "AAAA", f"2a03:b0c0:{self.counter:x}:{i}::25")
            self.counter += 1
            self.mx(d, [(10, f"mx1.{d}"), (20, f"mx2.{d}")])
            self.std_policy(d, "policy_single_network")
        # DANE under dane.test (signed) and in unsigned zones
        shared = [(10, "mx1.shared.dane.test"), (20, "mx2.shared.dane.test")]
        for i in range(1, 4):
            self.dane_domain(f"ee{i}.dane.test", "policy_dane_ee", shared)
        self.dane_domain("ta.dane.test", "policy_dane_ta", own=[(2, 0, 1, CA_SHA256)])
        self.dane_domain("pkixee.dane.test", "policy_dane_pkix", own=[(1, 1, 1, SPKI2048_SHA256)])
        self.dane_domain("pkixta.dane.test", "policy_dane_pkix", own=[(0, 0, 1, CA_SHA256), (3, 1, 1, SPKI2048_SHA256)])
        self.dane_domain("short.dane.test", "policy_dane_bad_digest", own=[(3, 1, 1, SPKI2048_SHA256[:40])])
        self.dane_domain("sha512.dane.test", "policy_dane_bad_digest", own=[(3, 1, 2, SPKI2048_SHA256)])
        self.dane_domain("full.dane.test", "policy_dane_sha512", own=[(3, 0, 2, CERT_SHA512)])
        # a signed MX to an exchange in an unsigned zone that has TLSA: the TLSA is not authenticated
        ex = f"mx.{self.fresh('com', prefix='relay')}"
        self.host(ex, v4=1)
        self.tlsa(ex, [(3, 1, 1, SPKI2048_SHA256)])
        self.dane_domain("unsignedmx.dane.test", "policy_dane_tlsa_unsigned", [(10, ex)])
        # an unsigned domain whose exchanges (signed, with TLSA) are DANE-ready: the MX is not authenticated
        for _ in range(2):
            self.dane_domain(self.fresh("com"), "policy_dane_mx_unsigned", shared)
        # nothing signed: both DANE authentication findings (the literal reading of both rules)
        d = self.fresh("net")
        self.host(f"mail.{d}", v4=1)
        self.tlsa(f"mail.{d}", [(3, 1, 1, SPKI2048_SHA256)])
        self.dane_domain(d, "policy_dane_unsigned", [(10, f"mail.{d}")])
        return self.cases

    def dane_domain(self, d, case, mx=None, own=None):
        if own:
            ex = f"mx.{d}"
            self.host(ex, v4=1, v6=1)
            self.tlsa(ex, own)
            mx = [(10, ex)]
        self.mx(d, mx)
        self.std_policy(d, case)

    def std_policy(self, d, case):
        """SPF, DMARC and TLS-RPT that raise no finding, no DKIM key."""
        self.txt(d, "v=spf1 mx -all")
        self.dmarc(d, p="reject")
        self.tlsrpt(d)
        self.dkim_free.add(d)
        self.cases.append((d, case))

    # --------------------------------------------------------------------------- the model: DNS answers
    def zone_of(self, name):
        best = None
        for z in self.h["SERVED_TLDS"] + EXTRA_ZONES:
            if (name == z or name.endswith("." + z)) and (best is None or len(z) > len(best)):
                best = z
        return best

    def answer(self, name, rtype):
        """(status, values, authenticated): values joined for TXT; AD as Unbound sets it."""
        chain = [name]
        st, values, cname = self.w.lookup(name, rtype)
        seen = name
        for _ in range(16):  # the CNAME chain, for AD: every owner on it must be in a signed zone
            node = self.w.nodes.get(seen)
            if not node or "CNAME" not in node:
                break
            seen = node["CNAME"][0]
            chain.append(seen)
        ad = st not in FAILURES and all(signed(n) for n in chain)
        if rtype == "TXT":
            values = ["".join(v) if isinstance(v, tuple) else v for v in values]
        return st, values, ad

    # --------------------------------------------------------------------------- the model: SPF
    def spf_audit(self, domain):
        res = {"status": "none", "all": None, "lookups": 0, "void_lookups": 0, "includes": [], "findings": []}
        st, txts, _ = self.answer(domain, "TXT")
        if st in FAILURES:
            res.update(status="temperror", findings=["spf_temperror"])
            return res
        recs = [t for t in txts if is_spf(t)]
        if not recs:
            return res
        unknowable = ["all", "lookups", "void_lookups", "includes"]
        if len(recs) > 1:
            res.update(status="permerror", findings=["spf_multiple_records"], unchecked=unknowable)
            return res
        try:
            terms = spf_parse(recs[0])
        except SpfSyntax:
            res.update(status="permerror", findings=["spf_syntax_error"], unchecked=unknowable)
            return res
        alls = [q for q, k, _ in terms if k == "all"]
        res["all"] = alls[0] if alls else None
        res["includes"] = [a for _, k, a in terms if k in ("include", "redirect")]
        state = {"lookups": 0, "void": 0, "void_alt": 0, "limit": 10}
        findings = set()
        if res["all"] in ("+",):
            findings.add("spf_plus_all")
        if res["all"] == "?":
            findings.add("spf_neutral_all")
        if not alls and not any(k == "redirect" for _, k, _ in terms):
            findings.add("spf_no_all")
        try:
            self.spf_walk(domain, terms, state, findings)
            res["status"] = "ok"
        except SpfStop as stop:
            res["status"] = stop.status
            findings.add(stop.code)
        res.update(lookups=state["lookups"], void_lookups=state["void"], findings=sorted(findings))
        if state["void_alt"] != state["void"]:
            res["alt"] = {"void_lookups": [state["void_alt"]]}
        if "spf_too_many_lookups" in findings:  # the walk stops at the 11th; the whole tree may hold more
            full = {"lookups": 0, "void": 0, "void_alt": 0, "limit": 255}
            try:
                self.spf_walk(domain, terms, full, set())
            except SpfStop:
                pass
            if full["lookups"] != res["lookups"]:
                res["alt"] = {"lookups": [full["lookups"]]}
        return res

    def spf_walk(self, domain, terms, state, findings):
        has_all = any(k == "all" for _, k, _ in terms)
        order = [t for t in terms if t[1] not in ("redirect", "exp", "mod")]
        if not has_all:
            order += [t for t in terms if t[1] == "redirect"]
        for q, kind, arg in order:
            if kind in ("include", "a", "mx", "ptr", "exists", "redirect"):
                state["lookups"] += 1
                if state["lookups"] > state["limit"]:
                    raise SpfStop("permerror", "spf_too_many_lookups")
            if kind == "ptr":
                findings.add("spf_ptr")
            if kind in ("include", "redirect"):
                st, txts, _ = self.answer(arg, "TXT")
                if st in FAILURES:
                    raise SpfStop("temperror", "spf_temperror")
                recs = [t for t in txts if is_spf(t)]
                if not recs:
                    if st == "nxdomain" or not txts:
                        self.void(state, alt_counts=False)
                    raise SpfStop("permerror", "spf_include_missing")
                if len(recs) > 1:
                    raise SpfStop("permerror", "spf_multiple_records")
                try:
                    inner = spf_parse(recs[0])
                except SpfSyntax:
                    raise SpfStop("permerror", "spf_syntax_error")
                self.spf_walk(arg, inner, state, set())  # ptr/all inside includes are not the record's own
            elif kind in ("a", "mx", "exists"):
                target = arg or domain
                if "%" in target:
                    continue
                if kind == "a":
                    s4, v4, _ = self.answer(target, "A")
                    s6, v6, _ = self.answer(target, "AAAA")
                    if s4 in FAILURES or s6 in FAILURES:
                        raise SpfStop("temperror", "spf_temperror")
                    void = not v4 and not v6
                else:
                    s, v, _ = self.answer(target, "MX" if kind == "mx" else "A")
                    if s in FAILURES:
                        raise SpfStop("temperror", "spf_temperror")
                    void = not v
                if void:
                    self.void(state, alt_counts=True)

    @staticmethod
    def void(state, alt_counts):
        state["void"] += 1
        state["void_alt"] += 1 if alt_counts else 0
        if state["void"] > 2:
            raise SpfStop("permerror", "spf_too_many_void_lookups")

    # --------------------------------------------------------------------------- the model: DMARC
    def dmarc_eval(self, domain):
        res = {k: None for k in ("status", "found_at", "p", "sp", "np", "pct", "adkim", "aspf", "t", "psd")}
        res.update(status="none", rua=[], rua_unauthorized=[])
        walk = self.tree_walk(domain)
        found_all = []
        for name in walk:
            st, txts, _ = self.answer(name, "TXT")
            if st in FAILURES:
                res["status"] = "temperror"
                return res, []
            recs = [t for t in txts if any(n == "v" and v == "DMARC1" for n, v in tags(t))]
            if recs:
                found_all.append((name, recs))
                # The domain's own record ends the walk, and so does one with psd=y or psd=n.
                if name == walk[0] or dict(tags(recs[0])).get("psd") in ("y", "n"):
                    break
        if not found_all:
            return res, ["dmarc_missing"]
        # RFC 9989 policy discovery: the Author Domain's record; otherwise the Organizational Domain's,
        # which the walk identifies as the record with psd=n, the one one label below a psd=y record,
        # or else the one at the name with the fewest labels (the last the walk found).
        if found_all[0][0] == walk[0]:
            name, recs = found_all[0]
        else:
            name, recs = found_all[-1]
            if dict(tags(recs[0])).get("psd") == "y":
                below = [f for f in found_all if f[0].count(".") == name.count(".") + 1]
                if below:
                    name, recs = below[0]
        res["found_at"] = name
        org = f"_dmarc.{org_of(domain)}"
        if name != f"_dmarc.{domain}" and org != name and org in walk:
            _, otx, _ = self.answer(org, "TXT")
            orecs = [t for t in otx if t.startswith("v=DMARC1")]
            if orecs:
                p7489 = dict(tags(orecs[0])).get("p")
                res["rfc7489"] = {"found_at": org, "p": p7489}
        fields = ["p", "sp", "np", "pct", "adkim", "aspf", "t", "psd", "rua", "rua_unauthorized"]
        if len(recs) > 1:  # none applies: where it was found may be reported or not
            res.update(status="invalid", unchecked=fields, alt={"found_at": [None]})
            return res, ["dmarc_multiple_records"]
        tl = tags(recs[0])
        tv = dict(tl)
        bad = tl[0] != ("v", "DMARC1") or tv.get("p") not in ("none", "quarantine", "reject")
        rua = [u.strip() for u in tv["rua"].split(",")] if tv.get("rua") else []
        if any(not re.fullmatch(r"mailto:[^@\s]+@[a-z0-9.\-]+(![0-9]+[kmgt]?)?|https://\S+", u) for u in rua):
            bad = True
        if bad:
            res.update(status="invalid", unchecked=fields, alt={"found_at": [None]})
            return res, ["dmarc_syntax_error"]
        res.update(status="ok", p=tv.get("p"), sp=tv.get("sp"), np=tv.get("np"), adkim=tv.get("adkim"),
                   aspf=tv.get("aspf"), psd=tv.get("psd"), rua=rua)
        res["pct"] = int(tv["pct"]) if "pct" in tv else None
        res["t"] = {"y": True, "n": False}[tv["t"]] if "t" in tv else None
        res["alt"] = {k: v for k, v in {"sp": [res["p"]] if res["sp"] is None else None,
                                        "np": [res["sp"] or res["p"]] if res["np"] is None else None,
                                        "adkim": ["r"] if res["adkim"] is None else None,
                                        "aspf": ["r"] if res["aspf"] is None else None,
                                        "t": [False] if res["t"] is None else None,
                                        "psd": ["u"] if res["psd"] is None else None}.items() if v}
        owner = name[len("_dmarc."):]
        for u in rua:
            if u.startswith("mailto:"):
                host = u.split("@", 1)[1].split("!")[0]
                if org_of(host) != org_of(owner):
                    _, auth, _ = self.answer(f"{owner}._report._dmarc.{host}", "TXT")
                    if not any(a.startswith("v=DMARC1") for a in auth):
                        res["rua_unauthorized"].append(u)
        findings = []
        if res["p"] == "none":
            findings.append("dmarc_policy_none")
        if res["pct"] is not None and res["pct"] < 100:
            findings.append("dmarc_partial_pct")
        if any(k in tv for k in ("pct", "rf", "ri")):
            findings.append("dmarc_retired_tag")
        if res["rua_unauthorized"]:
            findings.append("dmarc_rua_unauthorized")
            res.setdefault("alt", {})["rua_unauthorized"] = [[u.split("@", 1)[1] for u in res["rua_unauthorized"]]]
        return res, findings

    @staticmethod
    def tree_walk(domain):
        """RFC 9989 §4.10: _dmarc.<domain>, then its parents up to the top-level domain, at most 8
        queries (a name of more than 7 labels skips to its 7 right-most)."""
        labels = domain.split(".")
        names = [domain]
        start = labels[-7:] if len(labels) > 7 else labels[1:]
        for i in range(len(start)):
            names.append(".".join(start[i:]))
        return [f"_dmarc.{n}" for n in dict.fromkeys(names)][:8]

    # --------------------------------------------------------------------------- the model: the rest
    def mta_sts_eval(self, domain, row, table_by_domain):
        res = {"status": "none", "id": None, "mode": None, "max_age": None, "mx_patterns": [], "mx_uncovered": [],
               "patterns_unused": [], "mx_coverage": None}
        st, txts, _ = self.answer(f"_mta-sts.{domain}", "TXT")
        if st in FAILURES:
            res["status"] = "temperror"
            return res, []
        recs = [t for t in txts if t.startswith("v=STSv1")]
        if not recs:
            return res, []
        policy_fields = ["mode", "max_age", "mx_patterns", "mx_uncovered", "patterns_unused", "mx_coverage"]
        if len(recs) > 1:
            res.update(status="record_invalid", unchecked=["id"] + policy_fields)
            return res, ["mta_sts_record_invalid"]
        tv = dict(tags(recs[0]))
        res["id"] = tv.get("id")
        if not re.fullmatch(r"[A-Za-z0-9]{1,32}", tv.get("id") or ""):
            res.update(status="record_invalid", unchecked=policy_fields, alt={"id": [None]})
            return res, ["mta_sts_record_invalid"]
        spec = table_by_domain[domain]
        server = spec["server"]
        if not spec["fetch_ok"]:
            res.update(status="fetch_failed")
            if server.get("cert") == "expired":  # its notAfter is seen, and it is within 14 days (past)
                res["findings_alt"] = ["mta_sts_cert_expiring"]
            return res, ["mta_sts_policy_unavailable"]
        policy = {}
        patterns = []
        for line in spec["body"].replace("\r\n", "\n").split("\n"):
            if not line:
                continue
            k, _, v = line.partition(":")
            k, v = k.strip(), v.strip()
            if k == "mx":
                patterns.append(v)
            elif k not in policy:  # a repeated field: the first wins (RFC 8461 §3.2)
                policy[k] = v
        mode = policy.get("mode")
        age = policy.get("max_age", "")
        valid = (policy.get("version") == "STSv1" and mode in ("enforce", "testing", "none")
                 and re.fullmatch(r"\d{1,10}", age) and int(age) <= 31557600 and (patterns or mode == "none"))
        if not valid:
            res.update(status="policy_invalid", unchecked=policy_fields)
            return res, ["mta_sts_policy_invalid"]
        res.update(status="ok", mode=mode, max_age=int(age), mx_patterns=patterns)
        findings = []
        if mode == "testing":
            findings.append("mta_sts_testing")
        if server.get("cert") == "expiring":
            findings.append("mta_sts_cert_expiring")
        exchanges = list(dict.fromkeys(m["exchange"] for m in row["mx"] if m["exchange"] != "."))
        if mode == "none":  # no policy to enforce: coverage is not judged (another reading: judged as usual)
            res["unchecked"] = ["mx_uncovered", "patterns_unused", "mx_coverage"]
            res["findings_alt"] = ["mta_sts_mx_uncovered"]
            return res, findings

        def covers(p, ex):
            if p.startswith("*."):
                return ex.endswith(p[1:]) and "." not in ex[:-len(p) + 1]
            return ex == p
        res["mx_uncovered"] = [ex for ex in exchanges if not any(covers(p, ex) for p in patterns)]
        res["patterns_unused"] = [p for p in patterns if not any(covers(p, ex) for ex in exchanges)]
        res["mx_coverage"] = (len(exchanges) - len(res["mx_uncovered"])) / len(exchanges) if exchanges else None
        if res["mx_uncovered"]:
            findings.append("mta_sts_mx_uncovered")
        if res["patterns_unused"]:
            findings.append("mta_sts_pattern_unused")
        return res, findings

    def tlsrpt_eval(self, domain):
        st, txts, _ = self.answer(f"_smtp._tls.{domain}", "TXT")
        if st in FAILURES:
            return {"status": "temperror", "rua": []}, []
        recs = [t for t in txts if t.startswith("v=TLSRPTv1")]
        if not recs:
            return {"status": "none", "rua": []}, []
        if len(recs) > 1:
            return {"status": "invalid", "rua": [], "unchecked": ["rua"]}, ["tlsrpt_invalid"]
        tv = dict(tags(recs[0]))
        rua = [u.strip() for u in (tv.get("rua") or "").split(",") if u.strip()]
        if not rua or any(not (u.startswith("mailto:") or u.startswith("https:")) for u in rua):
            return {"status": "invalid", "rua": rua, "unchecked": ["rua"]}, ["tlsrpt_invalid"]
        return {"status": "ok", "rua": rua}, []

    def dkim_eval(self, domain):
        out, findings = [], set()
        if f"_domainkey.{domain}" not in self.w.names:
            return out, findings
        for sel in sorted(SELECTORS):
            st, txts, _ = self.answer(f"{sel}._domainkey.{domain}", "TXT")
            if st != "ok" or not txts:
                continue
            tv = dict(tags(txts[0]))
            k, p = tv.get("k", "rsa"), tv.get("p")
            el = {"selector": sel, "status": "ok", "key_type": k, "key_bits": None,
                  "testing": "y" in (tv.get("t") or "").split(":")}
            if p == "":
                el["status"] = "revoked"
            elif p not in KEY_BITS or k not in ("rsa", "ed25519"):
                el.update(status="invalid", unchecked=["key_type"])
                findings.add("dkim_key_invalid")
            else:
                el["key_bits"] = KEY_BITS[p][1]
                if k == "ed25519":
                    el["alt"] = {"key_bits": [None]}
            if el["testing"]:
                findings.add("dkim_testing")
            out.append(el)
        return out, findings

    # --------------------------------------------------------------------------- the row's policy
    def expected(self, row, table_by_domain):
        """The `policy` object of a truth row (None unless the MX lookup was ok)."""
        if row["status"] != "ok":
            return None
        h = self.h
        d = row["domain"]
        findings, alts = set(), []   # alts: [(remove, add)] other readings, each independent
        spf = self.spf_audit(d)
        findings |= set(spf["findings"])
        dmarc, f = self.dmarc_eval(d)
        findings |= set(f)
        sts, f = self.mta_sts_eval(d, row, table_by_domain)
        findings |= set(f)
        if "findings_alt" in sts:
            alts.append((set(), set(sts.pop("findings_alt"))))
        tlsrpt, f = self.tlsrpt_eval(d)
        findings |= set(f)
        dkim, f = self.dkim_eval(d)
        findings |= f
        if sts["status"] not in ("none", "temperror") and tlsrpt["status"] == "none":
            findings.add("mta_sts_without_tlsrpt")
        # SPF and DMARC together, null MX
        real = [m for m in row["mx"] if m["exchange"] != "."]
        usable = lambda a: not h["is_loopback"](a) and not h["is_private"](a)
        if spf["status"] == "none" and any(usable(a) for m in real for a in m["ipv4"] + m["ipv6"]):
            findings.add("spf_missing")
        elif spf["status"] == "none" and any(m["ipv4"] + m["ipv6"] for m in real):
            # "receives mail (has usable MX)" read as: an exchange has any address, even a loopback or
            # private one (the MX is meant to receive mail)
            alts.append((set(), {"spf_missing"}))
        if (dmarc["status"] == "ok" and dmarc["p"] == "reject" and spf["status"] == "none"
                and not any(k["status"] == "ok" for k in dkim)):
            findings.add("dmarc_reject_without_auth")
        if dmarc["status"] == "ok" and dmarc["p"] == "reject" and spf["status"] == "none":
            # the finding must not depend on whether the scan probes DKIM selectors
            assert not dkim, f"{d}: p=reject without SPF but with DKIM records"
        if row["null_mx"] and not real and spf["status"] == "ok":
            _, txts, _ = self.answer(d, "TXT")
            terms = spf_parse([t for t in txts if is_spf(t)][0])
            if any(q == "+" for q, k, _ in terms if k not in ("redirect", "exp", "mod")):
                findings.add("null_mx_spf_allows_senders")
        # DANE: TLSA per exchange (once per distinct name; null MX and IP literals have none)
        mx_st, _, mx_ad = self.answer(d, "MX")
        per_mx = []
        for m in row["mx"]:
            ex = m["exchange"]
            tl, ad = [], None
            if ex != "." and not h["is_ip_literal"](ex) and ex != "localhost":
                st, recs, tad = self.answer(f"_25._tcp.{ex}", "TLSA")
                if st == "ok" and recs:
                    tl = [{"usage": u, "selector": s, "matching": mt, "data": data} for u, s, mt, data in recs]
                    ad = tad
            per_mx.append({"exchange": ex, "tlsa": tl, "tlsa_authenticated": ad})
        with_tlsa = [x for x in per_mx if x["tlsa"]]
        for x in with_tlsa:
            for t in x["tlsa"]:
                if t["usage"] in (0, 1):
                    findings.add("dane_unusable_usage")
                if {1: 64, 2: 128}.get(t["matching"], len(t["data"])) != len(t["data"]):
                    findings.add("dane_bad_digest_length")
            if not x["tlsa_authenticated"]:
                findings.add("dane_not_authenticated")
            if not mx_ad:
                findings.add("dane_mx_not_authenticated")
        # MX topology (computed for every row from its MX data)
        topo, topo_alts = topology(row, h)
        findings |= topo
        alts += topo_alts
        primary = sorted(findings)
        alt_lists = []
        for combo in itertools.product([False, True], repeat=len(alts)):
            if not any(combo):
                continue
            s = set(findings)
            for on, (rm, add) in zip(combo, alts):
                if on:
                    s = (s - rm) | add
            if sorted(s) != primary and sorted(s) not in alt_lists:
                alt_lists.append(sorted(s))
        return {"spf": spf, "dmarc": dmarc, "mta_sts": sts, "tlsrpt": tlsrpt, "dkim": dkim,
                "mx_authenticated": mx_ad, "mx": per_mx,
                "policy_findings": primary, "policy_findings_alt": alt_lists}


def signed(name):
    return any(name == z or name.endswith("." + z) for z in SIGNED_ZONES)


class SpfStop(Exception):
    def __init__(self, status, code):
        super().__init__(code)
        self.status, self.code = status, code


def topology(row, h):
    """nolisting, no_fallback_tier, single_network (findings.md) from a row's MX data, and the other
    readings [(remove, add)] where the rule's wording allows them.

    - nolisting: the real (non-`.`) exchanges of the lowest tier that has any have no usable
      (public) address, their lookups all answered (no SERVFAIL/timeout: unknown is not "none"),
      and an exchange of a later tier has one. Other readings: a failed tier-1 lookup counts as
      "no usable address"; a null MX alone in tier 1 counts as a tier-1 exchange without one.
    - no_fallback_tier: at least two distinct real exchanges, all real MX at one preference.
    - single_network: every address of every real exchange (at least two distinct addresses, all
      lookups answered) in one IPv4 /24 and one IPv6 /48. Other reading: one address suffices.
    """
    found, alts = set(), []
    usable = lambda a: not h["is_loopback"](a) and not h["is_private"](a)
    real = [m for m in row["mx"] if m["exchange"] != "."]
    if real:
        first = min(m["tier"] for m in real)
        t1 = [m for m in real if m["tier"] == first]
        later_ok = any(usable(a) for m in real if m["tier"] > first for a in m["ipv4"] + m["ipv6"])
        t1_none = not any(usable(a) for m in t1 for a in m["ipv4"] + m["ipv6"])
        t1_failed = any(m["address_status"] in FAILURES for m in t1)
        if later_ok and t1_none and not t1_failed:
            found.add("nolisting")
        elif later_ok and t1_none:
            alts.append((set(), {"nolisting"}))  # a failed tier-1 lookup read as "no usable address"
        if first > 1 and "nolisting" not in found and any(usable(a) for m in real for a in m["ipv4"] + m["ipv6"]):
            alts.append((set(), {"nolisting"}))  # a null MX alone in tier 1 read as a tier-1 exchange
        if len({m["exchange"] for m in real}) >= 2 and len({m["preference"] for m in real}) == 1:
            found.add("no_fallback_tier")
        addrs = {a for m in real for a in m["ipv4"] + m["ipv6"]}
        if addrs and not any(m["address_status"] in FAILURES for m in real):
            v4 = {a.rsplit(".", 1)[0] for a in addrs if ":" not in a}
            v6 = {ipaddress.IPv6Address(a).exploded[:14] for a in addrs if ":" in a}
            if len(v4) <= 1 and len(v6) <= 1:
                if len(addrs) >= 2:
                    found.add("single_network")
                else:
                    alts.append((set(), {"single_network"}))
    return found, alts


def write_tables(out, rows_by_domain):
    table = mta_sts_table()
    for case, spec in table.items():
        pol = rows_by_domain[spec["domain"]]["policy"]
        spec["expected"] = {"status": pol["mta_sts"]["status"],
                            "findings": [f for f in pol["policy_findings"] if f.startswith("mta_sts_")]}
    # wildcard: the uncovered exchange is in tier 3 of an enforce policy, so the finding is a warning
    table["wildcard"]["expected"]["severity"] = {"mta_sts_mx_uncovered": "warning"}
    with open(os.path.join(out, "mta-sts-cases.json"), "w") as fh:
        json.dump(table, fh, indent=1)
        fh.write("\n")
    with open(os.path.join(out, "signed-zones.txt"), "w") as fh:
        fh.writelines(z + "\n" for z in SIGNED_ZONES)
