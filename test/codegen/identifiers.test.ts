// DSL names become WGSL identifiers (bindings, uniform fields, values): names that are WGSL keywords, reserved
// words or predeclared names the kernels call must still compile, and compute the same as plain TS.
import { describe, expect, test } from "bun:test";
import { localStem, WGSL_RESERVED, wgslIdent } from "../../src/codegen/identifiers.ts";
import { Tensor } from "../../src/dsl/tensor.ts";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { device } from "../../src/runtime/device.ts";

await device();

const NAMES = ["var", "fn", "mat4x4", "sample", "bf16", "select", "max", "rows", "as", "__x"] as const;

describe("WGSL identifiers", () => {
  test("the reserved set holds the spec's keywords, reserved words and the predeclared names kernels call", () => {
    for (const w of ["var", "fn", "let", "while", "const_assert", "requires", "as", "async", "mod", "target", "yield", "NULL", "Self", "mat4x4", "vec4f", "select", "max", "bitcast", "sample", "workgroupBarrier"])
      expect([w, WGSL_RESERVED.has(w)]).toEqual([w, true]);
    for (const ok of ["bf16", "m_codes", "absmax", "lr"]) expect([ok, WGSL_RESERVED.has(ok)]).toEqual([ok, false]);
  });

  test("wgslIdent and localStem make valid, prefixed names", () => {
    expect(wgslIdent("var", "b_")).toBe("b_var");
    expect(wgslIdent("__x", "b_")).toBe("b___x");
    expect(wgslIdent("1st", "u_")).toBe("u_1st");
    expect(wgslIdent("lr.0", "u_")).toBe("lr_0");
    expect(wgslIdent("_", "u_")).toBe("u__");
    expect(wgslIdent("bf16", "b_")).toBe("bf16");
    expect(localStem("__x")).toBe("_x");
    expect(localStem("9a")).toBe("_9a");
  });

  test("inputs, outputs, uniforms and values with such names compile and compute (map and row kernels)", async () => {
    const n = 8;
    const specs = Object.fromEntries(NAMES.map((nm) => [nm, { shape: [2, n / 2] }])) as Record<(typeof NAMES)[number], { shape: number[] }>;
    const f = jit("reserved_names", specs, (x) => {
      let acc = Tensor.uniform("var").mul(0);
      for (const nm of NAMES) acc = acc.add(x[nm].mul(Tensor.uniform(nm)).named(nm));
      return { loop: acc.named("fn"), return: acc.sum().named("mat4x4"), sample: acc.max().add(Tensor.uniform("rows")) };
    });
    const data = NAMES.map((_, i) => Array.from({ length: n }, (_, j) => (i + 1) * 0.5 + j));
    const inputs = Object.fromEntries(await Promise.all(NAMES.map(async (nm, i) => [nm, await tensor(data[i], [2, n / 2])])));
    const uniforms = Object.fromEntries(NAMES.map((nm, i) => [nm, i + 2]));
    const out = await f.run(inputs, uniforms);
    // Plain TS: acc[j] = sum_i x_i[j] * u_i (the f32 sums run in the same order as the kernel's adds).
    const acc = Array.from({ length: n }, (_, j) => NAMES.reduce((a, _, i) => Math.fround(a + Math.fround(data[i][j] * (i + 2))), 0));
    expect(Array.from(await out.loop.toArray())).toEqual(acc);
    const rows = [acc.slice(0, n / 2), acc.slice(n / 2)];
    const sums = Array.from(await out.return.toArray());
    rows.forEach((r, i) => expect(sums[i]).toBeCloseTo(r.reduce((a, b) => a + b, 0), 3));
    expect(Array.from(await out.sample.toArray())).toEqual(rows.map((r) => Math.fround(Math.max(...r) + uniforms.rows)));
    for (const w of f.wgsl()) expect(w).not.toMatch(/\b(var|let) (var|fn|mat4x4|select|max|as|__\w*)\b/);
  });
});
