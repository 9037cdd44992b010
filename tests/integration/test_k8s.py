"""deploy/k8s: the Kubernetes Job (an Indexed Job, one shard a pod, Unbound as a native sidecar, the dataset
in S3), checked offline by scripts/check-k8s: every document against the Kubernetes API schemas (the npm
package kubernetes-models), unknown fields refused, then mxscan's own rules. The real file passes; broken
copies of it are each refused with a line that names the file, the line and what is wrong. The ConfigMap's
unbound.conf is checked by Unbound itself (unbound-checkconf, then a start on loopback), its trust anchors
against Debian's dns-root-data, the preflight container's shell script against canned resolver answers, and
the README's sizing example against the manifest's numbers. No cluster is needed: none runs here."""
import copy
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, SBIN_PATH, free_ports, unavailable

MANIFEST = REPO / "deploy" / "k8s" / "mxscan-job.yaml"
K8S_README = REPO / "deploy" / "k8s" / "README.md"
CHECK = REPO / "scripts" / "check-k8s"


def check(*args):
    if not (shutil.which("node") and shutil.which("npm")):
        unavailable("node and npm are not installed (Debian packages nodejs npm)")
    # The first call may run `npm ci` (the npm registry); later ones take well under a second.
    return subprocess.run([str(CHECK), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def docs():
    """The manifest's documents as Kubernetes reads them (YAML 1.1), via the checker's --print-json."""
    done = check("--print-json", MANIFEST)
    assert done.returncode == 0, done.stdout + done.stderr
    [parsed] = json.loads(done.stdout)
    return parsed["documents"]


def job(documents):
    [j] = [d for d in documents if d["kind"] == "Job"]
    return j


def named(items, name):
    [item] = [i for i in items if i["name"] == name]
    return item


def unbound_conf(documents):
    [cm] = [d for d in documents if d["kind"] == "ConfigMap"]
    return cm["data"]["unbound.conf"]


def refused(path, *patterns):
    """check-k8s on `path` exits 1, and each pattern matches one of its lines."""
    done = check(path)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    for pattern in patterns:
        assert re.search(pattern, out, re.M), f"no line matches {pattern!r} in:\n{out}"
    return out


def edited(tmp_path, old, new):
    """A copy of the manifest with `old` (found exactly once) replaced by `new`."""
    text = MANIFEST.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / "mxscan-job.yaml"
    path.write_text(text.replace(old, new))
    return path


def rebuilt(tmp_path, documents):
    """The documents written back as YAML (JSON is YAML), one per `---`."""
    path = tmp_path / "mxscan-job.yaml"
    path.write_text("".join("---\n" + json.dumps(d, indent=2) + "\n" for d in documents))
    return path


def line_of(path, text):
    [n] = [i for i, line in enumerate(Path(path).read_text().splitlines(), 1) if text in line]
    return n


def test_the_manifests_pass():
    done = check()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok deploy/k8s/mxscan-job.yaml: ConfigMap mxscan-unbound, Job mxscan" in done.stdout
    assert re.search(r"2 documents valid \(Kubernetes 1\.33 schemas, kubernetes-models 4\.5\.\d+, unknown fields "
                     r"refused\) and mxscan's rules hold", done.stdout), done.stdout


def test_what_the_manifest_says(docs):
    """The decisions the brief asks for, in the parsed manifest (what the checker's rules guard, seen directly)."""
    spec = job(docs)["spec"]
    assert spec["completionMode"] == "Indexed" and spec["backoffLimitPerIndex"] >= 1
    assert 0 <= spec["maxFailedIndexes"] < spec["completions"]
    assert spec["podReplacementPolicy"] == "Failed"
    rules = spec["podFailurePolicy"]["rules"]
    assert {"action": "FailIndex", "onExitCodes": {"containerName": "mxscan", "operator": "In", "values": [2]}} in rules
    assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]} in rules
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert [c["name"] for c in pod["initContainers"]] == ["unbound", "preflight", "fetch-input"]
    assert named(pod["initContainers"], "unbound")["restartPolicy"] == "Always"
    fetch = named(pod["initContainers"], "fetch-input")
    assert fetch["args"][:2] == ["s3", "cp"], "aws s3 cp keeps the object's modification time, which --resume checks"
    mx = named(pod["containers"], "mxscan")
    assert f"--shard=$(JOB_COMPLETION_INDEX)/{spec['completions']}" in mx["args"]
    assert "--resume" in mx["args"] and "--spool=/spool" in mx["args"]
    assert {"secretRef": {"name": "mxscan-s3"}} in mx["envFrom"] and fetch["envFrom"] == mx["envFrom"]
    spool = named(pod["volumes"], "spool")
    assert "emptyDir" in spool and named(mx["volumeMounts"], "spool")["mountPath"] == "/spool"


# A copy with one edit, and the line that says what is wrong. FILE:LINE points at the line to fix.
EDITS = {
    "schema: wrong type": ("  completions: 16\n", '  completions: "four"\n',
                           r"^{path}:{line}: Job mxscan: spec\.completions: must be integer$", "completions:"),
    "schema: misspelled field": ("  backoffLimitPerIndex: 3\n", "  backofLimitPerIndex: 3\n",
                                 r"^{path}:{line}: Job mxscan: spec\.backofLimitPerIndex: unknown field "
                                 r"\(did you mean backoffLimitPerIndex\?\)$", "backofLimitPerIndex"),
    "schema: misspelled nested field": ("            sizeLimit: 1Gi\n", "            sizLimit: 1Gi\n",
                                        r"^{path}:{line}: Job mxscan: spec\.template\.spec\.volumes\[spool\]\.emptyDir"
                                        r"\.sizLimit: unknown field \(did you mean sizeLimit\?\)$", "sizLimit"),
    "schema: not an enum value": ("  completionMode: Indexed\n", "  completionMode: indexed\n",
                                  r"spec\.completionMode: must be equal to one of the allowed values: Indexed, "
                                  r"NonIndexed$", None),
    "yaml: duplicate key": ("      restartPolicy: Never\n", "      restartPolicy: Never\n      restartPolicy: Never\n",
                            r"^{path}:\d+: YAML: Map keys must be unique$", None),
    "completions is not N": ("  completions: 16\n", "  completions: 8\n",
                             r"^{path}:{line}: Job mxscan: spec\.completions: is 8 but --shard=\$\(JOB_COMPLETION_INDEX\)"
                             r"/16 says N = 16: they must be the same N \(shards 8…15 would never be scanned\)$",
                             "completions:"),
    "no --resume": ("            - --resume\n", "",
                    r"^{path}:\d+: Job mxscan: spec\.template\.spec\.containers\[mxscan\]\.args: lacks --resume", None),
    "no --scan-date": ("            - --scan-date=2026-12-07\n", "",
                       r"containers\[mxscan\]\.args: needs one fixed --scan-date=YYYY-MM-DD", None),
    "--scan-date not a date": ("--scan-date=2026-12-07", "--scan-date=2026-02-30",
                               r"containers\[mxscan\]\.args\[4\]: --scan-date=2026-02-30 is not a fixed date", None),
    "shard without the index": ("--shard=$(JOB_COMPLETION_INDEX)/16", "--shard=0/16",
                                r"args\[2\]: --shard 0/16 must be \$\(JOB_COMPLETION_INDEX\)/N", None),
    "dataset root not in S3": ("--dataset-root=s3://example-bucket/mxscan", "--dataset-root=/data/mx",
                               r"args\[3\]: needs one --dataset-root=s3://BUCKET/PREFIX", None),
    "no backoffLimitPerIndex": ("  backoffLimitPerIndex: 3\n", "",
                                r"spec\.backoffLimitPerIndex: is not set", None),
    "resolver not the sidecar": ("--resolver=127.0.0.1:5053", "--resolver=8.8.8.8:53",
                                 r"args\[6\]: needs exactly one --resolver=127\.0\.0\.1:PORT, the pod's own Unbound", None),
    "resolver on another port": ("--resolver=127.0.0.1:5053", "--resolver=127.0.0.1:53",
                                 r"args\[6\]: --resolver=127\.0\.0\.1:53 is not Unbound's port 5053", None),
    "sidecar without restartPolicy": ("          restartPolicy: Always\n", "",
                                      r"initContainers\[unbound\]\.restartPolicy: must be Always", None),
    "unbound listens beyond loopback": ("        interface: 127.0.0.1\n", "        interface: 0.0.0.0\n",
                                        r"ConfigMap mxscan-unbound: data\.unbound\.conf: Unbound must listen on loopback "
                                        r"only", None),
    "unbound forwards": ("        prefetch: no\n",
                         '        prefetch: no\n    forward-zone:\n        name: "."\n        forward-addr: 192.0.2.1\n',
                         r"data\.unbound\.conf: forward-zone: the pod's resolver resolves by itself", None),
    "unbound answers other networks": ("access-control: 127.0.0.0/8 allow", "access-control: 10.0.0.0/8 allow",
                                       r"access-control: 10\.0\.0\.0/8 allow: only loopback may ask", None),
}


@pytest.mark.parametrize("name", EDITS)
def test_a_broken_copy_is_refused(tmp_path, name):
    old, new, pattern, anchor = EDITS[name]
    path = edited(tmp_path, old, new)
    line = line_of(path, anchor) if anchor else None
    refused(path, pattern.format(path=re.escape(str(path)), line=line))


def test_the_sidecar_as_a_plain_container_is_refused(tmp_path, docs):
    documents = copy.deepcopy(docs)
    pod = job(documents)["spec"]["template"]["spec"]
    sidecar = named(pod["initContainers"], "unbound")
    pod["initContainers"].remove(sidecar)
    del sidecar["restartPolicy"]
    pod["containers"].append(sidecar)
    refused(rebuilt(tmp_path, documents),
            r"spec\.template\.spec\.containers\[unbound\]: the resolver must be a native sidecar, an initContainer "
            r"with restartPolicy: Always: as a plain container it keeps running after mxscan exits, and the Job "
            r"never completes")


def test_a_container_without_the_restricted_settings_is_refused(tmp_path, docs):
    documents = copy.deepcopy(docs)
    fetch = named(job(documents)["spec"]["template"]["spec"]["initContainers"], "fetch-input")
    fetch["securityContext"] = {"runAsUser": 0}
    refused(rebuilt(tmp_path, documents),
            r"initContainers\[fetch-input\]\.securityContext: needs allowPrivilegeEscalation: false, "
            r"readOnlyRootFilesystem: true, capabilities\.drop: \[ALL\], a runAsUser other than 0$")


def test_json_round_trip_passes(tmp_path, docs):
    """The rebuilt (JSON) copy of the untouched manifest passes: the refusals above come from the edits alone."""
    done = check(rebuilt(tmp_path, docs))
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_k8s_without_node_says_so_in_one_line(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run(["/bin/bash", str(CHECK)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PATH=str(empty)))
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["check-k8s: needs node (18 or newer) and npm: apt-get install nodejs npm"]


def test_the_readme_sizing_example_is_the_manifests(docs):
    """deploy/k8s/README.md's worked example uses the manifest's N and --rate, and its arithmetic holds."""
    text = K8S_README.read_text()
    [block] = re.findall(r"```text\n(D +=.*?)```", text, re.S)
    num = lambda name: float(re.search(rf"^{re.escape(name)} += ([\d,.]+)", block, re.M).group(1).replace(",", ""))
    D, N, per_shard, q, r = num("D"), num("N"), num("D/N"), num("q"), num("r")
    m = re.search(r"^time = D/N × q / r = ([\d,.]+) s ≈ ([\d.]+) hours per shard$", block, re.M)
    seconds, hours = float(m.group(1).replace(",", "")), float(m.group(2))
    spec = job(docs)["spec"]
    args = named(spec["template"]["spec"]["containers"], "mxscan")["args"]
    assert N == spec["completions"] == int(re.search(r"--shard=\$\(JOB_COMPLETION_INDEX\)/(\d+)", " ".join(args))[1])
    assert f"--rate={int(r)}" in args
    assert per_shard == D / N
    assert seconds == per_shard * q / r
    assert hours == round(seconds / 3600, 1)
    # The prose around it quotes the same numbers.
    assert f"{int(N * r):,} queries/s" in text and f"⌈N/P⌉ × {hours} hours" in text


def test_unbound_takes_the_configmaps_config(tmp_path, docs):
    """unbound-checkconf accepts unbound.conf, and Unbound starts with it and answers on loopback (the startup
    probe's question: localhost, answered by Unbound itself). Only the port and the directory differ here."""
    tools = {t: shutil.which(t, path=SBIN_PATH) for t in ("unbound", "unbound-checkconf", "kdig")}
    if not all(tools.values()):
        unavailable("unbound, unbound-checkconf or kdig not installed (Debian packages unbound, knot-dnsutils)")
    [port] = free_ports(1)
    conf = unbound_conf(docs)
    assert re.search(r"^ +port: 5053$", conf, re.M) and re.search(r'^ +directory: "/etc/unbound-mxscan"$', conf, re.M)
    conf = re.sub(r"^( +port:) 5053$", rf"\1 {port}", conf, flags=re.M)
    conf = re.sub(r'^( +directory:) "/etc/unbound-mxscan"$', rf'\1 "{tmp_path}"', conf, flags=re.M)
    path = tmp_path / "unbound.conf"
    path.write_text(conf)
    done = subprocess.run([tools["unbound-checkconf"], str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    server = subprocess.Popen([tools["unbound"], "-d", "-c", str(path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            ask = subprocess.run([tools["kdig"], "@127.0.0.1", "-p", str(port), "+short", "+time=1", "+retry=0",
                                  "localhost", "A"], capture_output=True, text=True, timeout=10)
            if ask.stdout.strip() == "127.0.0.1":
                break
            assert server.poll() is None, f"unbound exited: {server.stderr.read()}"
            assert time.monotonic() < deadline, ask.stdout + ask.stderr
            time.sleep(0.2)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_trust_anchors_are_the_roots(docs):
    """The ConfigMap's DS records are the root's, as Debian's dns-root-data ships them."""
    root_ds = Path("/usr/share/dns/root.ds")
    if not root_ds.is_file():
        unavailable(f"{root_ds} is missing (Debian package dns-root-data)")
    ours = set(re.findall(r'^ +trust-anchor: "(\. DS .*)"$', unbound_conf(docs), re.M))
    theirs = {" ".join(line.replace(" IN ", " ").split()) for line in root_ds.read_text().splitlines() if line.strip()}
    assert ours and ours == theirs


def kubelet_expand(text):
    """What the kubelet passes on for a command without variables: $$ is a literal $."""
    assert not re.search(r"(?<!\$)\$\([A-Za-z_]", text.replace("$$", "")), "an unescaped $(NAME) reference"
    return text.replace("$$", "$")


PREFLIGHT_ANSWERS = {
    "validated": (0, ";; ->>HEADER<<- opcode: QUERY, rcode: NOERROR, id: 1\n"
                     ";; flags: qr rd ra ad ; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1 \n"
                     ";; EDNS: version 0; flags: do ; udp: 1232\n"),
    "not validated": (1, ";; ->>HEADER<<- opcode: QUERY, rcode: NOERROR, id: 1\n"
                         ";; flags: qr rd ra ; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1 \n"
                         ";; EDNS: version 0; flags: do ; udp: 1232\n"),
    "servfail": (1, ";; ->>HEADER<<- opcode: QUERY, rcode: SERVFAIL, id: 1\n"
                    ";; flags: qr rd ra ; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0 \n"),
    "no answer": (1, None),
}


@pytest.mark.parametrize("answer", PREFLIGHT_ANSWERS)
def test_the_preflight_script(tmp_path, docs, answer):
    """The preflight container's shell script, as the kubelet hands it to sh, with drill's answers canned (the
    format of ldns' drill): it passes only on NOERROR with the AD bit, else fails with the answer in its log."""
    want, output = PREFLIGHT_ANSWERS[answer]
    preflight = named(job(docs)["spec"]["template"]["spec"]["initContainers"], "preflight")
    assert preflight["command"][:2] == ["/bin/sh", "-c"]
    script = kubelet_expand(preflight["command"][2])
    assert script.count("/usr/bin/drill") == 1 and script.count("sleep 2") == 1
    drill = tmp_path / "drill"
    if output is None:
        drill.write_text("#!/bin/sh\necho 'Error: error sending query: Could not send or receive' >&2\nexit 1\n")
    else:
        (tmp_path / "answer.txt").write_text(output)
        drill.write_text(f"#!/bin/sh\ncat '{tmp_path}/answer.txt'\n")
    drill.chmod(0o755)
    script = script.replace("/usr/bin/drill", str(drill)).replace("sleep 2", "sleep 0").replace("/tmp/preflight.txt", f"{tmp_path}/preflight.txt")
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == want, done.stdout + done.stderr
    if want == 0:
        assert done.stdout == "preflight: Unbound resolves . SOA and validates it (AD set)\n"
    else:
        assert "after 12 tries Unbound still gives no validated answer for . SOA" in done.stderr
        assert (output or "Could not send or receive").splitlines()[0] in done.stdout + done.stderr
