// The kernel-IR simplification pass (codegen/passes/simplify.ts): each rule on a small graph, the rules that
// must NOT fire (float identities that are wrong at -0), and what it removes from the 8-bit optimizer step.
import { describe, expect, test } from "bun:test";
import { simplifyGraph } from "../../src/codegen/passes/simplify.ts";
import { mk, toposort, type Node } from "../../src/dsl/node.ts";
import type { DType } from "../../src/dsl/dtype.ts";
import { DEFAULT_TARGET } from "../../src/codegen/kernel.ts";
import { emitWgsl } from "../../src/codegen/wgsl.ts";
import { FORMATS } from "../../src/optim/formats.ts";
import { formatTables, updateScalarNames } from "../../src/optim/buckets.ts";
import { traceUpdate } from "../../src/optim/trace.ts";
import * as optim from "../../src/optim/index.ts";

const c = (v: number, d: DType = "f32") => mk("const", d, [], [], v);
const x = (d: DType = "f32", b = 0) => mk("load", d, [], [], { binding: b, mode: "elem" });
const op = (o: string, d: DType, ...src: Node[]) => mk(o as never, d, [], src, undefined);
const simp = (n: Node) => simplifyGraph([n])[0];

describe("kernel-IR simplification", () => {
  test("constants fold with the primitive table's rules; comparisons of constants become bools", () => {
    expect(simp(op("gt", "bool", c(1), c(0)))).toBe(c(1, "bool"));
    expect(simp(op("add", "u32", c(3, "u32"), op("mul", "u32", c(4, "u32"), c(5, "u32"))))).toBe(c(23, "u32"));
    expect(simp(op("sub", "u32", c(0, "u32"), c(1, "u32")))).toBe(c(4294967295, "u32")); // wraps as WGSL does
    expect(simp(op("div", "f32", c(1), c(3)))).toBe(c(Math.fround(1 / 3)));
    expect(simp(mk("cast", "i32", [], [c(-2.7)], "i32"))).toBe(c(-2, "i32"));
    expect(simp(mk("bitcast", "u32", [], [c(1)], "u32"))).toBe(c(0x3f800000, "u32"));
  });

  test("transcendental primitives are not folded (GPU results are approximate)", () => {
    const e = op("exp", "f32", c(1));
    expect(simp(e)).toBe(e);
  });

  test("select of a constant condition, of equal branches, and select(c, 1u, 0u) as a cast", () => {
    const [a, b] = [x("f32", 0), x("f32", 1)];
    const cond = op("gt", "bool", a, b);
    expect(simp(op("select", "f32", op("gt", "bool", c(1), c(0)), a, b))).toBe(a);
    expect(simp(op("select", "f32", c(0, "bool"), a, b))).toBe(b);
    expect(simp(op("select", "f32", cond, a, a))).toBe(a);
    expect(simp(op("select", "u32", cond, c(1, "u32"), c(0, "u32")))).toBe(mk("cast", "u32", [], [cond], "u32"));
    expect(simp(op("select", "bool", cond, c(1, "bool"), c(0, "bool")))).toBe(cond);
  });

  test("integer identities: + 0u, * 1, & ~0, | 0, shifts by 0 (and 32)", () => {
    const u = x("u32");
    expect(simp(op("add", "u32", c(0, "u32"), u))).toBe(u);
    expect(simp(op("add", "u32", u, c(0, "u32")))).toBe(u);
    expect(simp(op("mul", "u32", u, c(1, "u32")))).toBe(u);
    expect(simp(op("mul", "u32", u, c(0, "u32")))).toBe(c(0, "u32"));
    expect(simp(op("and", "u32", u, c(0xffffffff, "u32")))).toBe(u);
    expect(simp(op("or", "u32", u, c(0, "u32")))).toBe(u);
    expect(simp(op("shr", "u32", u, c(32, "u32")))).toBe(u);
    // Chains reach the fixed point: (0u + s) + 0u where s = select(c, 1u, 0u).
    const s = op("select", "u32", op("gt", "bool", u, c(7, "u32")), c(1, "u32"), c(0, "u32"));
    expect(simp(op("add", "u32", op("add", "u32", c(0, "u32"), s), c(0, "u32")))).toBe(simp(s));
  });

  test("float identities only where exact at -0, NaN and Inf", () => {
    const f = x("f32");
    expect(simp(op("mul", "f32", f, c(1)))).toBe(f);
    expect(simp(op("div", "f32", f, c(1)))).toBe(f);
    expect(simp(op("sub", "f32", f, c(0)))).toBe(f); // -0 - +0 = -0
    expect(simp(op("add", "f32", f, c(-0)))).toBe(f); // -0 + -0 = -0
    const plus0 = op("add", "f32", f, c(0)); // -0 + +0 = +0: not x
    expect(simp(plus0)).toBe(plus0);
    const times0 = op("mul", "f32", f, c(0)); // NaN * 0, Inf * 0, -1 * 0
    expect(simp(times0)).toBe(times0);
  });

  test("the single-tensor AdamW8bit step: no constant condition is left, and each code word is read once", () => {
    const { def, defaults } = optim.AdamW;
    const fn = traceUpdate(def!, FORMATS.dynamic8, 64, 4, updateScalarNames(def!, defaults!), Object.keys(formatTables(def!, FORMATS.dynamic8)), true, DEFAULT_TARGET);
    const k = fn.schedule.kernels[0].kernel;
    const wgsl = emitWgsl(k);
    const body = wgsl.split("\n").filter((l) => !l.trimStart().startsWith("//"));
    expect(body.join("\n")).not.toMatch(/is_active|1f > 0f|vec4<bool>\(true\)|vec4<u32>\(0u\) \+|\+ vec4<u32>\(0u\)/);
    for (const codes of ["m_codes", "v_codes"]) expect(body.filter((l) => l.includes(`${codes}[e >> 2u])`) && !l.includes(`${codes}[e >> 2u] =`))).toHaveLength(1);
    // What the pass removed, in kernel-IR nodes.
    const before = toposort(k.outputs.map((o) => o.node)).length;
    const after = toposort(simplifyGraph(k.outputs.map((o) => o.node))).length;
    expect(after).toBeLessThan(before);
  });
});
