// The inspection knobs say what they do (issue #11): OCTET_OVERRIDE_DIR logs each kernel it swaps, OCTET_VALIDATE
// says when a program passes (once), and OCTET_DEBUG=4 prints each graph once (its WGSL banner holds it; the
// graph used to be printed before it as well).
import { afterEach, expect, spyOn, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const k of ["OCTET_OVERRIDE_DIR", "OCTET_VALIDATE", "OCTET_DEBUG"]) delete process.env[k];
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** console.error's lines while `fn` runs. */
async function stderrOf(fn: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const spy = spyOn(console, "error").mockImplementation((...a: unknown[]) => void lines.push(a.map(String).join(" ")));
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return lines;
}

test("OCTET_OVERRIDE_DIR logs the kernel it swaps and the file it runs", async () => {
  const f = jit("knobs_override", { x: { shape: [7] } }, ({ x }) => ({ y: x.mul(5).add(2) }));
  const k = f.kernels()[0];
  const dir = mkdtempSync(join(tmpdir(), "octet-knobs-"));
  dirs.push(dir);
  writeFileSync(join(dir, `${k.name}-${k.key}.wgsl`), k.wgsl.replace("* vec4<f32>(5f)", "* vec4<f32>(6f)"));
  process.env.OCTET_OVERRIDE_DIR = dir;
  let y: Float32Array | undefined;
  const lines = await stderrOf(async () => (y = (await (await f.run({ x: await tensor([1, 1, 1, 1, 1, 1, 1]) })).y.toArray()) as Float32Array));
  expect(Array.from(y!)).toEqual(new Array(7).fill(8)); // the file's kernel ran: 1 * 6 + 2
  expect(lines).toContain(`octet: OCTET_OVERRIDE_DIR: kernel ${k.name} (key ${k.key}) runs ${join(dir, `${k.name}-${k.key}.wgsl`)} instead of its generated WGSL`);
});

test("OCTET_VALIDATE says once per program that it matched the interpreter", async () => {
  process.env.OCTET_VALIDATE = "1";
  const f = jit("knobs_validate_ok", { x: { shape: [9] } }, ({ x }) => ({ y: x.mul(2).add(-3) }));
  const x = await tensor(Array.from({ length: 9 }, (_, i) => i));
  const lines = await stderrOf(async () => {
    await (await f.run({ x })).y.toArray();
    await (await f.run({ x })).y.toArray();
  });
  const said = lines.filter((l) => l.startsWith("octet validate: knobs_validate_ok matches the kernel-IR interpreter"));
  expect(said).toHaveLength(1);
  expect(said[0]).toContain("(1 output, 9 values; later runs are checked silently)");
});

test("OCTET_DEBUG=4 prints each kernel's graph once (inside its WGSL banner)", async () => {
  process.env.OCTET_DEBUG = "4";
  const f = jit("knobs_debug4", { x: { shape: [11] } }, ({ x }) => ({ y: x.mul(7).add(0.25) }));
  const lines = await stderrOf(async () => (await f.run({ x: await tensor(new Float32Array(11)) })).y.toArray());
  const text = lines.join("\n");
  const graphLine = "%1:f32[11] = mul %0_x 7"; // a line of the traced graph (kernels print it as their source)
  expect(f.kernels()[0].wgsl).toContain(`//     ${graphLine}`);
  expect(text.split(graphLine).length - 1).toBe(1);
  expect(text).toContain("// octet kernel: knobs_debug4");
});
