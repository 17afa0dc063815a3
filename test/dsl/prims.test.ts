// Every primitive of the table, run on the GPU over edge values and checked against JS Math computed
// here (never against the table's own evaluation). The test walks PRIMS, so a primitive cannot be added
// without a spec below, and checks the type rule accepts exactly the dtypes listed.
//
// Where WGSL leaves a result indeterminate (NaN, subnormals, zeros of atan2, ...) the spec says what is
// allowed and why. Facts about lavapipe, the CPU driver CI runs on, are asserted only on lavapipe.
//
// Each case runs twice: as a flat vec4 map kernel, and as a scalar (vec1) kernel over rows of 3 (an iota
// condition that selects the value either way makes the kernel non-flat), so both renderings are covered.
// Run with MESA_SHADER_CACHE_DISABLE=true to time it cold: lavapipe JIT-compiles each new pipeline
// (about 25 ms, f16 more) at its first dispatch, so primitives of one arity and dtype share kernels.
import { beforeAll, describe, expect, test } from "bun:test";
import type { DType } from "../../src/dsl/dtype.ts";
import type { PrimName } from "../../src/dsl/node.ts";
import { PRIMS, PRIM_NAMES } from "../../src/dsl/prims.ts";
import { Tensor } from "../../src/dsl/tensor.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { jit } from "../../src/runtime/jit.ts";
import { device, deviceInfo } from "../../src/runtime/device.ts";

await device();
const LAVAPIPE = deviceInfo().adapter.includes("llvmpipe");
const HAS_F16 = deviceInfo().hasF16;
const ALL: DType[] = ["f32", "f16", "i32", "u32", "bool", "u8", "u16"];
const FLOATS: DType[] = ["f32", "f16"];
const NUMERIC: DType[] = ["f32", "f16", "i32", "u32"];

// --- numeric helpers (independent of src/dsl/prims.ts) -------------------------------------------------
const MANT = { f32: 23, f16: 10 } as Record<string, number>;
const EMIN = { f32: -126, f16: -14 } as Record<string, number>;
const isFloatT = (d: DType) => d === "f32" || d === "f16";
const minNormal = (d: DType) => 2 ** EMIN[d];
const isSub = (x: number, d: DType) => isFloatT(d) && x !== 0 && Math.abs(x) < minNormal(d);
/** Spacing of the dtype's floats at |x| (the subnormal spacing below the smallest normal). */
function ulp(x: number, d: DType): number {
  const a = Math.abs(x);
  if (a < minNormal(d)) return 2 ** (EMIN[d] - MANT[d]);
  return 2 ** (Math.floor(Math.log2(a)) - MANT[d]);
}
function round(d: DType, v: number): number {
  switch (d) {
    case "f32":
      return Math.fround(v);
    case "f16":
      return Math.f16round(v);
    case "i32":
      return Number(BigInt.asIntN(32, BigInt(v)));
    case "u32":
      return Number(BigInt.asUintN(32, BigInt(v)));
    case "u8":
      return Number(BigInt.asUintN(8, BigInt(v)));
    case "u16":
      return Number(BigInt.asUintN(16, BigInt(v)));
    case "bool":
      return v ? 1 : 0;
  }
}
/** WGSL lets an implementation flush subnormal inputs and results of float operations to zero. */
const ftz = (x: number, d: DType) => (isSub(x, d) ? (x < 0 ? -0 : 0) : x);
/** Equal as numbers, NaN equal to NaN; the sign of a zero is not compared (WGSL does not pin it). */
const same = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b)) || a === b;
/** An integer result computed exactly, then wrapped to 32 bits (two's complement, as WGSL). */
const big = (f: (a: bigint, b: bigint) => bigint) => (x: number[], d: DType) => {
  const r = f(BigInt(x[0]), BigInt(x[1]));
  return Number(d === "i32" ? BigInt.asIntN(32, r) : BigInt.asUintN(32, r));
};

// --- what each primitive must do ------------------------------------------------------------------------
interface Allowed {
  why: string;
  any?: boolean;
  oneOf?: number[];
  range?: [number, number];
}
interface Spec {
  /** The operand dtypes the type rule accepts (select: the value dtype; its condition is bool). */
  dtypes: DType[];
  cmp?: boolean; // result is bool
  /** The exact result, in f64 (the checker rounds it to the result dtype). */
  ref: (x: number[], d: DType) => number;
  /** Allowed absolute error for this result, from WGSL's accuracy table. Absent: exact. */
  tol?: (x: number[], want: number, d: DType) => number;
  /** Inputs where WGSL leaves the result indeterminate: what is accepted instead of ref. */
  allowed?: (x: number[], d: DType) => Allowed | undefined;
}

const hasNaN = (x: number[]) => x.some(Number.isNaN);
const ulps = (n: number) => (_x: number[], want: number, d: DType) => n * ulp(want, d);
const intDiv = (x: number[], d: DType) => {
  const [a, b] = x;
  if (b === 0 || (d === "i32" && a === -(2 ** 31) && b === -1)) return a; // WGSL: the dividend
  return Number(BigInt(a) / BigInt(b)); // BigInt division truncates toward zero, as WGSL
};
const intRem = (x: number[], d: DType) => {
  const [a, b] = x;
  if (b === 0 || (d === "i32" && a === -(2 ** 31) && b === -1)) return 0; // WGSL: 0
  return Number(BigInt(a) % BigInt(b)); // sign of the dividend, as WGSL
};
/** WGSL's float remainder, x - y * trunc(x / y), each step rounded to the dtype (not JS's exact fmod). */
const floatRem = (x: number[], d: DType) => {
  const [a, b] = x;
  return round(d, a - round(d, b * Math.trunc(round(d, a / b))));
};
const bits = (f: (a: number, b: number) => number) => (x: number[], d: DType) =>
  d === "bool" ? f(x[0], x[1]) & 1 : f(x[0], x[1]);
const log2Subnormal: Allowed = {
  why: "log of a subnormal: WGSL may flush it (-Inf); lavapipe returns about log(2^-127) instead of the true value",
};
const logSpec = (fn: (v: number) => number, minNormalLog: (d: DType) => number): Spec => ({
  dtypes: FLOATS,
  ref: (x) => fn(x[0]),
  // WGSL: 3 ULP outside [0.5, 2], absolute error 2^-21 (f32) / 2^-7 (f16) inside.
  tol: (x, want, d) => (x[0] >= 0.5 && x[0] <= 2 ? (d === "f32" ? 2 ** -21 : 2 ** -7) : 3 * ulp(want, d)),
  allowed: (x, d) =>
    isSub(x[0], d) && x[0] > 0 ? { ...log2Subnormal, range: [-Infinity, minNormalLog(d) + 1e-3] } : undefined,
});
const expTol = (x: number[], want: number, d: DType) => (3 + 2 * Math.abs(x[0])) * ulp(want, d); // WGSL: 3 + 2|x| ULP
const trig = (fn: (v: number) => number): Spec => ({
  dtypes: FLOATS,
  ref: (x) => fn(x[0]),
  tol: (_x, _w, d) => (d === "f32" ? 2 ** -11 : 2 ** -7), // WGSL: absolute error inside [-pi, pi]
  allowed: (x) =>
    Math.abs(x[0]) > Math.PI || Number.isNaN(x[0])
      ? { why: "WGSL pins sin/cos accuracy only inside [-pi, pi]; outside, any value in [-1, 1] (or NaN for Inf/NaN)", range: [-1, 1], oneOf: Number.isFinite(x[0]) ? [] : [NaN] }
      : undefined,
});
const minmax = (pick: (a: number, b: number) => number): Spec => ({
  dtypes: NUMERIC,
  ref: (x) => pick(x[0], x[1]),
  allowed: (x) =>
    hasNaN(x) ? { why: "min/max with NaN is indeterminate in WGSL; lavapipe returns the other operand", oneOf: [Number.isNaN(x[0]) ? x[1] : x[0], NaN] } : undefined,
});
const cmp = (fn: (a: number, b: number) => boolean, nanMay?: string): Spec => ({
  dtypes: NUMERIC,
  cmp: true,
  ref: (x) => +fn(x[0], x[1]),
  allowed: nanMay ? (x) => (hasNaN(x) ? { why: nanMay, oneOf: [0, 1] } : undefined) : undefined,
});

const SPECS: Record<PrimName, Spec> = {
  neg: { dtypes: ["f32", "f16", "i32"], ref: (x) => -x[0] },
  abs: { dtypes: NUMERIC, ref: (x) => Math.abs(x[0]) },
  sqrt: { dtypes: FLOATS, ref: (x) => Math.sqrt(x[0]), tol: ulps(5) }, // WGSL: inherited from 1 / inverseSqrt
  rsqrt: { dtypes: FLOATS, ref: (x) => 1 / Math.sqrt(x[0]), tol: ulps(2) },
  recip: {
    dtypes: FLOATS,
    ref: (x) => 1 / x[0],
    tol: ulps(2.5), // WGSL: x / y is 2.5 ULP for |y| in [2^-126, 2^126]
    allowed: (x, d) => (Math.abs(x[0]) > 2 ** 126 && Number.isFinite(x[0]) && d === "f32" ? { why: "1 / y for |y| > 2^126 is unspecified in WGSL", any: true } : undefined),
  },
  exp: { dtypes: FLOATS, ref: (x) => Math.exp(x[0]), tol: expTol },
  exp2: { dtypes: FLOATS, ref: (x) => 2 ** x[0], tol: expTol },
  log: logSpec(Math.log, (d) => Math.log(minNormal(d))),
  log2: logSpec(Math.log2, (d) => EMIN[d]),
  // WGSL: tanh is inherited from sinh(x) / cosh(x): an absolute error (lavapipe: tanh(1e-40) = 3e-8).
  tanh: { dtypes: FLOATS, ref: (x) => Math.tanh(x[0]), tol: (_x, _w, d) => (d === "f32" ? 2 ** -20 : 2 ** -9) },
  sin: trig(Math.sin),
  cos: trig(Math.cos),
  sign: {
    dtypes: ["f32", "f16", "i32"],
    ref: (x) => Math.sign(x[0]),
    allowed: (x) => (Number.isNaN(x[0]) ? { why: "sign(NaN) is indeterminate in WGSL; lavapipe gives 0", oneOf: [0, NaN] } : undefined),
  },
  floor: { dtypes: FLOATS, ref: (x) => Math.floor(x[0]) },
  ceil: { dtypes: FLOATS, ref: (x) => Math.ceil(x[0]) },
  trunc: { dtypes: FLOATS, ref: (x) => Math.trunc(x[0]) },
  round: {
    dtypes: FLOATS,
    ref: (x) => (Math.abs(x[0] % 1) === 0.5 ? 2 * Math.round(x[0] / 2) : Math.round(x[0])), // ties to even
  },
  not: { dtypes: ["i32", "u32", "bool"], ref: (x, d) => (d === "bool" ? +!x[0] : ~x[0]) },
  add: { dtypes: NUMERIC, ref: (x) => x[0] + x[1] },
  sub: { dtypes: NUMERIC, ref: (x) => x[0] - x[1] },
  mul: { dtypes: NUMERIC, ref: (x, d) => (isFloatT(d) ? x[0] * x[1] : big((a, b) => a * b)(x, d)) },
  div: {
    dtypes: NUMERIC,
    ref: (x, d) => (isFloatT(d) ? x[0] / x[1] : intDiv(x, d)),
    tol: (x, want, d) => (isFloatT(d) ? 2.5 * ulp(want, d) : 0),
    allowed: (x, d) =>
      d === "f32" && Number.isFinite(x[1]) && x[1] !== 0 && (Math.abs(x[1]) > 2 ** 126 || isSub(x[1], d))
        ? { why: "x / y for |y| outside [2^-126, 2^126] is unspecified in WGSL (lavapipe: IEEE)", any: true }
        : undefined,
  },
  mod: { dtypes: NUMERIC, ref: (x, d) => (isFloatT(d) ? floatRem(x, d) : intRem(x, d)) },
  pow: {
    dtypes: FLOATS,
    ref: (x) => (x[1] === 0 ? 1 : Math.pow(x[0], x[1])), // octet pins x^0 = 1, NaN^0 included
    // WGSL: inherited from exp2(y * log2(x)): the exponent's error grows with |y log2 x|.
    tol: (x, want, d) => (4 + 4 * Math.abs(x[1] * Math.log2(x[0]))) * ulp(want, d),
    allowed: (x, d) => {
      const [b, e] = x;
      if (e === 0) return undefined;
      if (b < 0) return { why: "pow of a negative base is indeterminate in WGSL (exp2(y log2 x)); lavapipe gives NaN", any: true };
      if (b === 0 && !(e > 0)) return { why: "pow(0, y <= 0 or NaN) is indeterminate in WGSL; lavapipe gives 0", any: true };
      if (isSub(b, d)) return { why: "pow of a subnormal inherits log2's subnormal handling", any: true };
      return undefined;
    },
  },
  atan2: {
    dtypes: FLOATS,
    ref: (x) => Math.atan2(x[0], x[1]),
    tol: (_x, want, d) => (d === "f32" ? 4096 : 16) * ulp(want, d), // WGSL: 4096 ULP (f32)
    allowed: (x, d) =>
      x[1] === 0 || isSub(x[1], d) || isSub(x[0], d)
        ? { why: "atan2 with a zero or subnormal x (or subnormal y) is indeterminate; lavapipe: atan2(0, 0) = 3pi/4, atan2(0, 1e-40) = NaN", any: true }
        : undefined,
  },
  min: minmax((a, b) => Math.min(a, b)),
  max: minmax((a, b) => Math.max(a, b)),
  lt: cmp((a, b) => a < b),
  le: cmp((a, b) => a <= b),
  gt: cmp((a, b) => a > b),
  ge: cmp((a, b) => a >= b),
  eq: { ...cmp((a, b) => a === b), dtypes: [...NUMERIC, "bool"] },
  ne: {
    ...cmp((a, b) => a !== b, "a comparison with NaN is indeterminate in WGSL; Dawn/lavapipe's != is ordered (NaN != x is false)"),
    dtypes: [...NUMERIC, "bool"],
  },
  and: { dtypes: ["i32", "u32", "bool"], ref: bits((a, b) => a & b) },
  or: { dtypes: ["i32", "u32", "bool"], ref: bits((a, b) => a | b) },
  xor: { dtypes: ["i32", "u32", "bool"], ref: bits((a, b) => a ^ b) },
  // WGSL takes a runtime shift amount modulo 32 (octet masks it explicitly); shr is arithmetic for i32.
  shl: { dtypes: ["i32", "u32"], ref: big((a, b) => a << (b & 31n)) },
  shr: { dtypes: ["i32", "u32"], ref: (x, d) => (d === "i32" ? x[0] >> (x[1] & 31) : x[0] >>> (x[1] & 31)) },
  select: { dtypes: ALL, ref: (x) => (x[0] ? x[1] : x[2]) },
};

// --- edge values ----------------------------------------------------------------------------------------
const EDGE: Record<DType, number[]> = {
  f32: [0, -0, 1, -1, Infinity, -Infinity, NaN, 1e-40, -1e-40, 3e38, -3e38, 1e-30, 0.5, -0.5, 1.5, -2.5, 2.5, 3.75, -7.3, 100, 1e10].map(Math.fround),
  f16: [0, -0, 1, -1, Infinity, -Infinity, NaN, 1e-7, -1e-7, 60000, -60000, 1e-3, 0.5, -0.5, 1.5, -2.5, 2.5, 3.75, -7.3, 100].map(Math.f16round),
  i32: [0, 1, -1, 2, -2, 7, -7, 31, 32, 33, 2147483647, -2147483648, 1000, -100000, 65536],
  u32: [0, 1, 2, 3, 7, 31, 32, 33, 2147483647, 2147483648, 4294967295, 1000, 65536],
  bool: [0, 1],
  u8: [0, 1, 127, 128, 255],
  u16: [0, 1, 255, 256, 32767, 32768, 65535],
};

const METHOD: Partial<Record<PrimName, string>> = { min: "minimum", max: "maximum", select: "where" };
const methodOf = (p: PrimName) => METHOD[p] ?? p;

/** Operand columns: every combination of edge values (select: condition x a x b, with a shorter list). */
function operands(p: PrimName, d: DType): number[][] {
  const v = EDGE[d];
  const cols: number[][] = PRIMS[p].arity === 1 ? [[...v]] : [[], []];
  if (PRIMS[p].arity === 2) for (const a of v) for (const b of v) (cols[0].push(a), cols[1].push(b));
  if (PRIMS[p].arity === 3) {
    const w = v.slice(0, 9);
    cols.push([]);
    for (const c of [0, 1]) for (const a of w) for (const b of w) (cols[0].push(c), cols[1].push(a), cols[2].push(b));
  }
  // Pad to a multiple of 3 (the scalar run's rows) that is not a multiple of 4 (an odd vec4 tail).
  while (cols[0].length % 3 || cols[0].length % 4 === 0) for (const c of cols) c.push(c[0]);
  return cols;
}

function apply(p: PrimName, ts: Tensor[]): Tensor {
  const f = (ts[0] as unknown as Record<string, (...a: Tensor[]) => Tensor>)[methodOf(p)];
  return f.apply(ts[0], ts.slice(1));
}

/** Why got[i] is wrong, or undefined when it is allowed. */
function verdict(p: PrimName, d: DType, x: number[], got: number): string | undefined {
  const spec = SPECS[p];
  const valueT: DType = p === "select" ? d : d;
  const out: DType = spec.cmp ? "bool" : valueT;
  const a = spec.allowed?.(x, d);
  if (a) {
    if (a.any || a.oneOf?.some((v) => same(v, got)) || (a.range && got >= a.range[0] && got <= a.range[1])) return undefined;
    return `${got} is outside the allowed ${a.oneOf ? `{${a.oneOf.join(", ")}}` : ""}${a.range ? `[${a.range.join(", ")}]` : ""} (${a.why})`;
  }
  // WGSL may flush subnormal inputs and results of float operations: each combination is allowed.
  const float = isFloatT(d) && p !== "select";
  const inputs = float && x.some((v) => isSub(v, d)) ? [x, x.map((v) => ftz(v, d))] : [x];
  let best = NaN;
  for (const xs of inputs) {
    const exact = spec.ref(xs, d);
    for (const w of float ? [round(out, exact), ftz(round(out, exact), out)] : [round(out, exact)]) {
      best = w;
      if (same(w, got)) return undefined;
      if (!Number.isFinite(w) || !Number.isFinite(got)) continue;
      if (spec.tol && Math.abs(got - w) <= spec.tol(xs, w, d)) return undefined;
    }
  }
  return `${got}, want ${best}${spec.tol ? " (within tolerance)" : ""}`;
}

const fmt = (v: number) => (Object.is(v, -0) ? "-0" : String(v));

describe("the primitive table", () => {
  test("every primitive has a spec here and a Tensor method", () => {
    expect(Object.keys(SPECS).sort()).toEqual([...PRIM_NAMES].sort());
    for (const p of PRIM_NAMES) expect(typeof (Tensor.prototype as unknown as Record<string, unknown>)[methodOf(p)]).toBe("function");
  });

  test("each type rule accepts exactly the dtypes its spec lists", () => {
    const wrong: string[] = [];
    for (const p of PRIM_NAMES) {
      for (const d of ALL) {
        const args = p === "select" ? ["bool", d, d] : Array(PRIMS[p].arity).fill(d);
        const t = PRIMS[p].type(args as DType[]);
        const accepted = !t.includes(" ");
        if (accepted !== SPECS[p].dtypes.includes(d)) wrong.push(`${p}(${args.join(", ")}) -> ${t}`);
        if (accepted && t !== (SPECS[p].cmp ? "bool" : d)) wrong.push(`${p}(${args.join(", ")}) has result ${t}`);
      }
      if (PRIMS[p].arity === 2 && !PRIMS[p].type(["f32", "i32"]).includes("cast one side first")) wrong.push(`${p}(f32, i32) should ask for a cast`);
    }
    expect(wrong).toEqual([]);
  });

  test("select's condition must be bool", () => {
    expect(PRIMS.select.type(["f32", "f32", "f32"])).toContain("condition must be bool");
  });
});

/** Operands of every primitive of one arity over one dtype are the same columns. */
const groupOf = (p: PrimName, d: DType) => `${PRIMS[p].arity}:${d}`;
const groups = new Map<string, Promise<Map<PrimName, ArrayLike<number>[]>>>();

/**
 * GPU results of every primitive in p's group (same arity and dtype), [vec4 run, vec1 run] each. Up to
 * ten primitives share a kernel (lavapipe compiles each new pipeline for ~25 ms at its first dispatch, so
 * one kernel per primitive made this file slow); a compile error still names the primitive's WGSL line.
 */
function gpuResults(p: PrimName, d: DType): Promise<Map<PrimName, ArrayLike<number>[]>> {
  const key = groupOf(p, d);
  let hit = groups.get(key);
  if (hit) return hit;
  hit = (async () => {
    const members = PRIM_NAMES.filter((q) => SPECS[q].dtypes.includes(d) && groupOf(q, d) === key);
    const cols = operands(p, d);
    const n = cols[0].length;
    const dts: DType[] = p === "select" ? ["bool", d, d] : cols.map(() => d);
    const specs = Object.fromEntries(cols.map((_, j) => [`a${j}`, { shape: [n], dtype: dts[j] }]));
    const inputs = Object.fromEntries(await Promise.all(cols.map(async (c, j) => [`a${j}`, await tensor(c, [n], { dtype: dts[j] })])));
    const out = new Map<PrimName, ArrayLike<number>[]>(members.map((q) => [q, []]));
    for (let at = 0; at < members.length; at += 10) {
      const batch = members.slice(at, at + 10);
      const flat = jit(`prims_${d}_${PRIMS[p].arity}_${at}_vec4`, specs, (a) =>
        Object.fromEntries(batch.map((q) => [`out_${q}`, apply(q, cols.map((_, j) => a[`a${j}`]))])),
      );
      // The same values as [n/3, 3]: selecting with an iota condition keeps the kernel off the flat path.
      // (u8 and u16 results are written a word of codes at a time: only the vec4 path can store them.)
      const keep = Tensor.iota([n / 3, 3], 1).lt(3);
      const rows = d === "u8" || d === "u16" ? undefined : jit(`prims_${d}_${PRIMS[p].arity}_${at}_vec1`, specs, (a) =>
        Object.fromEntries(
          batch.map((q) => {
            const y = apply(q, cols.map((_, j) => a[`a${j}`].reshape(n / 3, 3)));
            return [`out_${q}`, keep.where(y, y).reshape(n)];
          }),
        ),
      );
      for (const f of rows ? [flat, rows] : [flat]) {
        const res = await f.run(inputs);
        for (const q of batch) out.get(q)!.push(await res[`out_${q}`].toArray());
      }
    }
    return out;
  })();
  groups.set(key, hit);
  return hit;
}

for (const p of PRIM_NAMES) {
  describe(`${p} on the GPU`, () => {
    for (const d of SPECS[p].dtypes) {
      test.skipIf(d === "f16" && !HAS_F16)(`${d}`, async () => {
        const cols = operands(p, d);
        const n = cols[0].length;
        const dts: DType[] = p === "select" ? ["bool", d, d] : cols.map(() => d);
        const results = (await gpuResults(p, d)).get(p)!;
        const bad: string[] = [];
        const evalBad: string[] = [];
        for (let i = 0; i < n; i++) {
          const x = cols.map((c) => c[i]);
          const label = `${p}(${x.map(fmt).join(", ")})`;
          for (const [k, got] of results.entries()) {
            const why = verdict(p, d, x, Number(got[i]));
            if (why) bad.push(`${k ? "vec1" : "vec4"} ${label} = ${why}`);
          }
          // The interpreter's evaluation must meet the same spec, and on lavapipe give the GPU's exact
          // result wherever the spec is exact (it mirrors the driver where WGSL leaves a choice).
          const out: DType = SPECS[p].cmp ? "bool" : d;
          const e = PRIMS[p].eval(x, out, dts);
          const why = verdict(p, d, x, e);
          if (why) evalBad.push(`eval ${label} = ${why}`);
          const a = SPECS[p].allowed?.(x, d);
          if (LAVAPIPE && !SPECS[p].tol && !a?.any && !same(e, Number(results[0][i]))) evalBad.push(`eval ${label} = ${e}, lavapipe ${results[0][i]}`);
        }
        expect(bad).toEqual([]);
        expect(evalBad).toEqual([]);
      });
    }
  });
}

// What lavapipe (Mesa llvmpipe through Dawn's Vulkan backend) does where WGSL leaves a choice: the
// interpreter mirrors these, and the specs above allow them. Asserted only on lavapipe.
describe.skipIf(!LAVAPIPE)("lavapipe facts", () => {
  const run = async (f: (x: Tensor, y: Tensor) => Tensor, xs: number[], ys: number[] = xs) =>
    Array.from(await f(await tensor(xs), await tensor(ys)).toArray());

  test("subnormals survive arithmetic (no flush to zero), but exp/exp2 flush subnormal results", async () => {
    expect(await run((x, y) => x.add(y), [1e-40, 1e-20].map(Math.fround), [0, 0])).toEqual([Math.fround(1e-40), Math.fround(1e-20)]);
    expect(await run((x, y) => x.mul(y), [1e-20], [1e-20])).toEqual([Math.fround(Math.fround(1e-20) ** 2)]);
    expect(await run((x) => x.sqrt(), [1e-40])).toEqual([Math.fround(Math.sqrt(Math.fround(1e-40)))]);
    expect(await run((x) => x.exp(), [-87.5, -100])).toEqual([0, 0]); // true values 1e-38, 3.7e-44
  });

  test("log and log2 of a subnormal are about log(2^-127), not the true value", async () => {
    const [l2] = await run((x) => x.log2(), [1e-40]);
    expect(l2).toBeGreaterThan(-127.5); // true: -132.9
    expect(l2).toBeLessThan(-126);
  });

  test("NaN: != is ordered, min/max return the other operand, sign gives 0, x % Inf is NaN", async () => {
    expect(await run((x, y) => x.ne(y), [NaN, NaN, 1], [NaN, 1, NaN])).toEqual([0, 0, 0]);
    expect(await run((x, y) => x.minimum(y), [NaN, 2], [1, NaN])).toEqual([1, 2]);
    expect(await run((x, y) => x.maximum(y), [NaN, 2], [1, NaN])).toEqual([1, 2]);
    expect(await run((x) => x.sign(), [NaN])).toEqual([0]);
    expect(await run((x, y) => x.mod(y), [1, 1], [Infinity, 1e-40])).toEqual([NaN, -Infinity]);
  });

  test("min and max of equal operands return the second (the sign of zero follows it)", async () => {
    const min = await run((x, y) => x.minimum(y), [0, -0], [-0, 0]);
    expect(min.map((v) => Object.is(v, -0))).toEqual([true, false]);
  });
});
