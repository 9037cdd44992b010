#!/usr/bin/env node
// Offline checks of Kubernetes manifests (no cluster): scripts/check-k8s runs this on deploy/k8s/*.yaml.
//
//   node validate.mjs FILE...               check; one line per problem, exit 1 if any
//   node validate.mjs --print-json FILE...  print the parsed documents as JSON (for tests and scripts)
//
// 1. Every YAML document is parsed as Kubernetes parses it (YAML 1.1, duplicate keys refused) and
//    validated against the OpenAPI schema of its apiVersion and kind (the npm package
//    kubernetes-models: 4.5.x carries the Kubernetes 1.33 schemas). Those schemas allow any extra
//    field, where `kubectl apply` (strict field validation) refuses one: a field the schema never
//    looks at is reported here as unknown (a misspelled `backofLimitPerIndex` would otherwise pass,
//    and the cluster would retry the whole Job instead of each shard).
// 2. mxscan's own rules, which no schema can state: an Indexed Job whose `completions` is the N of
//    `--shard=$(JOB_COMPLETION_INDEX)/N`, `--resume`, a fixed `--scan-date`, an s3:// dataset root,
//    `backoffLimitPerIndex`, the resolver as a native sidecar (an initContainer with
//    restartPolicy: Always) that listens on loopback only and is the one `--resolver` names, and
//    the restricted Pod Security settings on every container.
//
// Exit codes: 0 valid, 1 a problem found, 2 usage.

import { readFileSync } from "node:fs";
import { LineCounter, parseAllDocuments } from "yaml";

const KUBERNETES_SCHEMAS = "1.33"; // the schema version of kubernetes-models 4.5.x
const modelsVersion = JSON.parse(
  readFileSync(new URL("./node_modules/kubernetes-models/package.json", import.meta.url), "utf8"),
).version;

// ---------------------------------------------------------------------------------------------
// Parsing

/** The documents of one file: [{ index, value, yamlDoc, lineCounter }], or problems. */
function parseFile(file, problems) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    problems.push(`${file}: cannot read: ${e.message}`);
    return [];
  }
  const lineCounter = new LineCounter();
  // Kubernetes reads YAML 1.1 (sigs.k8s.io/yaml): `on`, `yes` and `0755` mean what they meant there.
  const docs = parseAllDocuments(text, { version: "1.1", merge: true, uniqueKeys: true, lineCounter });
  const out = [];
  let index = 0;
  for (const yamlDoc of Array.isArray(docs) ? docs : [docs]) {
    index += 1;
    const bad = [...yamlDoc.errors, ...yamlDoc.warnings];
    if (bad.length) {
      for (const e of bad) {
        const line = e.linePos?.[0]?.line ?? "?";
        problems.push(`${file}:${line}: YAML: ${e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}`);
      }
      continue;
    }
    const value = yamlDoc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue; // an empty document (a trailing ---)
    out.push({ file, index, value, yamlDoc, lineCounter });
  }
  return out;
}

/** "file:line" of the deepest node of `path` that exists in the document. */
function where(doc, path) {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.yamlDoc.getIn(path.slice(0, n), true);
    const offset = node?.range?.[0];
    if (typeof offset === "number") return `${doc.file}:${doc.lineCounter.linePos(offset).line}`;
  }
  return doc.file;
}

/** A path for people: spec.template.spec.containers[mxscan].args (named items by their name). */
function showPath(value, path) {
  let out = "";
  let node = value;
  for (const seg of path) {
    if (Array.isArray(node)) {
      const item = node[seg];
      out += item && typeof item === "object" && typeof item.name === "string" ? `[${item.name}]` : `[${seg}]`;
    } else {
      out += out ? `.${seg}` : String(seg);
    }
    node = node?.[seg];
  }
  return out || "(document)";
}

function label(doc) {
  const v = doc.value;
  if (!v || typeof v !== "object" || Array.isArray(v)) return `document ${doc.index}`;
  return `${v.kind ?? "?"} ${v.metadata?.name ?? "(no name)"}`;
}

// ---------------------------------------------------------------------------------------------
// 1. The Kubernetes schemas

async function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || !/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion)) {
    return null;
  }
  if (typeof kind !== "string" || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) return null;
  let mod;
  try {
    mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
  } catch {
    return null;
  }
  const cls = mod[kind];
  return typeof cls === "function" && cls.apiVersion === apiVersion && cls.kind === kind ? cls : null;
}

function editDistance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

function suggestion(key, known) {
  let best = null;
  for (const k of known) {
    const dist = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(k, key);
    if (dist <= Math.max(2, Math.floor(key.length / 4)) && (!best || dist < best.dist)) best = { k, dist };
  }
  return best ? ` (did you mean ${best.k}?)` : "";
}

/**
 * Validate `value` with the model's compiled schema, watching which fields the schema reads: it
 * reads every property it knows (present or not) and every key of a map, so a key that it never
 * read is one the API does not know. Returns [{ path, message }].
 */
function schemaProblems(cls, value) {
  const reads = new WeakMap();
  const proxies = new WeakMap();
  const wrap = (v) => {
    if (v === null || typeof v !== "object") return v;
    let p = proxies.get(v);
    if (!p) {
      reads.set(v, new Set());
      p = new Proxy(v, {
        get(target, key, receiver) {
          if (typeof key === "string") reads.get(target).add(key);
          return wrap(Reflect.get(target, key, receiver));
        },
      });
      proxies.set(v, p);
    }
    return p;
  };
  const found = [];
  try {
    cls.prototype.validate.call(wrap(value));
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e;
    for (const err of e.errors) {
      const path = err.instancePath.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
      const realPath = path.map((s, i) => (Array.isArray(getPath(value, path.slice(0, i))) ? Number(s) : s));
      let message = err.message;
      if (err.keyword === "enum") message += `: ${err.params.allowedValues.join(", ")}`;
      if (err.keyword === "required") {
        realPath.push(err.params.missingProperty);
        message = "is required";
      }
      found.push({ path: realPath, message });
    }
  }
  const walk = (v, path) => {
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, [...path, i]));
    } else if (v !== null && typeof v === "object") {
      const seen = reads.get(v);
      // Never reached (under a field that failed its type), or free-form (a schema without
      // properties reads nothing): nothing to say.
      if (!seen || seen.size === 0) return;
      for (const key of Object.keys(v)) {
        if (seen.has(key)) walk(v[key], [...path, key]);
        else found.push({ path: [...path, key], message: `unknown field${suggestion(key, seen)}` });
      }
    }
  };
  walk(value, []);
  return found;
}

function getPath(value, path) {
  return path.reduce((v, seg) => (v === null || v === undefined ? undefined : v[seg]), value);
}

// ---------------------------------------------------------------------------------------------
// 2. mxscan's rules

const INDEX_FIELD = /^metadata\.(annotations|labels)\['batch\.kubernetes\.io\/job-completion-index'\]$/;

/** The value of a long option in args: --name=value or --name value; all occurrences. */
function optionValues(args, name) {
  const values = [];
  args.forEach((a, i) => {
    if (a === name) values.push(i + 1 < args.length ? args[i + 1] : "");
    else if (a.startsWith(`${name}=`)) values.push(a.slice(name.length + 1));
  });
  return values;
}

/** $(NAME) replaced by the container's literal env values ($$ is a literal $); null if unresolvable. */
function expand(text, container) {
  let unresolved = false;
  const out = text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name) => {
    if (m === "$$") return "$";
    const env = (container.env ?? []).find((e) => e.name === name);
    if (env && typeof env.value === "string") return env.value;
    unresolved = true;
    return m;
  });
  return unresolved ? null : out;
}

/** unbound.conf settings as [key, value] pairs, clause names included as ["clause", name]. */
function unboundSettings(text) {
  const out = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const m = /^([a-z0-9-]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const value = m[2].replace(/^"(.*)"$/, "$1");
    out.push(/^(server|forward-zone|stub-zone|auth-zone|remote-control|view|rpz)$/.test(m[1]) && !value
      ? ["clause", m[1]]
      : [m[1], value]);
  }
  return out;
}

function isLoopback(addr) {
  const host = addr.split("@")[0];
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1";
}

function mxscanRules(docs, problems) {
  const jobs = docs.filter(
    (d) => d.value?.kind === "Job" &&
      (d.value.spec?.template?.spec?.containers ?? []).some((c) => c?.name === "mxscan"),
  );
  if (!jobs.length) {
    problems.push("no Job with a container named mxscan among the files checked");
    return;
  }
  const configMaps = new Map(
    docs.filter((d) => d.value?.kind === "ConfigMap" && d.value.metadata?.name).map((d) => [d.value.metadata.name, d]),
  );
  for (const doc of jobs) {
    const job = doc.value;
    const say = (path, message) => problems.push(`${where(doc, path)}: ${label(doc)}: ${showPath(job, path)}: ${message}`);
    const spec = job.spec;
    const pod = spec.template.spec;
    const N = spec.completions;

    if (spec.completionMode !== "Indexed") {
      say(["spec", "completionMode"], "must be Indexed: each pod takes its shard K from its completion index");
    }
    if (!Number.isInteger(N) || N < 1) say(["spec", "completions"], "must be set to N, the number of shards");
    if (spec.backoffLimitPerIndex === undefined) {
      say(["spec", "backoffLimitPerIndex"],
        "is not set: retries would be counted for the whole Job, so one bad shard could stop all of them");
    }
    if (spec.maxFailedIndexes !== undefined) {
      if (spec.backoffLimitPerIndex === undefined) say(["spec", "maxFailedIndexes"], "needs backoffLimitPerIndex");
      if (Number.isInteger(N) && spec.maxFailedIndexes > N) say(["spec", "maxFailedIndexes"], `must not exceed completions (${N})`);
    }
    if (pod.restartPolicy !== "Never") {
      say(["spec", "template", "spec", "restartPolicy"],
        "must be Never: a failed pod is replaced (and resumes) under backoffLimitPerIndex and podFailurePolicy");
    }
    for (const [i, rule] of (spec.podFailurePolicy?.rules ?? []).entries()) {
      if (rule?.action === "FailIndex" && spec.backoffLimitPerIndex === undefined) {
        say(["spec", "podFailurePolicy", "rules", i, "action"], "FailIndex needs backoffLimitPerIndex");
      }
    }

    // The mxscan container and its arguments.
    const ci = pod.containers.findIndex((c) => c?.name === "mxscan");
    const mx = pod.containers[ci];
    const mxPath = ["spec", "template", "spec", "containers", ci];
    const args = [...(mx.command ?? []), ...(mx.args ?? [])].map(String);
    const argsPath = [...mxPath, mx.args ? "args" : "command"];
    // Where an option is in args (its own line), else the list.
    const argAt = (name) => {
      const i = (mx.args ?? []).findIndex((a) => a === name || String(a).startsWith(`${name}=`));
      return i >= 0 ? [...mxPath, "args", i] : argsPath;
    };
    if (!args.includes("scan")) say(argsPath, "mxscan must run `scan`");

    const shards = optionValues(args, "--shard");
    if (shards.length !== 1) {
      say(argAt("--shard"), "needs one --shard=$(JOB_COMPLETION_INDEX)/N");
    } else {
      const m = /^\$\(JOB_COMPLETION_INDEX\)\/(\d+)$/.exec(shards[0]);
      if (!m) {
        say(argAt("--shard"), `--shard ${shards[0]} must be $(JOB_COMPLETION_INDEX)/N: each pod's K is its completion index`);
      } else if (Number(m[1]) !== N) {
        say(["spec", "completions"],
          `is ${N} but --shard=$(JOB_COMPLETION_INDEX)/${m[1]} says N = ${m[1]}: they must be the same N ` +
          (Number(m[1]) > N ? `(shards ${N}…${Number(m[1]) - 1} would never be scanned)` : `(indexes ${m[1]}…${N - 1} are no shard)`));
      }
      const own = (mx.env ?? []).find((e) => e.name === "JOB_COMPLETION_INDEX");
      if (own && !INDEX_FIELD.test(own.valueFrom?.fieldRef?.fieldPath ?? "")) {
        say([...mxPath, "env"], "JOB_COMPLETION_INDEX must come from the pod's batch.kubernetes.io/job-completion-index");
      }
    }

    if (!args.includes("--resume")) {
      say(argsPath, "lacks --resume: a retried pod must continue the shard's journal, not refuse it");
    }

    const dates = optionValues(args, "--scan-date");
    const date = dates.length === 1 ? expand(dates[0], mx) : null;
    const valid = date && /^\d{4}-\d{2}-\d{2}$/.test(date) &&
      new Date(`${date}T00:00:00Z`).toISOString().startsWith(date);
    if (!valid) {
      say(argAt("--scan-date"),
        (dates.length === 1 ? `--scan-date=${dates[0]} is not a fixed date; ` : "") +
        "needs one fixed --scan-date=YYYY-MM-DD: otherwise each pod takes the day it starts (UTC), and a pod " +
        "that starts after midnight writes into another partition");
    }

    const roots = optionValues(args, "--dataset-root");
    const root = roots.length === 1 ? expand(roots[0], mx) : null;
    if (!root || !/^s3:\/\/[^/]+/.test(root)) {
      say(argAt("--dataset-root"), "needs one --dataset-root=s3://BUCKET/PREFIX: a pod's own disk is lost with the pod");
    }

    // The input must be on a volume of the pod (fetched by an init container, or mounted).
    const scanAt = args.indexOf("scan");
    const input = scanAt >= 0 ? args[scanAt + 1] : undefined;
    if (input && input !== "-" && !input.startsWith("-") &&
      !(mx.volumeMounts ?? []).some((v) => input.startsWith(`${v.mountPath.replace(/\/$/, "")}/`))) {
      say(argsPath, `the input ${input} is on no volume mounted in the mxscan container`);
    }

    // The resolver: the pod's own Unbound, a native sidecar.
    const inits = pod.initContainers ?? [];
    const isUnbound = (c) =>
      c?.name === "unbound" || /unbound/.test(c?.image ?? "") && /unbound$/.test((c?.command ?? [])[0] ?? "");
    pod.containers.forEach((c, i) => {
      if (i !== ci && isUnbound(c)) {
        say(["spec", "template", "spec", "containers", i],
          "the resolver must be a native sidecar, an initContainer with restartPolicy: Always: as a plain " +
          "container it keeps running after mxscan exits, and the Job never completes");
      } else if (i !== ci) {
        say(["spec", "template", "spec", "containers", i],
          "only mxscan belongs in containers: the pod completes when every container has exited " +
          "(a sidecar goes into initContainers with restartPolicy: Always)");
      }
    });
    const si = inits.findIndex(isUnbound);
    const sidecar = inits[si];
    const sidecarPath = ["spec", "template", "spec", "initContainers", si];
    if (!sidecar) {
      if (!pod.containers.some((c, i) => i !== ci && isUnbound(c))) {
        say(["spec", "template", "spec", "initContainers"],
          "no resolver sidecar: an initContainer with restartPolicy: Always that runs Unbound");
      }
    } else if (sidecar.restartPolicy !== "Always") {
      say([...sidecarPath, "restartPolicy"],
        "must be Always: without it the resolver is an ordinary init container that must exit before mxscan starts");
    }

    const resolvers = optionValues(args, "--resolver");
    const rm = resolvers.length === 1 ? /^127\.0\.0\.1(?::(\d+))?$/.exec(resolvers[0]) : null;
    if (!rm) {
      say(argAt("--resolver"), "needs exactly one --resolver=127.0.0.1:PORT, the pod's own Unbound");
    }
    const resolverPort = rm ? Number(rm[1] ?? 53) : null;

    // The sidecar's unbound.conf, from the ConfigMap it mounts.
    if (sidecar) {
      const mounted = (sidecar.volumeMounts ?? []).map((m) => (pod.volumes ?? []).find((v) => v.name === m.name));
      const cmName = mounted.find((v) => v?.configMap)?.configMap.name;
      const cmDoc = cmName && configMaps.get(cmName);
      const conf = cmDoc && Object.entries(cmDoc.value.data ?? {}).find(([k]) => k.endsWith(".conf"));
      if (!conf) {
        say(sidecarPath, `mounts no ConfigMap with an unbound .conf among the files checked${cmName ? ` (${cmName})` : ""}`);
      } else {
        const [key, text] = conf;
        const confPath = ["data", key];
        const sayConf = (message) =>
          problems.push(`${where(cmDoc, confPath)}: ${label(cmDoc)}: data.${key}: ${message}`);
        const settings = unboundSettings(text);
        const interfaces = settings.filter(([k]) => k === "interface").map(([, v]) => v);
        if (!interfaces.length || !interfaces.every(isLoopback)) {
          sayConf("Unbound must listen on loopback only (interface: 127.0.0.1): it is this pod's resolver, no one else's");
        }
        const ports = settings.filter(([k]) => k === "port").map(([, v]) => Number(v));
        const port = ports.length ? ports[ports.length - 1] : 53;
        if (resolverPort !== null && port !== resolverPort) {
          say(argAt("--resolver"), `--resolver=${resolvers[0]} is not Unbound's port ${port} (${cmName}, ${key})`);
        }
        for (const [, v] of settings.filter(([k]) => k === "access-control")) {
          const [net, action] = v.split(/\s+/);
          if (/^allow/.test(action ?? "") && !isLoopback(net.split("/")[0])) {
            sayConf(`access-control: ${v}: only loopback may ask this resolver`);
          }
        }
        if (settings.some(([k, v]) => k === "clause" && v === "forward-zone")) {
          sayConf("forward-zone: the pod's resolver resolves by itself; a shared resolver is not yours to load");
        }
      }
    }

    // Restricted Pod Security on every container.
    const podSec = pod.securityContext ?? {};
    for (const [listName, list] of [["initContainers", inits], ["containers", pod.containers]]) {
      list.forEach((c, i) => {
        const sc = c.securityContext ?? {};
        const at = ["spec", "template", "spec", listName, i, "securityContext"];
        const need = [];
        if (sc.allowPrivilegeEscalation !== false) need.push("allowPrivilegeEscalation: false");
        if (sc.readOnlyRootFilesystem !== true) need.push("readOnlyRootFilesystem: true");
        if (!(sc.capabilities?.drop ?? []).includes("ALL")) need.push("capabilities.drop: [ALL]");
        if ((sc.capabilities?.add ?? []).length) need.push("no capabilities.add");
        if ((sc.runAsNonRoot ?? podSec.runAsNonRoot) !== true) need.push("runAsNonRoot: true (here or for the pod)");
        if (sc.runAsUser === 0) need.push("a runAsUser other than 0");
        const seccomp = (sc.seccompProfile ?? podSec.seccompProfile)?.type;
        if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") {
          need.push("seccompProfile RuntimeDefault (here or for the pod)");
        }
        if (sc.privileged) need.push("no privileged");
        if (need.length) say(at, `needs ${need.join(", ")}`);
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function main(argv) {
  const printJson = argv.includes("--print-json");
  const files = argv.filter((a) => a !== "--print-json");
  if (!files.length || files.some((f) => f.startsWith("-"))) {
    console.error("usage: validate.mjs [--print-json] FILE.yaml...");
    return 2;
  }
  const problems = [];
  const docs = files.flatMap((f) => parseFile(f, problems));
  if (printJson) {
    console.log(JSON.stringify(files.map((file) => ({ file, documents: docs.filter((d) => d.file === file).map((d) => d.value) }))));
    return problems.length ? 1 : 0;
  }
  for (const doc of docs) {
    const v = doc.value;
    if (!v || typeof v !== "object" || Array.isArray(v)) {
      problems.push(`${where(doc, [])}: document ${doc.index}: not a Kubernetes object`);
      continue;
    }
    const cls = await modelFor(v.apiVersion, v.kind);
    if (!cls) {
      problems.push(`${where(doc, ["kind"])}: ${label(doc)}: apiVersion ${v.apiVersion} kind ${v.kind} is not in the ` +
        `Kubernetes ${KUBERNETES_SCHEMAS} API`);
      continue;
    }
    // One line per field: a oneOf (int or string) fails once per branch.
    const byPath = new Map();
    for (const { path, message } of schemaProblems(cls, v)) {
      const key = JSON.stringify(path);
      if (!byPath.has(key)) byPath.set(key, { path, messages: [] });
      if (!byPath.get(key).messages.includes(message)) byPath.get(key).messages.push(message);
    }
    for (const { path, messages } of byPath.values()) {
      problems.push(`${where(doc, path)}: ${label(doc)}: ${showPath(v, path)}: ${messages.join("; ")}`);
    }
  }
  if (!problems.length) mxscanRules(docs, problems);
  for (const p of problems) console.log(p);
  if (problems.length) {
    console.log(`check-k8s: ${problems.length} problem${problems.length === 1 ? "" : "s"}`);
    return 1;
  }
  for (const file of files) {
    const names = docs.filter((d) => d.file === file).map(label);
    console.log(`ok ${file}: ${names.join(", ") || "no documents"}`);
  }
  console.log(`check-k8s: ${docs.length} documents valid (Kubernetes ${KUBERNETES_SCHEMAS} schemas, kubernetes-models ` +
    `${modelsVersion}, unknown fields refused) and mxscan's rules hold`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
