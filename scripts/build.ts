// Builds the package's dist/: ESM for Node 20+, Deno and bundlers (dist/index.js), a browser build
// (dist/browser/octet.js, Dawn replaced by a stub: a page uses navigator.gpu), and the .d.ts files.
//   bun scripts/build.ts            JS and .d.ts (what `npm pack` runs)
//   bun scripts/build.ts --no-types JS only (the browser example and its test; a second or so)
// Chunks are split so that what needs a file system (src/io, reached by dynamic import from
// GPT.fromPretrained(dir)) stays in its own chunk that a browser never loads.
import { rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const out = join(root, "dist");
const types = !process.argv.includes("--no-types");

const dawnStub: Bun.BunPlugin = {
  name: "no-dawn-in-browsers",
  setup(b) {
    b.onResolve({ filter: /^webgpu$/ }, () => ({ path: "webgpu", namespace: "dawn-stub" }));
    b.onLoad({ filter: /.*/, namespace: "dawn-stub" }, () => ({
      loader: "js",
      contents: `throw new Error("octet: the browser build has no Dawn; it runs on the browser's navigator.gpu (OCTET_WEBGPU=dawn is for Bun and Node)");`,
    }));
  },
};

async function bundle(outdir: string, plugins: Bun.BunPlugin[], naming?: string): Promise<void> {
  const r = await Bun.build({
    entrypoints: [join(root, "src/index.ts")],
    outdir,
    target: "browser",
    format: "esm",
    splitting: true,
    external: ["webgpu", "node:*"],
    plugins,
    naming: naming ? { entry: naming } : undefined,
  });
  if (!r.success) {
    for (const m of r.logs) console.error(m);
    throw new Error(`build of ${outdir} failed`);
  }
}

rmSync(out, { recursive: true, force: true });
await bundle(out, []);
await bundle(join(out, "browser"), [dawnStub], "octet.js");
if (types) {
  const tsc = Bun.spawnSync(["npx", "tsc", "-p", join(root, "tsconfig.build.json")], { cwd: root, stdout: "pipe", stderr: "inherit" });
  // Everything goes to stderr: `npm pack --json` prints its JSON on stdout after this script.
  if (tsc.exitCode !== 0) throw new Error(`tsc -p tsconfig.build.json failed:\n${tsc.stdout.toString()}`);
}
console.error(`built ${out}${types ? " (with .d.ts)" : ""}`);
