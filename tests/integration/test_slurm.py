"""Slurm, for real: deploy/slurm/mxscan-array.sbatch run as a job array on a one-machine Slurm cluster
(scripts/slurm-cluster: munged, slurmctld and two slurmd on 127.0.0.1, started and stopped here by PID) scans the
test world as 4 shards into one dataset root. One task's mxscan is killed with `kill -9` part way; its task fails,
the others complete; resubmitting only that index (`sbatch --array=K`) resumes it. Then: every shard directory has
_SUCCESS; the union of the root, read by DuckDB as one hive-partitioned table, is the world's truth and equals a
single-process scan of the same list row for row; no name is in two rows; each row sits in the shard the SQL rule
says; the killed shard kept the parts sealed before the kill (its journal still lists them, unchanged) and its
resumed run skipped exactly their lines; resubmitting the whole array then changes nothing. The wall times of the
Slurm run and of the single scan are printed (pytest -s); scripts/bench-slurm measures them without the kill.

Needs root and the Debian packages slurmctld slurmd slurm-client munge (CI=true: a failure, not a skip, without
them). Every daemon is stopped by its PID at the end, and the test fails if one survives."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, SBIN_PATH, unavailable
from test_scan import compare, key, ok, read_parquet, run

SHARDS = 4
KILLED = 1            # the shard whose task is killed
SCAN_DATE = "2026-12-05"
# No --rate: each task, and the single scan, sends at mxscan's polite default (1000 q/s), so a shard takes seconds
# and can be killed part way.
FLAGS = ["--timeout", "1s", "--retries", "2"]
SCRIPT = REPO / "deploy" / "slurm" / "mxscan-array.sbatch"
CLUSTER = REPO / "scripts" / "slurm-cluster"
WAIT = 180            # seconds for an array to end
# Columns that differ between any two scans of the same list: timing and provenance, and mx_ttl (Unbound's cache
# counts TTLs down). Partition values come from the path.
UNSTABLE = {"queries", "elapsed_ms", "resolver", "scanned_at", "mx_ttl", "scan_date", "shard"}


class Cluster:
    def __init__(self, dir):
        self.dir = dir
        # Nothing of an outer Slurm job (were the tests run inside one) may reach this cluster's commands.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        self.env.update(PATH=SBIN_PATH, SLURM_CONF=str(dir / "slurm.conf"))
        self.jobs = 0

    def workdir(self):
        """A new directory for one array's logs and output, inside the cluster's: the check that nothing survives
        the cluster (processes whose command line names its directory) then covers the tasks' mxscan too."""
        self.jobs += 1
        path = self.dir / f"work-{self.jobs}"
        path.mkdir()
        return path

    def pids(self):
        return {p.stem: int(p.read_text()) for p in (self.dir / "run").glob("*.pid") if p.read_text().strip()}

    def sbatch(self, *args, env=None):
        proc = subprocess.run(["sbatch", "--parsable", *args, str(SCRIPT)], env=dict(self.env, **(env or {})),
                              capture_output=True, text=True, timeout=30)
        ok(proc, "sbatch")
        return proc.stdout.strip().split(";")[0]

    def wait(self, job):
        """Wait until no task of `job` is pending or running; return {array index: final JobState}."""
        deadline = time.monotonic() + WAIT
        while True:
            queued = subprocess.run(["squeue", "-h", "-j", job, "-o", "%i %T"], env=self.env, capture_output=True,
                                    text=True, timeout=30)
            if queued.returncode == 0 and not queued.stdout.strip():
                break
            if time.monotonic() > deadline:
                pytest.fail(f"job {job} still queued after {WAIT} s:\n{queued.stdout}{queued.stderr}", pytrace=False)
            time.sleep(0.2)
        shown = subprocess.run(["scontrol", "-o", "show", "job", job], env=self.env, capture_output=True, text=True,
                               timeout=30)
        ok(shown, f"scontrol show job {job}")
        states = {}
        for line in shown.stdout.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            states[int(fields["ArrayTaskId"])] = fields["JobState"]
        return states


def running(pid, name=None):
    """pid is a running process (named `name`, if given); one that exited but that its parent has not reaped yet
    is a zombie: not running."""
    try:
        _, comm, state = Path(f"/proc/{pid}/stat").read_text().split()[:3]
    except (OSError, ValueError):
        return False
    return state != "Z" and (name is None or comm == f"({name})")


def processes_mentioning(text):
    """PIDs whose command line contains `text`."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and proc.name != str(os.getpid()):
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = [t for t in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
               if not shutil.which(t, path=SBIN_PATH)]
    if missing:
        unavailable(f"{', '.join(missing)} not installed (Debian packages slurmctld slurmd slurm-client munge)")
    if os.geteuid() != 0:
        unavailable("the Slurm test needs root (slurmd runs jobs as their user)")
    c = Cluster(tmp_path_factory.mktemp("slurm"))
    # 4 CPUs a node: the script's --cpus-per-task=2 then runs all 4 shards at once on the two nodes.
    env = dict(c.env, SLURM_CLUSTER_CPUS="4", PYTHON=sys.executable)
    started = subprocess.run([str(CLUSTER), "start", str(c.dir)], env=env, capture_output=True, text=True, timeout=120)
    pids = c.pids()
    try:
        ok(started, "scripts/slurm-cluster start")
        assert set(pids) == {"munged", "slurmctld", "slurmd-n1", "slurmd-n2"}, pids
        yield c
    finally:
        stopped = subprocess.run([str(CLUSTER), "stop", str(c.dir)], env=env, capture_output=True, text=True,
                                 timeout=120)
        survivors = [f"{name} {pid}" for name, pid in pids.items()
                     if running(pid, "slurmd" if name.startswith("slurmd") else name)]
        survivors += [f"pid {pid}" for pid in processes_mentioning(str(c.dir))]
        assert stopped.returncode == 0 and not survivors, f"{stopped.stderr} still running: {survivors}"


def task_pid(root, k):
    """The mxscan of shard k (the array script execs it, so it is the task's own process)."""
    for pid in processes_mentioning(str(root)):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--shard" in args and args[args.index(b"--shard") + 1] == f"{k}/{SHARDS}".encode():
            return pid
    return None


def journal(shard_dir):
    """The manifest and the part entries of a shard's journal. Only whole lines: one may be half-written while
    mxscan appends it, or torn by the kill (mxscan drops such a line on resume)."""
    lines = (shard_dir / "_journal.jsonl").read_text().split("\n")[:-1]
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:] if line.strip()]


@pytest.fixture(scope="module")
def slurm_run(cluster, mxscan_bin, testbed):
    """Submit the array, kill -9 one task's mxscan mid-run, let the array end, resubmit that index; then scan the
    list once in a single process with the same flags."""
    work = cluster.workdir()
    root = work / "root"
    # ~12 parts a shard: the kill lands after some are sealed and well before the last.
    part_rows = max(10, len(testbed.truth) // SHARDS // 12)
    env = {"MXSCAN_INPUT": str(testbed.input_csv), "MXSCAN_ROOT": str(root), "MXSCAN_SHARDS": str(SHARDS),
           "MXSCAN_SCAN_DATE": SCAN_DATE, "MXSCAN_RESOLVER": testbed.resolver, "MXSCAN_BIN": mxscan_bin,
           "MXSCAN_FLAGS": " ".join(FLAGS + ["--part-rows", str(part_rows)])}
    killed_dir = root / f"scan_date={SCAN_DATE}" / f"shard={KILLED}"
    started = time.monotonic()
    job = cluster.sbatch(f"--array=0-{SHARDS - 1}", f"--chdir={work}", env=env)

    # Kill once a few parts are sealed: the resume then has something to keep.
    deadline, pid, sealed = time.monotonic() + 60, None, []
    while time.monotonic() < deadline:
        pid = task_pid(root, KILLED)
        if pid and (killed_dir / "_journal.jsonl").exists():
            try:
                sealed = journal(killed_dir)[1]
            except IndexError:  # the journal is being created: no whole line yet
                sealed = []
            if len(sealed) >= 3:
                break
        if (killed_dir / "_SUCCESS").exists():
            pytest.fail(f"shard {KILLED} completed before it could be killed", pytrace=False)
        time.sleep(0.05)
    else:
        pytest.fail(f"shard {KILLED}'s mxscan (pid {pid}) sealed only {len(sealed)} parts in 60 s", pytrace=False)
    os.kill(pid, 9)
    while running(pid):
        time.sleep(0.01)
    # What survives the kill: journal entries whose part file exists (the resume keeps exactly those).
    kept = [e for e in journal(killed_dir)[1] if (killed_dir / e["part"]).exists()]
    states = cluster.wait(job)
    first_run = time.monotonic() - started

    resubmitted = time.monotonic()
    again = cluster.sbatch(f"--array={KILLED}", f"--chdir={work}", env=env)
    states_again = cluster.wait(again)
    slurm_wall = time.monotonic() - started
    resume_wall = time.monotonic() - resubmitted
    logs = {p.name: p.read_text() for p in work.glob("*.out")}

    single = work / "single.parquet"
    t0 = time.monotonic()
    ok(run([mxscan_bin, "scan", str(testbed.input_csv), "-o", str(single), "--resolver", testbed.resolver, "--quiet",
            *FLAGS]), "the single-process scan")
    single_wall = time.monotonic() - t0
    print(f"\nSlurm, {SHARDS} shards at mxscan's default rate each: {slurm_wall:.1f} s in all ({first_run:.1f} s until "
          f"the array ended with shard {KILLED} killed, {resume_wall:.1f} s for its resubmission); one process, "
          f"same flags: {single_wall:.1f} s")
    return dict(root=root, job=job, again=again, states=states, states_again=states_again, kept=kept,
                killed_dir=killed_dir, logs=logs, single=single, env=env, work=work)


def duck(root, query):
    return duckdb.sql(query.replace("ROOT", f"read_parquet('{root}/**/*.parquet', hive_partitioning = true)"))


def rows_of(rel):
    return [dict(zip(rel.columns, r)) for r in rel.fetchall()]


def test_the_killed_task_failed_and_its_resubmission_completed(slurm_run):
    want = {k: "FAILED" if k == KILLED else "COMPLETED" for k in range(SHARDS)}
    assert slurm_run["states"] == want
    assert slurm_run["states_again"] == {KILLED: "COMPLETED"}
    resumed_log = slurm_run["logs"][f"mxscan_{slurm_run['again']}_{KILLED}.out"]
    assert "resuming" in resumed_log and f"--shard {KILLED}/{SHARDS} --resume" in resumed_log, resumed_log


def test_every_shard_is_complete(slurm_run):
    dirs = sorted(p.name for p in (slurm_run["root"] / f"scan_date={SCAN_DATE}").iterdir())
    assert dirs == [f"shard={k}" for k in range(SHARDS)]
    for k in range(SHARDS):
        d = slurm_run["root"] / f"scan_date={SCAN_DATE}" / f"shard={k}"
        assert (d / "_SUCCESS").exists(), f"shard {k}: no _SUCCESS ({sorted(os.listdir(d))})"
        assert journal(d)[0]["shard"] == f"{k}/{SHARDS}"
        assert not [n for n in os.listdir(d) if n.endswith(".partial")]


def test_the_killed_shard_was_resumed_not_restarted(slurm_run):
    kept, d = slurm_run["kept"], slurm_run["killed_dir"]
    assert kept, "no part was sealed before the kill"
    _, entries = journal(d)
    # The parts sealed before the kill are still there, as they were; the resumed run added the rest after them.
    assert entries[:len(kept)] == kept
    assert len(entries) > len(kept)
    stats = json.loads((d / "_stats.json").read_text())
    assert stats["resumed_lines"] == sum(e["rows"] for e in kept)
    assert stats["rows"] == sum(e["rows"] for e in entries[len(kept):])
    assert len(read_parquet(d / "*.parquet")) == sum(e["rows"] for e in entries)


def test_the_union_is_the_worlds_truth(slurm_run, testbed):
    rows = rows_of(duck(slurm_run["root"], "select * exclude (scan_date, shard, scanned_at) from ROOT"))
    problems = compare(rows, testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)
    twice = duck(slurm_run["root"], """select coalesce(domain, input) as name, count(*) from ROOT
                                       group by all having count(*) > 1""").fetchall()
    assert twice == []
    dates = duck(slurm_run["root"], "select distinct scan_date::varchar from ROOT").fetchall()
    assert dates == [(SCAN_DATE,)]


def test_every_row_is_in_the_shard_sql_says(slurm_run):
    wrong = duck(slurm_run["root"], f"""select shard, coalesce(domain, input) from ROOT
        where shard != ('0x' || left(md5(coalesce(domain, input)), 16))::ubigint % {SHARDS}""").fetchall()
    assert wrong == [], wrong[:5]


def stable(row, want):
    """The row without the columns that differ between any two scans; where the truth allows either timeout or
    SERVFAIL (a dead server: Unbound may give up before the scanner does), the truth's first choice."""
    out = {k: v for k, v in row.items() if k not in UNSTABLE}
    if out["status"] in [want["status"]] + want["status_alt"]:
        out["status"] = want["status"]
    mx = [dict(m) for m in out["mx"] or []]
    for m, w in zip(mx, want["mx"]):
        if m["address_status"] in [w["address_status"]] + w["address_status_alt"]:
            m["address_status"] = w["address_status"]
    out["mx"] = mx
    return out


def test_the_union_equals_a_single_scan_row_for_row(slurm_run, testbed):
    truth = {key(t): t for t in testbed.truth}
    union = {key(r): stable(r, truth[key(r)]) for r in rows_of(duck(slurm_run["root"], "select * from ROOT"))}
    single = {key(r): stable(r, truth[key(r)]) for r in read_parquet(slurm_run["single"])}
    assert len(union) == len(single) == len(truth)
    differ = [k for k in single if union.get(k) != single[k]]
    assert not differ, "\n".join(f"{k}:\n  slurm  {union.get(k)}\n  single {single[k]}" for k in differ[:3])


def test_resubmitting_complete_shards_changes_nothing(cluster, slurm_run):
    """The whole array again: every shard has _SUCCESS, so every task says so and leaves its directory alone."""
    root, work = slurm_run["root"], slurm_run["work"]
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    job = cluster.sbatch(f"--array=0-{SHARDS - 1}", f"--chdir={work}", env=slurm_run["env"])
    assert cluster.wait(job) == {k: "COMPLETED" for k in range(SHARDS)}
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    for k in range(SHARDS):
        log = (work / f"mxscan_{job}_{k}.out").read_text()
        assert "already complete" in log and "mxscan scan" not in log, log
