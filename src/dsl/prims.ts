// The primitive table: each elementwise primitive is defined once, with its type rule, its JS evaluation
// (binary32 rounding, WGSL's integer rules) and its WGSL rendering. Tensor methods, the kernel-IR
// interpreter and the WGSL emitter are all driven by this table; test/dsl/prims.test.ts walks it on the GPU.
import { DTYPES, isPacked, type DType } from "./dtype.ts";
import { f16round } from "./f16round.ts";
import type { PrimName } from "./node.ts";

/** Rendering context: the WGSL type of a dtype at the kernel's vector width (f32 or vec4<f32>). */
export interface Emit {
  ty(d: DType): string;
}

export interface PrimRule {
  arity: 1 | 2 | 3;
  /** Result dtype, or an error message saying what is wrong with the operand dtypes. */
  type(args: DType[]): DType | string;
  eval(args: number[], out: DType, argTypes: DType[]): number;
  wgsl(args: string[], e: Emit, out: DType, argTypes: DType[]): string;
}

// --- numeric helpers shared by the evaluations ---------------------------------------------------------
export function roundTo(d: DType, v: number): number {
  switch (d) {
    case "f32":
      return Math.fround(v);
    case "f16":
      return f16round(v);
    case "i32":
      return v | 0;
    case "u32":
      return v >>> 0;
    case "u8":
      return (v >>> 0) & 255;
    case "u16":
      return (v >>> 0) & 65535;
    case "bool":
      return v ? 1 : 0;
  }
}

const f32u32 = new DataView(new ArrayBuffer(4));
export function bitcast(v: number, from: DType, to: DType): number {
  if (from === "f32") f32u32.setFloat32(0, v, true);
  else if (from === "i32") f32u32.setInt32(0, v, true);
  else f32u32.setUint32(0, v >>> 0, true);
  if (to === "f32") return f32u32.getFloat32(0, true);
  if (to === "i32") return f32u32.getInt32(0, true);
  return f32u32.getUint32(0, true);
}

/**
 * WGSL's float -> integer conversion: truncate toward zero, then clamp to the part of the target's range
 * that the source type can represent: from f32, [-2^31, 2^31 - 128] for i32 and [0, 2^32 - 256] for u32;
 * from f16, +-65504 (so f16 Inf -> 65504). This is WGSL's rule, and what Tint emits and lavapipe runs.
 * NaN is indeterminate in WGSL (lavapipe gives the low bound); octet pins it to 0 in the emitted cast.
 */
export function floatToInt(v: number, to: DType, from: DType = "f32"): number {
  if (Number.isNaN(v)) return 0;
  const t = Math.trunc(v);
  const top = from === "f16" ? 65504 : to === "i32" ? 2147483520 : 4294967040;
  if (to === "i32") return Math.max(from === "f16" ? -65504 : -2147483648, Math.min(top, t)) | 0;
  const u = Math.max(0, Math.min(top, t)) >>> 0;
  return to === "u8" ? u & 255 : to === "u16" ? u & 65535 : u; // u8/u16 keep the low bits of the u32 conversion (wraps, no saturation)
}

const halfEven = (x: number): number => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r; // WGSL round() ties to even
};

// --- type rules ----------------------------------------------------------------------------------------
const isNum = (d: DType) => d !== "bool" && !isPacked(d);
const isInt = (d: DType) => d === "i32" || d === "u32";
const packedMsg = (d: DType) => `${d} is a packed storage type; cast it to u32, i32 or f32 before computing with it`;

function same(args: DType[], pred: (d: DType) => boolean, what: string): DType | string {
  const packed = args.find(isPacked);
  if (packed) return packedMsg(packed);
  if (args.some((d) => d !== args[0])) return `operands have different dtypes (${args.join(", ")}); cast one side first`;
  return pred(args[0]) ? args[0] : `needs ${what} operands, got ${args[0]}`;
}
const floatT = (a: DType[]) => same(a, (d) => DTYPES[d].float, "float (f32 or f16)");
const numT = (a: DType[]) => same(a, isNum, "numeric");
const signedT = (a: DType[]) => same(a, (d) => d === "f32" || d === "f16" || d === "i32", "signed (f32, f16, i32)");
const eqT = (a: DType[]) => {
  const t = same(a, () => true, "");
  return typeof t === "string" && (t.includes("packed storage type") || t.startsWith("operands")) ? t : "bool";
};
// WGSL orders only numbers: `bool < bool` does not compile, so the ordering comparisons refuse bool here.
const cmpT = (a: DType[]) => {
  const t = same(a, isNum, "numeric");
  return DTYPES[t as DType] ? "bool" : t;
};
const logicT = (a: DType[]) => same(a, (d) => d === "bool" || isInt(d), "bool or integer");
const intT = (a: DType[]) => same(a, isInt, "integer (i32, u32)");

// --- the table -------------------------------------------------------------------------------------------
const f = (fn: (...a: number[]) => number) => (args: number[], out: DType) => roundTo(out, fn(...args));
const call = (name: string) => (a: string[]) => `${name}(${a.join(", ")})`;
const infix = (opr: string) => (a: string[]) => `(${a[0]} ${opr} ${a[1]})`;

function intDiv(a: number, b: number, d: DType): number {
  // WGSL: integer division by zero, and i32 MIN / -1, return the dividend.
  if (b === 0 || (d === "i32" && a === -2147483648 && b === -1)) return a;
  return roundTo(d, Math.trunc(a / b));
}
function intMod(a: number, b: number, d: DType): number {
  if (b === 0 || (d === "i32" && a === -2147483648 && b === -1)) return 0; // WGSL: such remainders are 0
  return roundTo(d, a % b);
}

export const PRIMS: Record<PrimName, PrimRule> = {
  neg: { arity: 1, type: signedT, eval: f((x) => -x), wgsl: (a) => `(-${a[0]})` },
  abs: { arity: 1, type: numT, eval: f(Math.abs), wgsl: call("abs") },
  sqrt: { arity: 1, type: floatT, eval: f(Math.sqrt), wgsl: call("sqrt") },
  rsqrt: { arity: 1, type: floatT, eval: f((x) => 1 / Math.sqrt(x)), wgsl: call("inverseSqrt") },
  recip: { arity: 1, type: floatT, eval: f((x) => 1 / x), wgsl: (a, e, o) => `(${e.ty(o)}(1) / ${a[0]})` },
  exp: { arity: 1, type: floatT, eval: f(Math.exp), wgsl: call("exp") },
  log: { arity: 1, type: floatT, eval: f(Math.log), wgsl: call("log") },
  exp2: { arity: 1, type: floatT, eval: f((x) => 2 ** x), wgsl: call("exp2") },
  log2: { arity: 1, type: floatT, eval: f(Math.log2), wgsl: call("log2") },
  tanh: { arity: 1, type: floatT, eval: f(Math.tanh), wgsl: call("tanh") },
  sin: { arity: 1, type: floatT, eval: f(Math.sin), wgsl: call("sin") },
  cos: { arity: 1, type: floatT, eval: f(Math.cos), wgsl: call("cos") },
  sign: { arity: 1, type: signedT, eval: f((x) => (Number.isNaN(x) ? 0 : Math.sign(x) + 0)), wgsl: call("sign") },
  floor: { arity: 1, type: floatT, eval: f(Math.floor), wgsl: call("floor") },
  ceil: { arity: 1, type: floatT, eval: f(Math.ceil), wgsl: call("ceil") },
  trunc: { arity: 1, type: floatT, eval: f(Math.trunc), wgsl: call("trunc") },
  round: { arity: 1, type: floatT, eval: f(halfEven), wgsl: call("round") },
  not: {
    arity: 1,
    type: (a) => logicT(a),
    eval: (a, o) => (o === "bool" ? (a[0] ? 0 : 1) : roundTo(o, ~a[0])),
    wgsl: (a, _e, o) => (o === "bool" ? `(!${a[0]})` : `(~${a[0]})`),
  },
  add: { arity: 2, type: numT, eval: f((x, y) => x + y), wgsl: infix("+") },
  sub: { arity: 2, type: numT, eval: f((x, y) => x - y), wgsl: infix("-") },
  mul: {
    arity: 2,
    type: numT,
    eval: (a, o) => (o === "i32" ? Math.imul(a[0], a[1]) : o === "u32" ? Math.imul(a[0], a[1]) >>> 0 : roundTo(o, a[0] * a[1])),
    wgsl: infix("*"),
  },
  div: {
    arity: 2,
    type: numT,
    eval: (a, o) => (isInt(o) ? intDiv(a[0], a[1], o) : roundTo(o, a[0] / a[1])),
    wgsl: infix("/"),
  },
  mod: {
    arity: 2,
    type: numT,
    // WGSL defines float % as x - y * trunc(x / y), each step rounded: unlike JS's exact fmod, x % Inf is
    // NaN (Inf * 0) and 1 % 1e-40 is -Inf (1 / 1e-40 overflows f32). lavapipe computes exactly this.
    eval: (a, o) => (isInt(o) ? intMod(a[0], a[1], o) : roundTo(o, a[0] - roundTo(o, a[1] * Math.trunc(roundTo(o, a[0] / a[1]))))),
    wgsl: infix("%"),
  },
  // WGSL's pow is exp2(y*log2(x)): NaN for x < 0, and pow(0, 0) is not pinned down; octet pins x^0 = 1.
  pow: {
    arity: 2,
    type: floatT,
    eval: f((x, y) => (y === 0 ? 1 : x < 0 ? NaN : Math.pow(x, y))),
    wgsl: (a, e, o) => `select(pow(${a[0]}, ${a[1]}), ${e.ty(o)}(1), ${a[1]} == ${e.ty(o)}(0))`,
  },
  atan2: { arity: 2, type: floatT, eval: f(Math.atan2), wgsl: call("atan2") },
  // WGSL leaves min/max of NaN and the sign of min(0, -0) indeterminate. These evaluations follow what
  // lavapipe does: a NaN operand yields the other operand (IEEE minNum), and equal operands yield the
  // second one (min(0, -0) = -0 but min(-0, 0) = 0), where Math.min would always pick -0.
  min: { arity: 2, type: numT, eval: f((x, y) => (Number.isNaN(x) ? y : Number.isNaN(y) ? x : x < y ? x : y)), wgsl: call("min") },
  max: { arity: 2, type: numT, eval: f((x, y) => (Number.isNaN(x) ? y : Number.isNaN(y) ? x : x > y ? x : y)), wgsl: call("max") },
  lt: { arity: 2, type: cmpT, eval: (a) => +(a[0] < a[1]), wgsl: infix("<") },
  le: { arity: 2, type: cmpT, eval: (a) => +(a[0] <= a[1]), wgsl: infix("<=") },
  gt: { arity: 2, type: cmpT, eval: (a) => +(a[0] > a[1]), wgsl: infix(">") },
  ge: { arity: 2, type: cmpT, eval: (a) => +(a[0] >= a[1]), wgsl: infix(">=") },
  eq: { arity: 2, type: eqT, eval: (a) => +(a[0] === a[1]), wgsl: infix("==") },
  // A comparison with a NaN operand is indeterminate in WGSL (compilers may assume floats are finite), and
  // Dawn's Vulkan path compiles `!=` as an ordered compare: NaN != x is false on lavapipe, as it is here.
  // Never detect NaN with x.ne(x): Tensor.isnan tests the exponent bits instead.
  ne: { arity: 2, type: eqT, eval: (a) => +(a[0] !== a[1] && a[0] === a[0] && a[1] === a[1]), wgsl: infix("!=") },
  and: { arity: 2, type: logicT, eval: (a, o) => roundTo(o, a[0] & a[1]), wgsl: infix("&") },
  or: { arity: 2, type: logicT, eval: (a, o) => roundTo(o, a[0] | a[1]), wgsl: infix("|") },
  xor: { arity: 2, type: logicT, eval: (a, o) => roundTo(o, a[0] ^ a[1]), wgsl: (a, _e, o) => (o === "bool" ? `(${a[0]} != ${a[1]})` : `(${a[0]} ^ ${a[1]})`) },
  // Shift amounts are taken modulo 32, as WGSL does for runtime values.
  shl: { arity: 2, type: intT, eval: (a, o) => roundTo(o, a[0] << (a[1] & 31)), wgsl: (a, e) => `(${a[0]} << (${e.ty("u32")}(${a[1]}) & ${e.ty("u32")}(31u)))` },
  shr: {
    arity: 2,
    type: intT,
    eval: (a, o) => (o === "i32" ? a[0] >> (a[1] & 31) : a[0] >>> (a[1] & 31)),
    wgsl: (a, e) => `(${a[0]} >> (${e.ty("u32")}(${a[1]}) & ${e.ty("u32")}(31u)))`,
  },
  select: {
    arity: 3,
    // select may pass u8 codes through unchanged (keeping old codes for a skipped parameter).
    type: ([c, a, b]) => (c !== "bool" ? `condition must be bool, got ${c}` : a !== b ? `operands have different dtypes (${a}, ${b}); cast one side first` : a),
    eval: (a) => (a[0] ? a[1] : a[2]),
    wgsl: (a) => `select(${a[2]}, ${a[1]}, ${a[0]})`, // WGSL: select(falseValue, trueValue, cond)
  },
};

export const PRIM_NAMES = Object.keys(PRIMS) as PrimName[];
export const isPrim = (op: string): op is PrimName => op in PRIMS;

/** cast: value conversion with WGSL's rules (float -> int truncates and saturates; -> bool is != 0). */
export function evalCast(v: number, from: DType, to: DType): number {
  if (to === "bool") return v !== 0 ? 1 : 0;
  if (DTYPES[to].float) return roundTo(to, v);
  if (DTYPES[from].float) return floatToInt(v, to, from);
  return roundTo(to, v);
}

export function wgslCast(a: string, e: Emit, from: DType, to: DType): string {
  const U = e.ty("u32");
  // A float's bits, for tests that must not depend on NaN comparisons (indeterminate in WGSL; `x != 0` is
  // false for NaN on Dawn's Vulkan path). f16 widens to f32 first, which keeps NaN and zero.
  const bits = () => `bitcast<${U}>(${from === "f16" ? `${e.ty("f32")}(${a})` : a})`;
  if (to === "bool") {
    if (!DTYPES[from].float) return `(${a} != ${e.ty(from)}(0))`;
    return `((${bits()} << ${U}(1u)) != ${U}(0u))`; // true unless +-0 (dropping the sign bit), so NaN -> true
  }
  const conv = to === "u8" ? `(${U}(${a}) & ${U}(255u))` : to === "u16" ? `(${U}(${a}) & ${U}(65535u))` : `${e.ty(to)}(${a})`;
  if (DTYPES[to].float || !DTYPES[from].float) return conv;
  // float -> integer: WGSL leaves NaN indeterminate (lavapipe gives the clamp's low bound, -2^31 for i32);
  // pin it to 0 as floatToInt does.
  return `select(${conv}, ${e.ty(to)}(0), (${bits()} & ${U}(0x7fffffffu)) > ${U}(0x7f800000u))`;
}
