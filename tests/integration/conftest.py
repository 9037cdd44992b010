"""Fixtures for the integration tests: a loopback DNS test bed (Knot + Unbound, scripts/testbed)
serving a generated world (scripts/gen-world.py), and the mxscan binary.

Environment:
  MXSCAN_BIN            the binary under test (default target/release/mxscan)
  MXSCAN_TEST_DOMAINS   size of the world (default 12000)
  MXSCAN_TEST_SEED      its seed (default 1)
  MXSCAN_WORLD          a directory to generate the world into, or reuse it from (default: a temp dir)
  CI=true               anything missing (knotd/unbound/kdig, the binary, pyarrow, the Public Suffix
                        List file) is a failure instead of a skip

Nothing here reads outside the repository: the output contract is checked by the project's own
check_output.py against docs/output.md and docs/findings.md.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SBIN_PATH = "/usr/sbin:/sbin:" + os.environ.get("PATH", "")


def in_ci():
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def unavailable(msg):
    if in_ci():
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def free_ports(n):
    """n distinct loopback ports that are free for both TCP and UDP right now."""
    ports = []
    while len(ports) < n:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
        if port not in ports:
            ports.append(port)
    return ports


@dataclass
class Testbed:
    dir: Path
    resolver: str       # "127.0.0.1:PORT" of Unbound
    truth: list         # the expected rows for input.csv (truth.jsonl)

    @property
    def input_csv(self):
        return self.dir / "input.csv"

    @property
    def input_txt(self):
        return self.dir / "input.txt"


def running_testbed(world, profile):
    """Start scripts/testbed in `world` with Unbound's `profile` (tuned, untuned); yield the Testbed and
    stop both servers after. The Testbed's restart() gives a fresh, cold Unbound (and Knot)."""
    missing = [t for t in ("knotd", "unbound", "kdig") if not shutil.which(t, path=SBIN_PATH)]
    if missing:
        unavailable(f"{', '.join(missing)} not installed (Debian packages knot, knot-dnsutils, unbound)")
    knot_port, unbound_port, dead_port = free_ports(3)
    env = dict(os.environ, PATH=SBIN_PATH, PYTHON=sys.executable, KNOT_PORT=str(knot_port),
               UNBOUND_PORT=str(unbound_port), DEAD_PORT=str(dead_port), UNBOUND_PROFILE=profile)
    script = str(REPO / "scripts" / "testbed")

    def start(*args):
        done = subprocess.run([script, "start", str(world), *args], env=env, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            subprocess.run([script, "stop", str(world)], env=env, capture_output=True, timeout=60)
            pytest.fail(f"scripts/testbed start ({profile}) failed:\n{done.stderr}", pytrace=False)

    def restart():
        subprocess.run([script, "stop", str(world)], env=env, capture_output=True, timeout=60)
        start()

    start("--domains", os.environ.get("MXSCAN_TEST_DOMAINS", "12000"),
          "--seed", os.environ.get("MXSCAN_TEST_SEED", "1"))
    try:
        with open(world / "truth.jsonl", encoding="utf-8") as fh:
            truth = [json.loads(line) for line in fh]
        bed = Testbed(world, f"127.0.0.1:{unbound_port}", truth)
        bed.restart = restart
        yield bed
    finally:
        subprocess.run([script, "stop", str(world)], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def testbed(tmp_path_factory):
    world = Path(os.environ.get("MXSCAN_WORLD") or tmp_path_factory.mktemp("world"))
    yield from running_testbed(world, "tuned")


@pytest.fixture(scope="session")
def mxscan_bin():
    path = Path(os.environ.get("MXSCAN_BIN") or REPO / "target" / "release" / "mxscan")
    if not path.is_file() or not os.access(path, os.X_OK):
        unavailable(f"no mxscan binary at {path} (cargo build --release, or set MXSCAN_BIN)")
    # Absolute: some tests run it from another directory (a Slurm job with --chdir).
    return str(path.resolve())


@pytest.fixture(scope="session")
def check_output_tool():
    """The project's own contract checker (tests/integration/check_output.py)."""
    return str(Path(__file__).resolve().parent / "check_output.py")


@pytest.fixture(scope="session")
def untuned_testbed(tmp_path_factory):
    """The same world behind Unbound as Debian ships it (UNBOUND_PROFILE=untuned: default socket buffers,
    default query table), with a cold cache: what a new user's resolver looks like."""
    yield from running_testbed(Path(tmp_path_factory.mktemp("untuned-world")), "untuned")
