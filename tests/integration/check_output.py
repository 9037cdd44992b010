#!/usr/bin/env python3
"""Check a scan's output against the project's output contract (docs/output.md and docs/findings.md).

usage: check_output.py OUT [--input LIST] [--stage scan|analysis]
  OUT      a .parquet file, a directory of them (read recursively), or a .jsonl file
  --input  the list that was scanned: then every non-blank, non-comment line must have exactly one row

The contract is read from the documents themselves: the column tables of docs/output.md (up to
"Planned": names, types, which columns may be null) and the codes of docs/findings.md (up to
"Planned"). A unit test keeps those tables equal to the Arrow schema in src/output/arrow.rs, so this
checks the output against the one definition. Checks the contract only (names, types, vocabularies,
internal consistency, the "unknown is null" rules), not whether the DNS answers are right: that is what
the other tests are for. Needs the Python `duckdb` package. Prints one line per problem (at most 20 of
each kind) and a last line 'N problems'; exit 1 if any.
"""
import argparse
import collections
import gzip
import os
import re
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
STATUS = {"ok", "nxdomain", "servfail", "refused", "timeout", "invalid", "error"}
UNKNOWN = {"servfail", "refused", "timeout", "error", "invalid"}  # the MX set is not known
ADDRESS_STATUS = {"ok", "nxdomain", "nodata", "servfail", "refused", "timeout", "skipped"}
CATEGORIES = {"mailbox", "gateway", "hosting", "forwarding"}
# the contract's type names -> DuckDB's
DUCKDB = {"utf8": "VARCHAR", "uint32": "UINTEGER", "uint16": "USMALLINT", "uint8": "UTINYINT", "bool": "BOOLEAN",
          "list<utf8>": "VARCHAR[]", "timestamp(ms, UTC)": "TIMESTAMP"}


def before_planned(text):
    return text.split("\n## Planned", 1)[0]


def column_tables(text):
    """{section heading: {column: (type, nullable)}} of the `| column | type | meaning |` tables."""
    sections, heading, in_table = collections.defaultdict(dict), "", False
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        if line.startswith("| column | type |"):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
        cells = [c.strip() for c in line.split("|")]
        if not in_table or len(cells) < 4 or cells[1].startswith("-"):
            continue
        typ, sep, _ = cells[2].partition(", null")
        sections[heading][cells[1].strip("`")] = (typ, bool(sep))
    return sections


def contract(stage):
    """(top-level columns, mx fields) for the stage: name -> (contract type, nullable)."""
    tables = column_tables(before_planned((REPO / "docs" / "output.md").read_text(encoding="utf-8")))
    if "Scan stage" not in tables or "Analysis stage" not in tables:
        sys.exit(f"docs/output.md lacks the Scan stage or Analysis stage table: {sorted(tables)}")
    columns = dict(tables["Scan stage"])
    if stage == "analysis":
        columns.update(tables["Analysis stage"])
    top = {c: t for c, t in columns.items() if "." not in c}
    mx = {c.split(".", 1)[1]: t for c, t in columns.items() if c.startswith("mx.")}
    return top, mx


def codes():
    text = before_planned((REPO / "docs" / "findings.md").read_text(encoding="utf-8"))
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", text, re.M))


def relation(con, out):
    if os.path.isdir(out):
        return con.sql(f"select * from read_parquet('{out}/**/*.parquet')")
    if out.endswith(".jsonl"):
        return con.sql(f"select * from read_json('{out}', format='newline_delimited')")
    return con.sql(f"select * from read_parquet('{out}')")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--input")
    ap.add_argument("--stage", choices=["scan", "analysis"], default="scan")
    a = ap.parse_args()
    problems = collections.defaultdict(list)

    def bad(kind, msg):
        problems[kind].append(msg)

    want, mx_want = contract(a.stage)
    con = duckdb.connect()
    rel = relation(con, a.out)
    types = dict(zip(rel.columns, [str(t) for t in rel.types]))
    jsonl = a.out.endswith(".jsonl")
    for col, (typ, _) in want.items():
        if col not in types:
            bad("schema", f"missing column {col}")
        elif col == "mx" or jsonl:
            continue  # the struct is checked field by field; JSON types are inferred
        elif typ.startswith("timestamp"):
            if not types[col].startswith("TIMESTAMP"):
                bad("schema", f"column {col} is {types[col]}, contract says {typ}")
        elif types[col] != DUCKDB[typ]:
            bad("schema", f"column {col} is {types[col]}, contract says {typ} ({DUCKDB[typ]})")
    if "mx" in types:
        for f, (typ, _) in mx_want.items():
            if f'{f} ' not in types["mx"] and f'"{f}" ' not in types["mx"]:
                bad("schema", f"mx struct lacks field {f} ({types['mx']})")
            elif not jsonl and f"{f} {DUCKDB[typ]}" not in types["mx"] and f'"{f}" {DUCKDB[typ]}' not in types["mx"]:
                bad("schema", f"mx.{f} is not {typ} in {types['mx']}")
    if problems:
        report(problems)

    # Columns the contract does not let be null hold no null.
    for col, (_, nullable) in want.items():
        if not nullable:
            n = rel.filter(f'"{col}" is null').aggregate("count(*)").fetchall()[0][0]
            if n:
                bad("nulls", f"{n} rows with a null {col}, which the contract does not allow")

    known = codes()
    # timestamps with a time zone would need pytz to fetch; their type was checked above
    data = rel.project(", ".join(f'"{c}"' for c in rel.columns if not types[c].startswith("TIMESTAMP")))
    rows = [dict(zip(data.columns, r)) for r in data.fetchall()]
    seen = collections.Counter()
    for r in rows:
        key = r.get("domain") or f"<invalid {r.get('input')!r}>"
        st = r.get("status")
        if st not in STATUS:
            bad("status", f"{key}: status {st!r}")
        unknown_is_null(r, key, st, a.stage, bad)
        if st == "invalid":
            if r.get("domain") is not None:
                bad("invalid", f"{key}: invalid row with a domain")
            if not r.get("error"):
                bad("invalid", f"{key}: invalid row without error text")
            continue
        d = r.get("domain") or ""
        if d != d.lower() or d.endswith(".") or not d.isascii():
            bad("domain", f"{key}: domain not lowercase A-label without trailing dot")
        seen[d] += 1
        f = list(r.get("findings") or [])
        if f != sorted(set(f)):
            bad("findings", f"{key}: findings not sorted and unique: {f}")
        if set(f) - known:
            bad("findings", f"{key}: codes not in docs/findings.md: {sorted(set(f) - known)}")
        mx = list(r.get("mx") or [])
        prefs = sorted({m["preference"] for m in mx})
        if [(m["preference"], m["exchange"]) for m in mx] != sorted((m["preference"], m["exchange"]) for m in mx):
            bad("mx", f"{key}: mx not ordered by preference then exchange")
        for m in mx:
            ex = m.get("exchange") or ""
            for field, (_, nullable) in mx_want.items():
                if not nullable and m.get(field) is None:
                    bad("nulls", f"{key}: {ex} mx.{field} is null, which the contract does not allow")
            if ex != "." and (ex != ex.lower() or ex.endswith(".")):
                bad("mx", f"{key}: exchange {ex!r} not lowercase without trailing dot")
            if m.get("tier") != prefs.index(m["preference"]) + 1:
                bad("mx", f"{key}: {ex} tier {m.get('tier')} but preference rank {prefs.index(m['preference']) + 1}")
            if m.get("address_status") not in ADDRESS_STATUS:
                bad("mx", f"{key}: {ex} address_status {m.get('address_status')!r}")
            for fam in ("ipv4", "ipv6"):
                v = list(m.get(fam) or [])
                if v != sorted(v):
                    bad("mx", f"{key}: {ex} {fam} not sorted")
            if a.stage == "analysis" and m.get("category") is not None and m["category"] not in CATEGORIES:
                bad("analysis", f"{key}: {ex} category {m['category']!r}")
        if r.get("null_mx") is not None and r["null_mx"] != any(m.get("exchange") == "." for m in mx):
            bad("mx", f"{key}: null_mx disagrees with the mx list")
        if r.get("implicit_mx") and mx:
            bad("mx", f"{key}: implicit_mx with MX records present")
        if a.stage == "analysis":
            if r.get("provider_category") is not None and r["provider_category"] not in CATEGORIES:
                bad("analysis", f"{key}: provider_category {r['provider_category']!r}")
            if r.get("self_hosted") and not any(m.get("exchange") != "." for m in mx):
                bad("analysis", f"{key}: self_hosted without an exchange")
    for d, n in seen.items():
        if n > 1:
            bad("rows", f"{d}: {n} rows")
    if a.input:
        names = input_names(a.input)
        if len(names) != len(rows):
            bad("rows", f"{len(rows)} rows for {len(names)} distinct input names")
    report(problems)


def unknown_is_null(r, key, st, stage, bad):
    """docs/output.md, "Unknown is null": null exactly when the lookup that decides it failed or was not
    made; NXDOMAIN is an answer (all false); MX records present means no implicit MX."""
    cols = ["null_mx", "implicit_mx"] + (["self_hosted"] if stage == "analysis" else [])
    if st in UNKNOWN:
        for c in cols:
            if r.get(c) is not None:
                bad("unknown", f"{key}: status {st} but {c} is {r.get(c)!r}, not null (unknown)")
        return
    for c in cols:
        if c != "implicit_mx" and r.get(c) is None:
            bad("unknown", f"{key}: status {st} answers it, but {c} is null")
    if (st == "nxdomain" or r.get("mx")) and r.get("implicit_mx") is not False:
        bad("unknown", f"{key}: status {st} with {len(r.get('mx') or [])} MX: implicit_mx {r.get('implicit_mx')!r}, "
                       "want false")


def input_names(path):
    names = set()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh):
            s = line.strip().lstrip("\ufeff").strip()
            if i == 0 and re.match(r"(?i)^(rank\s*,|domain\s*$|domain\s*,)", s):
                continue  # a CSV header is not a row
            if not s or s.startswith("#"):
                continue
            m = re.match(r"^\d+\s*,\s*(.*)$", s)
            names.add((m.group(1) if m else s).lower().rstrip("."))
    return names


def report(problems):
    n = 0
    for kind, msgs in problems.items():
        for m in msgs[:20]:
            print(f"{kind}: {m}")
        if len(msgs) > 20:
            print(f"{kind}: ... and {len(msgs) - 20} more")
        n += len(msgs)
    print(f"{n} problems")
    sys.exit(1 if n else 0)


if __name__ == "__main__":
    main()
