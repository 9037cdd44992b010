"""--shard K/N: the pieces of a list add up to the whole, each line in exactly one piece, by the rule analysts can
recompute in SQL (the first 8 bytes of MD5 of the normalised name, big-endian, mod N; an invalid line by its raw
token). The journal records K/N and --resume refuses another."""
import json

import duckdb
import pytest

from test_scan import COMMON, compare, ok, read_parquet, run

SHARDS = 3


def shard_of(column):
    return f"('0x' || left(md5({column}), 16))::ubigint % {SHARDS}"


@pytest.fixture(scope="module")
def shard_outputs(mxscan_bin, testbed, tmp_path_factory):
    base = tmp_path_factory.mktemp("shards")
    outs = []
    for k in range(SHARDS):
        out, stats = base / f"shard-{k}.parquet", base / f"stats-{k}.json"
        proc = run([mxscan_bin, "scan", str(testbed.input_csv), "-o", str(out), "--resolver", testbed.resolver,
                    "--shard", f"{k}/{SHARDS}", "--stats", str(stats)] + COMMON)
        ok(proc, f"mxscan scan --shard {k}/{SHARDS}")
        outs.append((out, json.loads(stats.read_text())))
    return outs


def test_shards_add_up_to_the_whole_list(shard_outputs, testbed):
    rows = [r for out, _ in shard_outputs for r in read_parquet(out)]
    problems = compare(rows, testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)
    sizes = [len(read_parquet(out)) for out, _ in shard_outputs]
    assert all(n > len(testbed.truth) / SHARDS / 2 for n in sizes), sizes


def test_every_row_is_in_the_shard_sql_says(shard_outputs):
    for k, (out, _) in enumerate(shard_outputs):
        wrong = duckdb.sql(f"""select coalesce(domain, input) from read_parquet('{out}')
                               where case when domain is null then {shard_of('input')} else {shard_of('domain')} end
                                     != {k}""").fetchall()
        assert wrong == [], f"shard {k}: {wrong[:5]}"


def test_other_shards_lines_are_counted(shard_outputs):
    # Each counted line is some other shard's: over all shards, every line is skipped N-1 times.
    skipped = sum(stats["other_shard_lines"] for _, stats in shard_outputs)
    counted = sum(stats["rows"] + stats["duplicate_lines"] for _, stats in shard_outputs)
    assert skipped == (SHARDS - 1) * counted


def test_resume_refuses_another_shard(mxscan_bin, testbed, tmp_path):
    out = tmp_path / "ds"
    base = [mxscan_bin, "scan", str(testbed.input_txt), "-o", f"{out}/", "--resolver", testbed.resolver] + COMMON
    ok(run(base + ["--shard", "0/2"]), "mxscan scan --shard 0/2 into a dataset")
    manifest = json.loads((out / "_journal.jsonl").read_text().splitlines()[0])
    assert manifest["shard"] == "0/2"
    for flags, said in ((["--shard", "1/2"], "as --shard 0/2"), ([], "as --shard 0/2"),
                        (["--shard", "0/3"], "as --shard 0/2")):
        proc = run(base + ["--resume", *flags])
        assert proc.returncode != 0 and said in proc.stderr.decode(), proc.stderr.decode()
    ok(run(base + ["--resume", "--shard", "0/2"]), "resume with the same shard")


@pytest.mark.parametrize("bad", ["2/2", "0/0", "x/4", "1"])
def test_a_bad_shard_is_a_usage_error(mxscan_bin, testbed, tmp_path, bad):
    proc = run([mxscan_bin, "scan", str(testbed.input_txt), "-o", str(tmp_path / "o.parquet"),
                "--resolver", testbed.resolver, "--shard", bad])
    assert proc.returncode == 2 and "K/N" in proc.stderr.decode()
    assert not (tmp_path / "o.parquet").exists()
