// ref-run.mjs runs scenarios under the reference runtime (Wasmer's WASIX,
// through the npm package @wasmer/sdk 0.16.0 on Node) and writes, per scenario,
// the guest's stdout followed by a final line "exit N".
//
//   node ref-run.mjs --out DIR [NAME ...]   write DIR/NAME.out
//   node ref-run.mjs --record [NAME ...]    write expected/NAME.wasmer
//   node ref-run.mjs --show [NAME ...]      print the results
//
// With no NAME, every scenarios/*.wat is run. The .wat is compiled in-process
// with the npm package wabt, so nothing but npm is needed.
//
// The scenarios run in a child process (`--batch NAME...`, one JSON line per
// scenario) that is killed after CHILD_TIMEOUT_MS of silence: when a guest
// recurses deeply the SDK's own worker crashes, and then `run()` either never
// settles (not even on its own timeout) or takes the whole process down.

import { Wasmer } from "@wasmer/sdk/node";
import wabtInit from "wabt";
import { readFileSync, writeFileSync, readdirSync, mkdirSync } from "node:fs";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const TIMEOUT_MS = 20000;
const CHILD_TIMEOUT_MS = 30000;

function parseArgs(argv) {
  const opts = { out: null, record: false, show: false, batch: false, names: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--out") opts.out = argv[++i];
    else if (a === "--record") opts.record = true;
    else if (a === "--show") opts.show = true;
    else if (a === "--batch") opts.batch = true;
    else if (a.startsWith("--")) throw new Error(`unknown flag ${a}`);
    else opts.names.push(a.replace(/^.*\//, "").replace(/\.(wat|wasm)$/, ""));
  }
  if (!opts.out && !opts.record) opts.show = true;
  return opts;
}

// runScenario runs one module and returns "stdout + exit N". Each scenario
// gets its own client: a guest stack overflow can kill the SDK's worker pool
// ("Scheduler is dead"), which would poison every later run on that client.
async function runScenario(bytes) {
  const wasmer = new Wasmer();
  try {
    const pkg = await wasmer.packages.load(bytes);
    const sandbox = await wasmer.sandboxes.create({ packages: [pkg] });
    try {
      const output = await sandbox.command(pkg).run({ check: false, timeoutMs: TIMEOUT_MS });
      let text = output.stdout.text();
      if (text.length > 0 && !text.endsWith("\n")) text += "\n";
      if (output.reason !== "exited") text += `reason ${output.reason}\n`;
      return { result: text + `exit ${output.exitCode}\n`, stderr: output.stderr.text() };
    } finally {
      await sandbox.close();
    }
  } finally {
    await wasmer.close().catch(() => {});
  }
}

// compile turns scenarios/NAME.wat into wasm bytes.
function compile(wabt, name) {
  const src = readFileSync(join(here, "scenarios", `${name}.wat`), "utf8");
  const mod = wabt.parseWat(`${name}.wat`, src);
  try {
    mod.validate();
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

// runBatch (child side) runs the named scenarios in this process, one JSON line each.
async function runBatch(names) {
  const wabt = await wabtInit();
  for (const name of names) {
    let res;
    try {
      res = await runScenario(compile(wabt, name));
    } catch (err) {
      res = { result: `runner error: ${String((err && err.message) || err).split("\n")[0]}\nexit -1\n`, stderr: "" };
    }
    await new Promise((resolve) => process.stdout.write(JSON.stringify({ name, ...res }) + "\n", resolve));
  }
}

// runChild (parent side) runs a batch in a child process and collects what it
// reports until it finishes, dies, or stays silent for CHILD_TIMEOUT_MS.
function runChild(names) {
  return new Promise((resolve) => {
    const results = new Map();
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--batch", ...names],
      { stdio: ["ignore", "pipe", "pipe"] });
    let buf = "";
    let stderr = "";
    let timer;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => { stderr += `no result within ${CHILD_TIMEOUT_MS / 1000}s, killed\n`; child.kill("SIGKILL"); }, CHILD_TIMEOUT_MS);
    };
    arm();
    child.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try { const r = JSON.parse(line); results.set(r.name, r); arm(); } catch { /* SDK noise */ }
      }
    });
    child.stderr.on("data", (d) => { stderr += d; });
    child.on("close", () => { clearTimeout(timer); resolve({ results, stderr }); });
  });
}

// runAll runs every scenario; when a guest takes the SDK down with it, the
// scenario is tried once more on its own (a loaded machine can be slow), then
// recorded as crashed, and a new child goes on with the rest. Hanging and
// crashing alternate from run to run for the same guest, so both are recorded
// as one stable result; the detail goes to NAME.stderr.
async function runAll(names) {
  const all = new Map();
  let rest = names;
  while (rest.length) {
    const { results, stderr } = await runChild(rest);
    for (const [name, r] of results) all.set(name, r);
    const idx = rest.findIndex((n) => !results.has(n));
    if (idx < 0) break;
    const name = rest[idx];
    const retry = await runChild([name]);
    all.set(name, retry.results.get(name) ||
      { name, result: "runner error: reference crashed or hung\nexit -1\n", stderr: `${stderr}\n-- retry\n${retry.stderr}` });
    rest = rest.slice(idx + 1);
  }
  return all;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.batch) {
    await runBatch(opts.names);
    process.exit(0);
  }
  const names = opts.names.length
    ? opts.names
    : readdirSync(join(here, "scenarios")).filter((f) => f.endsWith(".wat")).map((f) => f.slice(0, -4)).sort();
  if (opts.out) mkdirSync(opts.out, { recursive: true });
  const all = await runAll(names);
  for (const name of names) {
    const res = all.get(name);
    if (opts.out) {
      writeFileSync(join(opts.out, `${name}.out`), res.result);
      writeFileSync(join(opts.out, `${name}.stderr`), res.stderr || "");
    }
    if (opts.record) writeFileSync(join(here, "expected", `${name}.wasmer`), res.result);
    if (opts.show) process.stdout.write(`== ${name}\n${res.result}${res.stderr ? `-- stderr\n${res.stderr}` : ""}`);
  }
}

main().catch((err) => { console.error(err); process.exit(2); });
