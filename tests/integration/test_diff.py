"""mxscan diff: a real scan of the world and a second scan made from it with planted, known changes (domains
dropped and added, provider migrations, null MX, timeouts, new error findings, DMARC moves). mxscan's per-domain
changes must equal an independent diff written in SQL over the same two files, row for row and kind for kind,
both in memory and when both sides are partitioned to disk in buckets; each planted change must show up as
its kind; the summary's counts must equal the SQL's. Dataset roots are compared by scan_date."""
import json
import shutil

import duckdb
import pytest

from test_scan import COMMON, ok, run

# Per-mille slices of hash(domain) that get a planted change.
VANISH, MIGRATE, TIMEOUT, NULL_MX, FINDING, DMARC = (0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60)
APPEAR = 25
ERROR_CODE = "mx_unresolvable"


def slice_(lo_hi):
    lo, hi = lo_hi
    return f"(hash(coalesce(domain, input)) % 1000 between {lo} and {hi - 1})"


@pytest.fixture(scope="module")
def pair(mxscan_bin, testbed, tmp_path_factory):
    """(old, new) Parquet files: the world's scan with a synthetic policy column, and its planted changes."""
    base = tmp_path_factory.mktemp("diff")
    scan = base / "scan.parquet"
    ok(run([mxscan_bin, "scan", str(testbed.input_csv), "-o", str(scan), "--resolver", testbed.resolver] + COMMON),
       "the world's scan")
    old, new = base / "old.parquet", base / "new.parquet"
    con = duckdb.connect()
    # The policy stage's columns, as another scan with --policy would have them (diff reads spf/dmarc by name).
    con.execute(f"""create table old as select * replace (
        case when status = 'ok' then {{'status': 'valid', 'all': '-all'}} end as spf,
        case when status = 'ok' then {{'status': case when hash(domain) % 3 = 0 then 'none' else 'valid' end,
          'p': case when hash(domain) % 3 = 0 then null else 'none' end}} end as dmarc)
        from read_parquet('{scan}')""")
    con.execute(f"copy old to '{old}' (format parquet)")
    con.execute(f"""create table new as
        select * replace (
          case when {slice_(MIGRATE)} and status = 'ok' and len(mx) > 0
               then list_transform(mx, lambda m: struct_update(m, exchange := 'in.' || domain || '.mail.protection.outlook.com'))
               when {slice_(NULL_MX)} and status = 'ok' and len(mx) > 0
               then [struct_update(mx[1], exchange := '.', preference := 0::usmallint)]
               when {slice_(TIMEOUT)} then []
               else mx end as mx,
          case when {slice_(MIGRATE)} and status = 'ok' and len(mx) > 0 then 'microsoft'
               when {slice_(NULL_MX)} and status = 'ok' and len(mx) > 0 then null
               when {slice_(TIMEOUT)} then null
               else provider end as provider,
          case when {slice_(TIMEOUT)} then 'timeout' else status end as status,
          case when {slice_(TIMEOUT)} then []
               when {slice_(FINDING)} and status = 'ok' then list_append(findings, '{ERROR_CODE}')
               else findings end as findings,
          case when {slice_(DMARC)} and status = 'ok'
               then {{'status': 'valid', 'p': 'reject'}} else dmarc end as dmarc)
        from old where not {slice_(VANISH)}
        union all
        select * replace ('appeared-' || domain as domain, 'appeared-' || input as input)
        from (select * from old where domain is not null order by domain limit {APPEAR})""")
    con.execute(f"copy new to '{new}' (format parquet)")
    return old, new


REFERENCE = """
with o as (select coalesce(domain, input) k, rank, status, status in ('ok', 'nxdomain') knows,
                  list_sort(list_distinct(list_transform(mx, lambda m: m.exchange))) ex, provider p,
                  list_sort(list_distinct(findings)) f, dmarc.p dp, dmarc.status ds, spf.status ss, spf."all" sa
           from read_parquet('{old}')),
     n as (select coalesce(domain, input) k, rank, status, status in ('ok', 'nxdomain') knows,
                  list_sort(list_distinct(list_transform(mx, lambda m: m.exchange))) ex, provider p,
                  list_sort(list_distinct(findings)) f, dmarc.p dp, dmarc.status ds, spf.status ss, spf."all" sa
           from read_parquet('{new}')),
     j as (select coalesce(o.k, n.k) domain, o.k is null appeared, n.k is null vanished,
                  o.k is not null and n.k is not null both_, coalesce(o.knows and n.knows, false) cmp,
                  o.status so, n.status sn, coalesce(o.ex, []) eo, coalesce(n.ex, []) en, o.p po, n.p pn,
                  coalesce(o.f, []) fo, coalesce(n.f, []) fn,
                  [o.ss, o.sa, o.ds, o.dp] po_, [n.ss, n.sa, n.ds, n.dp] pn_
           from o full outer join n on o.k = n.k),
     k as (select *, list_filter(en, lambda x: not list_contains(eo, x)) added,
                  list_filter(eo, lambda x: not list_contains(en, x)) removed,
                  list_filter(fn, lambda x: not list_contains(fo, x)) f_new,
                  list_filter(fo, lambda x: not list_contains(fn, x)) f_gone,
                  len(list_filter(eo, lambda x: x != '.')) > 0 had, len(list_filter(en, lambda x: x != '.')) > 0 has
           from j)
select domain, list_filter([
    case when appeared then 'appeared' end,
    case when vanished then 'vanished' end,
    case when both_ and so != sn then 'status' end,
    case when cmp and len(added) > 0 then 'mx_added' end,
    case when cmp and len(removed) > 0 then 'mx_removed' end,
    case when cmp and had and not has then 'lost_mx' end,
    case when cmp and not had and has then 'gained_mx' end,
    case when cmp and po is distinct from pn then 'provider' end,
    case when cmp and len(f_new) > 0 then 'findings_appeared' end,
    case when cmp and len(f_gone) > 0 then 'findings_resolved' end,
    case when cmp and po_ is distinct from pn_ then 'policy' end], lambda x: x is not null) changes,
  case when cmp or appeared then added else [] end added, case when cmp or vanished then removed else [] end removed,
  po, pn
from k
"""


def reference(old, new):
    rows = duckdb.sql(REFERENCE.format(old=old, new=new)).fetchall()
    return {d: (c, sorted(a or []), sorted(r or []), po, pn) for d, c, a, r, po, pn in rows if c}


def diff_rows(path):
    rows = duckdb.sql(f"""select domain, changes, exchanges_added, exchanges_removed, provider_old, provider_new
                          from read_parquet('{path}')""").fetchall()
    return {d: (c, sorted(a), sorted(r), po, pn) for d, c, a, r, po, pn in rows}


def run_diff(mxscan_bin, *args):
    proc = run([mxscan_bin, "diff", *map(str, args)], text=True)
    ok(proc, "mxscan diff " + " ".join(map(str, args)))
    return proc.stdout


@pytest.fixture(scope="module")
def diffed(mxscan_bin, pair, tmp_path_factory):
    old, new = pair
    base = tmp_path_factory.mktemp("diffed")
    memory, spilled = base / "memory.parquet", base / "spilled.parquet"
    summary = json.loads(run_diff(mxscan_bin, old, new, "-o", memory, "--json", "--html", base / "diff.html"))
    spilled_summary = json.loads(run_diff(mxscan_bin, old, new, "-o", spilled, "--json", "--bucket-rows", 700,
                                          "--work-dir", base))
    return summary, spilled_summary, memory, spilled, base


def test_every_change_equals_the_sql_diff(pair, diffed):
    _, _, memory, _, _ = diffed
    want, got = reference(*pair), diff_rows(memory)
    wrong = [(d, want.get(d), got.get(d)) for d in sorted(set(want) | set(got)) if want.get(d) != got.get(d)]
    assert not wrong, f"{len(wrong)} domains differ from SQL (want, got): {wrong[:5]}"
    assert len(got) > 500, len(got)


def test_buckets_on_disk_give_the_same_rows(diffed):
    summary, spilled_summary, memory, spilled, base = diffed
    assert summary["buckets"] == 1 and spilled_summary["buckets"] > 10, (summary["buckets"], spilled_summary["buckets"])
    a = duckdb.sql(f"select * from read_parquet('{memory}') order by domain").fetchall()
    b = duckdb.sql(f"select * from read_parquet('{spilled}') order by domain").fetchall()
    assert a == b
    # The spill directory is gone.
    assert not [p for p in base.iterdir() if p.name.startswith(".mxscan-diff-")]
    drop = {"buckets"}
    assert {k: v for k, v in summary.items() if k not in drop | {"written"}} == \
        {k: v for k, v in spilled_summary.items() if k not in drop | {"written"}}


def test_planted_changes_show_up_as_their_kind(pair, diffed):
    old, _ = pair
    _, _, memory, _, _ = diffed
    got = diff_rows(memory)
    planted = lambda s, extra="true": [d for (d,) in duckdb.sql(
        f"select coalesce(domain, input) from read_parquet('{old}') where {slice_(s)} and {extra}").fetchall()]
    has_mx = "status = 'ok' and len(list_filter(mx, lambda m: m.exchange != '.')) > 0"
    checks = [
        (planted(VANISH), "vanished"),
        (planted(MIGRATE, has_mx + " and provider is distinct from 'microsoft'"), "provider"),
        (planted(TIMEOUT, "status != 'timeout'"), "status"),
        (planted(NULL_MX, has_mx), "lost_mx"),
        (planted(FINDING, f"status = 'ok' and not list_contains(findings, '{ERROR_CODE}')"), "findings_appeared"),
        (planted(DMARC, "status = 'ok' and dmarc.p is distinct from 'reject'"), "policy"),
    ]
    for domains, kind in checks:
        assert len(domains) >= 5, (kind, len(domains))
        missing = [d for d in domains if d not in got or kind not in got[d][0]]
        assert not missing, f"{kind}: {missing[:5]}"
    appeared = [d for d, (c, *_) in got.items() if c == ["appeared"]]
    assert len(appeared) == APPEAR and all(d.startswith("appeared-") for d in appeared)
    # A timeout says only that the status changed: nothing about exchanges or findings.
    for d in planted(TIMEOUT, "status != 'timeout'"):
        assert got[d][0] == ["status"], (d, got[d])


def test_the_summary_counts_equal_sql(pair, diffed):
    old, new = pair
    summary, *_ = diffed
    want = reference(old, new)
    by_kind = {k["kind"]: k["domains"] for k in summary["changes"]}
    for kind in ["appeared", "vanished", "status", "mx_added", "mx_removed", "lost_mx", "provider",
                 "findings_appeared", "policy"]:
        assert by_kind[kind] == sum(kind in c for c, *_ in want.values()), kind
    assert summary["changed"] == len(want) == summary["written"]
    n_old, n_new = (duckdb.sql(f"select count(*) from read_parquet('{p}')").fetchall()[0][0] for p in (old, new))
    assert (summary["rows"]["old"], summary["rows"]["new"]) == (n_old, n_new)
    assert summary["unchanged"] + summary["changed"] - by_kind["appeared"] - by_kind["vanished"] == \
        summary["rows"]["in_both"]
    # Migrations: SQL's count of provider moves to microsoft, most common first.
    moves = duckdb.sql(f"""select coalesce(po, 'none'), coalesce(pn, 'none'), count(*) n from
        ({REFERENCE.format(old=old, new=new)}) where list_contains(changes, 'provider')
        group by all order by n desc, 1, 2""").fetchall()
    assert [(m["from"], m["to"], m["domains"]) for m in summary["migrations"]] == moves[:20]
    errors = {f["code"]: f["domains"] for f in summary["new_error_findings"]}
    assert errors.get(ERROR_CODE, 0) >= by_kind["findings_appeared"] // 2
    assert summary["lost_mx"] == by_kind["lost_mx"] and 0 < len(summary["lost_mx_sample"]) <= 20
    moves = {(p["field"], p["from"], p["to"]): p["domains"] for p in summary["policy_moves"]}
    assert moves.get(("dmarc.p", "none", "reject"), 0) > 0


def test_text_and_html_name_the_migrations(mxscan_bin, pair, diffed):
    summary, *_, base = diffed
    text = run_diff(mxscan_bin, *pair)
    top = summary["migrations"][0]
    assert "Top provider migrations" in text and top["from"] in text and "microsoft" in text
    page = (base / "diff.html").read_text()
    assert "<h2>Provider migrations</h2>" in page and "Domains that lost their MX" in page
    assert "<script" not in page


def test_dataset_root_by_dates(mxscan_bin, pair, tmp_path):
    old, new = pair
    root = tmp_path / "root"
    for date, src in [("2026-12-01", old), ("2026-12-02", new)]:
        for shard in range(2):
            d = root / f"scan_date={date}" / f"shard={shard}"
            d.mkdir(parents=True)
            duckdb.sql(f"""copy (select * from read_parquet('{src}')
                             where ('0x' || left(md5(coalesce(domain, input)), 16))::ubigint % 2 = {shard})
                           to '{d / 'part-000000.parquet'}' (format parquet)""")
    out = tmp_path / "dates.parquet"
    by_dates = json.loads(run_diff(mxscan_bin, root, "--dates", "2026-12-01", "2026-12-02", "-o", out, "--json"))
    whole = json.loads(run_diff(mxscan_bin, old, new, "--json"))
    assert by_dates["changes"] == whole["changes"] and by_dates["files"] == [2, 2]
    assert diff_rows(out) == reference(old, new)
    # A root of two dates without --dates is ambiguous.
    proc = run([mxscan_bin, "diff", str(root), str(old)], text=True)
    assert proc.returncode == 1 and "2 scan dates" in proc.stderr and "--dates" in proc.stderr
    proc = run([mxscan_bin, "diff", str(root), "--dates", "2026-12-01", "2026-12-09"], text=True)
    assert proc.returncode == 1 and "no scan_date=2026-12-09" in proc.stderr


def test_bad_inputs_fail_before_reading(mxscan_bin, pair, tmp_path):
    old, new = pair
    proc = run([mxscan_bin, "diff", str(tmp_path / "missing.parquet"), str(new)], text=True)
    assert proc.returncode == 1 and "missing.parquet" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    text_file = tmp_path / "notes.parquet"
    text_file.write_text("not parquet")
    proc = run([mxscan_bin, "diff", str(text_file), str(new)], text=True)
    assert proc.returncode == 1 and "as Parquet" in proc.stderr
    proc = run([mxscan_bin, "diff", str(old), str(new), "-o", str(tmp_path / "no" / "dir" / "x.parquet")], text=True)
    assert proc.returncode == 1 and "x.parquet" in proc.stderr
    proc = run([mxscan_bin, "diff", str(old)], text=True)
    assert proc.returncode == 2
    shutil.copy(old, tmp_path / "same.parquet")
    same = json.loads(run_diff(mxscan_bin, old, tmp_path / "same.parquet", "--json"))
    assert same["changed"] == 0 and same["unchanged"] == same["rows"]["old"]
