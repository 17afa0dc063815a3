// Inspection and failure paths: a WGSL compile error shows the lines around the fault, OCTET_VALIDATE finds
// a kernel that computes the wrong thing, and the no-adapter message says how to fix the machine.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { NO_ADAPTER_HELP } from "../../src/runtime/device.ts";
import { excerpt, KernelCompileError } from "../../src/runtime/pipelines.ts";
import { KNOBS } from "../../src/runtime/env.ts";

const dirs: string[] = [];
afterEach(() => {
  delete process.env.OCTET_OVERRIDE_DIR;
  delete process.env.OCTET_VALIDATE;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Puts hand-edited WGSL for the program's first kernel where OCTET_OVERRIDE_DIR finds it. */
function override(f: { kernels(): { name: string; key: string; wgsl: string }[] }, edit: (wgsl: string) => string): void {
  const dir = mkdtempSync(join(tmpdir(), "octet-override-"));
  dirs.push(dir);
  const k = f.kernels()[0];
  const edited = edit(k.wgsl);
  expect(edited).not.toBe(k.wgsl);
  writeFileSync(join(dir, `${k.name}-${k.key}.wgsl`), edited);
  process.env.OCTET_OVERRIDE_DIR = dir;
}

describe("a WGSL compile error", () => {
  test("names the kernel and shows the numbered lines around the fault", async () => {
    const f = jit("inspect_broken", { x: { shape: [10] } }, ({ x }) => ({ y: x.mul(3).add(1) }));
    override(f, (w) => w.replace("let e = i * 4u;", "let e = i * 4u + not_declared;"));
    const err = await f.run({ x: await tensor(new Float32Array(10)) }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(KernelCompileError);
    const msg = err!.message;
    expect(msg).toStartWith(`octet: kernel inspect_broken (key ${f.kernels()[0].key}) failed to compile:`);
    expect(msg).toContain("not_declared");
    const line = f.kernels()[0].wgsl.split("\n").findIndex((l) => l.includes("let e = i * 4u;")) + 1;
    expect(msg).toContain(`>${String(line).padStart(5)} |   let e = i * 4u + not_declared;`); // the faulty line, marked
    expect(msg).toContain(`${String(line - 1).padStart(6)} |   if (i >= params.count) { return; }`); // and its neighbours
  });

  test("excerpt numbers and marks lines, clipped at the ends", () => {
    expect(excerpt("a\nb\nc\nd", 2, 1)).toBe("     1 | a\n>    2 | b\n     3 | c");
    expect(excerpt("a\nb", 1, 3)).toBe(">    1 | a\n     2 | b");
  });
});

describe("OCTET_VALIDATE", () => {
  test("passes a correct kernel and catches a wrong one at its first bad element", async () => {
    const n = 9;
    const xs = Array.from({ length: n }, (_, i) => i - 4);
    process.env.OCTET_VALIDATE = "1";
    const good = jit("inspect_validate_ok", { x: { shape: [n] } }, ({ x }) => ({ y: x.mul(3).add(1) }));
    expect(Array.from(await (await good.run({ x: await tensor(xs) })).y.toArray())).toEqual(xs.map((v) => 3 * v + 1));

    // A graph of its own (kernel keys ignore names, so an identical graph would reuse the good pipeline).
    const bad = jit("inspect_validate_bad", { x: { shape: [n] } }, ({ x }) => ({ y: x.mul(3).add(1).add(0.5) }));
    override(bad, (w) => w.replace("* vec4<f32>(3f)", "* vec4<f32>(4f)"));
    await expect(bad.run({ x: await tensor(xs) })).rejects.toThrow(/octet validate: y\[0\]: GPU -14.5, interpreter -10.5/);
  });
});

describe("environment", () => {
  test("the no-adapter message names the fix", () => {
    expect(NO_ADAPTER_HELP).toContain("Dawn found no WebGPU adapter");
    expect(NO_ADAPTER_HELP).toContain("bash .ci/install-lavapipe.sh");
    expect(NO_ADAPTER_HELP).toContain("apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1");
    expect(existsSync(join(import.meta.dir, "../../.ci/install-lavapipe.sh"))).toBe(true);
  });

  test("every knob is documented", () => {
    for (const k of Object.values(KNOBS)) {
      expect(k.name).toMatch(/^OCTET_[A-Z_]+$/);
      expect(k.doc.length).toBeGreaterThan(20);
    }
  });
});
