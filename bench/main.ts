// `bun run bench [name] [flags]`: runs bench/<name>.ts (default: elementwise) with the flags, in a child
// process whose LP_NUM_THREADS is pinned (lavapipe reads it at driver load, and Bun's process.env writes
// do not reach getenv, so it must be in the child's environment from the start). Adding bench/<name>.ts
// is all it takes to add a benchmark. `bun run bench list` lists them.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { benchChildEnv, DEFAULT_LP_NUM_THREADS } from "./harness.ts";

/** Modules in bench/ that are helpers, not benchmarks. */
const HELPERS = new Set(["main", "harness", "handwritten", "optim-cpu"]);

const available = () =>
  readdirSync(import.meta.dir)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => f.slice(0, -3))
    .filter((n) => !HELPERS.has(n))
    .sort();

const args = process.argv.slice(2);
const name = args[0] && !args[0].startsWith("-") ? args.shift()! : "elementwise";

if (name === "list" || name === "help" || (args.length === 1 && (args[0] === "--help" || args[0] === "-h") && process.argv[2] === args[0])) {
  // `bench --help` (no name) is this launcher's help; `bench optim --help` is optim's own (every flag, defaults).
  console.log(`usage: npm run bench -- [name] [flags]   (name defaults to elementwise)

Runs bench/<name>.ts with the flags in a child process whose LP_NUM_THREADS is pinned
(${DEFAULT_LP_NUM_THREADS} when unset: lavapipe reads it once, at driver load).

benchmarks: ${available().join(", ")}
flags: each benchmark's own; \`npm run bench -- <name> --help\` lists them with their defaults.
  -h, --help  show this help and exit`);
  process.exit(0);
}

const file = join(import.meta.dir, `${name}.ts`);
if (!/^[\w-]+$/.test(name) || HELPERS.has(name) || !existsSync(file)) {
  console.error(`bench: no benchmark "${name}" (bench/${name}.ts); available: ${available().join(", ")}`);
  process.exit(2);
}
if (process.env.LP_NUM_THREADS === undefined)
  console.error(`bench: LP_NUM_THREADS is unset; using LP_NUM_THREADS=${DEFAULT_LP_NUM_THREADS} (set it to choose)`);
const child = Bun.spawn([process.execPath, file, ...args], { env: benchChildEnv(), stdio: ["inherit", "inherit", "inherit"] });
process.exit(await child.exited);
