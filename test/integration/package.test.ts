// octet as a package: `npm pack` builds dist/ (prepack) and packs it; the tarball is unpacked into a scratch
// project as node_modules/octet, its dependencies linked from ours (offline: nothing is downloaded), and a
// script that imports "octet" by name steps AdamW8bit once under Node and Deno (the built ESM) and Bun (the
// "bun" condition: TypeScript sources). The step is checked against the plain-TS oracle, not against another run.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ref from "../reference/optimizers.ts";
import { compareClose } from "../optim/helpers.ts";

const ROOT = join(import.meta.dir, "../..");
const scratch = mkdtempSync(join(tmpdir(), "octet-pack-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(cmd: string[], cwd: string, env: Record<string, string> = {}): string {
  const r = Bun.spawnSync(cmd, { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const out = r.stdout.toString();
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} (in ${cwd}) exited ${r.exitCode}:\n${out}\n${r.stderr.toString()}`);
  return out;
}

// The same seeded values the script uses (x -> sin, cos): n spans two 8-bit blocks and a partial third.
const N = 600;
const p0 = Float32Array.from({ length: N }, (_, i) => Math.fround(Math.sin(i) * 0.5));
const g0 = Float32Array.from({ length: N }, (_, i) => Math.fround(Math.cos(i * 0.37) * 0.1));
const SCRIPT = `
import * as octet from "octet";
await octet.device();
const N = ${N};
const p = new octet.nn.Parameter(await octet.tensor(Float32Array.from({ length: N }, (_, i) => Math.fround(Math.sin(i) * 0.5))));
const opt = new octet.optim.AdamW8bit([p], { lr: 1e-3 });
p.grad = await octet.tensor(Float32Array.from({ length: N }, (_, i) => Math.fround(Math.cos(i * 0.37) * 0.1)));
await opt.step();
const values = Array.from(await p.data.toArray());
console.log(JSON.stringify({ resolved: import.meta.resolve("octet"), implementation: octet.deviceInfo().implementation, values }));
process.exit(0);
`;

describe("the packed tarball", () => {
  let files: string[] = [];

  test("npm pack builds dist/ and ships it, without tests, CI or docs", () => {
    const packed = JSON.parse(run(["npm", "pack", "--json", "--pack-destination", scratch], ROOT)) as { filename: string; files: { path: string }[] }[];
    files = packed[0].files.map((f) => f.path);
    for (const want of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/browser/octet.js", "src/index.ts"]) expect(files).toContain(want);
    expect(files.filter((f) => /^(test|\.ci|docs|bench|examples|src\/cli|node_modules)\//.test(f))).toEqual([]);
    // Unpack as node_modules/octet; the dependencies are ours, linked (their own dependencies resolve from ours).
    const nm = join(scratch, "app/node_modules");
    mkdirSync(join(nm, "octet"), { recursive: true });
    run(["tar", "xzf", join(scratch, packed[0].filename), "-C", join(nm, "octet"), "--strip-components=1"], scratch);
    const deps = Object.keys(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).dependencies as Record<string, string>);
    for (const d of deps) {
      mkdirSync(join(nm, d, ".."), { recursive: true });
      symlinkSync(join(ROOT, "node_modules", d), join(nm, d));
    }
    writeFileSync(join(scratch, "app/package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    writeFileSync(join(scratch, "app/main.mjs"), SCRIPT);
  }, 240_000);

  test("the .d.ts files declare the public surface", () => {
    const dts = readFileSync(join(scratch, "app/node_modules/octet/dist/index.d.ts"), "utf8");
    expect(dts).toMatch(/export \* as optim from/);
    expect(dts).toMatch(/export \{[^}]*\bdevice\b[^}]*\}/);
  });

  // The oracle's first AdamW8bit step from the same values (bnb's tolerance for 8-bit parameters).
  const want = p0.slice();
  ref.adam({ p: want, g: g0, state: ref.createState("adamw", N, 8), step: 1, hp: { ...ref.DEFAULTS.adamw, lr: 1e-3 }, bits: 8 });

  for (const [runtime, cmd, entry] of [
    ["Node", ["node", "main.mjs"], "dist/index.js"],
    ["Bun", [process.execPath, "main.mjs"], "src/index.ts"],
    ["Deno", [join(ROOT, "node_modules/.bin/deno"), "run", "-A", "main.mjs"], "dist/index.js"],
  ] as const) {
    test(`imports "octet" under ${runtime} (${entry}) and steps AdamW8bit once like the oracle`, () => {
      expect(files.length).toBeGreaterThan(0); // the pack test ran
      const out = run([...cmd], join(scratch, "app"));
      const r = JSON.parse(out.trim().split("\n").at(-1)!) as { resolved: string; implementation: string; values: number[] };
      expect(r.resolved).toEndWith(`/node_modules/octet/${entry}`);
      expect(r.implementation).toBe(runtime === "Deno" ? "native" : "dawn"); // Deno has its own WebGPU (wgpu)
      const w = compareClose(r.values, want);
      expect(w.first).toBeUndefined();
      expect(r.values).not.toEqual(Array.from(p0)); // it moved
    }, 120_000);
  }
});
