// Tensor: the DSL's user-facing value. A Tensor is a node of the IR; methods build new nodes (nothing runs
// until a result is needed). Realized tensors are `buffer` leaves; traced programs use `input` leaves and
// `uniform` scalars. Broadcasting follows NumPy: shapes align on the right and size-1 axes stretch.
import { DTYPES, type DType } from "./dtype.ts";
import { mk, numel, sameShape, shapeStr, type Node, type PrimName, type ReduceOp, type Shape } from "./node.ts";
import { PRIMS, roundTo } from "./prims.ts";
import { callSite } from "./site.ts";
import { nameNode } from "./names.ts";

export type Scalar = number | boolean;
export type TensorLike = Tensor | Scalar;

/** Thrown for a graph the user built wrongly; names the op and where the user called it. */
export class DslError extends Error {
  constructor(op: string, message: string, site = callSite()) {
    super(`Tensor.${op}: ${message} (at ${site})`);
    this.name = "DslError";
  }
}

export function broadcastShapes(op: string, a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new DslError(op, `shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast (axis ${i}: ${da} vs ${db})`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/**
 * A literal's value in its dtype, as the kernel will hold it: floats rounded (f16 70000 is Inf), integers
 * wrapped to 32 bits (u32 -1 is 4294967295, so the interpreter and the GPU agree). A fraction or a number
 * beyond 32 bits in an integer dtype is refused: WGSL would reject the literal.
 */
function constValue(value: Scalar, dtype: DType): number {
  const v = typeof value === "boolean" ? +value : value;
  if (DTYPES[dtype].float || dtype === "bool") return roundTo(dtype, v);
  if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 32)
    throw new DslError("const", `${v} is not a valid ${dtype} literal (integers in [-2^31, 2^32) wrap to 32 bits); cast the tensor to f32 first`);
  return roundTo(dtype, v);
}

type Realizer = (t: Tensor[]) => Promise<void>;
type Reader = (t: Tensor) => Promise<ArrayLike<number>>;
let realizer: Realizer | undefined;
let reader: Reader | undefined;
/** The runtime installs how tensors are computed and read back (keeps the DSL free of GPU code). */
export function installRuntime(r: Realizer, rd: Reader): void {
  realizer = r;
  reader = rd;
}

/**
 * How the runtime takes part in a tensor's life without the DSL knowing GPU code: `leaf` sees every read of a
 * tensor that is a buffer leaf (it refuses a released buffer and refreshes a leaf whose storage was written
 * in place since, so a bare realized tensor always stands for its storage's current contents); `dispose`
 * releases what a disposed tensor owns.
 */
export interface MemoryHooks {
  leaf(node: Node): Node;
  dispose(t: Tensor, node: Node): void;
}
let memory: MemoryHooks | undefined;
export function installMemory(h: MemoryHooks): void {
  memory = h;
}

// `Symbol.dispose` where the runtime has it (explicit resource management, `using`); a registered symbol
// elsewhere, so the method exists under one stable key.
const DISPOSE: typeof Symbol.dispose = (Symbol as { dispose?: typeof Symbol.dispose }).dispose ?? (Symbol.for("Symbol.dispose") as typeof Symbol.dispose);

export class Tensor {
  #node: Node;
  #disposed = false;
  constructor(node: Node) {
    this.#node = node;
  }

  /** The expression this tensor stands for; the runtime swaps it for a buffer leaf once computed. */
  get node(): Node {
    if (this.#disposed) throw new Error(`octet: ${this.describe()} was disposed; it cannot be used any more`);
    const n = this.#node;
    if (n.op !== "buffer" || !memory) return n;
    return (this.#node = memory.leaf(n));
  }
  set node(n: Node) {
    if (this.#disposed) throw new Error(`octet: ${this.describe()} was disposed; it cannot be given a new value`);
    this.#node = n;
  }

  /**
   * Releases this tensor now instead of when it is collected: the buffer it owns goes back to the pool, and
   * every later use throws. A tensor that only views another's buffer (a realized reshape, a parameter in an
   * optimizer's arena) releases nothing. `using t = ...` calls this at the end of the block.
   */
  dispose(): void {
    if (this.#disposed) return;
    memory?.dispose(this, this.#node);
    this.#disposed = true;
  }
  [DISPOSE](): void {
    this.dispose();
  }
  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** Gives this value a name that generated WGSL and graph printouts use (the first name given wins). */
  named(name: string): this {
    nameNode(this.node, name);
    return this;
  }

  get shape(): Shape {
    return this.node.shape;
  }
  get dtype(): DType {
    return this.node.dtype;
  }
  get numel(): number {
    return numel(this.node.shape);
  }
  get ndim(): number {
    return this.node.shape.length;
  }
  toString(): string {
    const n = this.#node;
    return `Tensor(${n.dtype}${shapeStr(n.shape)}, ${this.#disposed ? "disposed" : n.op})`;
  }
  private describe(): string {
    const n = this.#node;
    return `a tensor ${n.dtype}${shapeStr(n.shape)}${n.site ? ` (made at ${n.site})` : ""}`;
  }

  // --- leaves -------------------------------------------------------------------------------------------
  /** A literal, baked into the kernel. Use `uniform` for values that change between runs. */
  static const(value: Scalar, dtype: DType = typeof value === "boolean" ? "bool" : "f32"): Tensor {
    return new Tensor(mk("const", dtype, [], [], constValue(value, dtype), callSite));
  }
  /** A named runtime scalar: its value is bound when the program runs, so changing it never recompiles. */
  static uniform(name: string, dtype: DType = "f32"): Tensor {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new DslError("uniform", `name "${name}" is not an identifier`);
    return new Tensor(mk("uniform", dtype, [], [], name, callSite));
  }
  /** A placeholder for a buffer bound when a traced program runs. */
  static input(slot: number, name: string, shape: Shape, dtype: DType = "f32"): Tensor {
    return new Tensor(mk("input", dtype, shape, [], { slot, name }, callSite));
  }
  /** The index of each element along `axis` of `shape` (i32 unless given). */
  static iota(shape: Shape, axis: number, dtype: DType = "i32"): Tensor {
    const ax = axis < 0 ? shape.length + axis : axis;
    if (ax < 0 || ax >= shape.length) throw new DslError("iota", `axis ${axis} out of range for ${shapeStr(shape)}`);
    // Only the last axis and the flattened leading axes ("rows") are addressable by a kernel.
    if (ax !== shape.length - 1 && ax !== shape.length - 2)
      throw new DslError("iota", "only the last two axes are supported");
    return new Tensor(mk("iota", dtype, shape, [], ax === shape.length - 1 ? 1 : 0, callSite));
  }

  private lift(x: TensorLike): Tensor {
    if (x instanceof Tensor) return x;
    // A JS number meets this tensor's dtype (2 * int tensor stays int); booleans become bool.
    return Tensor.const(x, typeof x === "boolean" ? "bool" : this.dtype === "bool" ? "f32" : this.dtype);
  }

  // --- structural ---------------------------------------------------------------------------------------
  reshape(...shape: (number | number[])[]): Tensor {
    const s = (Array.isArray(shape[0]) ? shape[0] : shape) as number[];
    const infer = s.indexOf(-1);
    const known = numel(s.filter((d) => d !== -1));
    const full = infer >= 0 ? s.map((d) => (d === -1 ? this.numel / known : d)) : s;
    if (numel(full) !== this.numel || full.some((d) => !Number.isInteger(d) || d < 0))
      throw new DslError("reshape", `cannot reshape ${shapeStr(this.shape)} (${this.numel} elements) to ${shapeStr(s)}`);
    if (sameShape(full, this.shape)) return this;
    return new Tensor(mk("reshape", this.dtype, full, [this.node], undefined, callSite));
  }
  flatten(): Tensor {
    return this.reshape([this.numel]);
  }
  expand(shape: Shape): Tensor {
    if (sameShape(shape, this.shape)) return this;
    const out = broadcastShapes("expand", this.shape, shape);
    if (!sameShape(out, shape)) throw new DslError("expand", `cannot expand ${shapeStr(this.shape)} to ${shapeStr(shape)}`);
    const padded = this.shape.length < shape.length ? this.reshape([...Array(shape.length - this.shape.length).fill(1), ...this.shape]) : this;
    return new Tensor(mk("expand", this.dtype, shape, [padded.node], undefined, callSite));
  }

  // --- elementwise ----------------------------------------------------------------------------------------
  private prim(op: PrimName, others: TensorLike[]): Tensor {
    const args = [this, ...others.map((o) => this.lift(o))];
    let shape: Shape = args[0].shape;
    for (const a of args.slice(1)) shape = broadcastShapes(op, shape, a.shape);
    const dt = PRIMS[op].type(args.map((a) => a.dtype));
    if (!DTYPES[dt as DType]) {
      const desc = args.map((a) => `${a.dtype}${shapeStr(a.shape)}`).join(op === "select" ? ", " : ` ${op} `);
      throw new DslError(op, `${desc}: ${dt}`);
    }
    const srcs = args.map((a) => a.expand(shape).node);
    return new Tensor(mk(op, dt as DType, shape, srcs, undefined, callSite));
  }
  add(o: TensorLike) { return this.prim("add", [o]); }
  sub(o: TensorLike) { return this.prim("sub", [o]); }
  mul(o: TensorLike) { return this.prim("mul", [o]); }
  div(o: TensorLike) { return this.prim("div", [o]); }
  mod(o: TensorLike) { return this.prim("mod", [o]); }
  pow(o: TensorLike) { return this.prim("pow", [o]); }
  minimum(o: TensorLike) { return this.prim("min", [o]); }
  maximum(o: TensorLike) { return this.prim("max", [o]); }
  atan2(o: TensorLike) { return this.prim("atan2", [o]); }
  lt(o: TensorLike) { return this.prim("lt", [o]); }
  le(o: TensorLike) { return this.prim("le", [o]); }
  gt(o: TensorLike) { return this.prim("gt", [o]); }
  ge(o: TensorLike) { return this.prim("ge", [o]); }
  eq(o: TensorLike) { return this.prim("eq", [o]); }
  ne(o: TensorLike) { return this.prim("ne", [o]); }
  and(o: TensorLike) { return this.prim("and", [o]); }
  or(o: TensorLike) { return this.prim("or", [o]); }
  xor(o: TensorLike) { return this.prim("xor", [o]); }
  shl(o: TensorLike) { return this.prim("shl", [o]); }
  shr(o: TensorLike) { return this.prim("shr", [o]); }
  neg() { return this.prim("neg", []); }
  abs() { return this.prim("abs", []); }
  sqrt() { return this.prim("sqrt", []); }
  rsqrt() { return this.prim("rsqrt", []); }
  recip() { return this.prim("recip", []); }
  exp() { return this.prim("exp", []); }
  log() { return this.prim("log", []); }
  exp2() { return this.prim("exp2", []); }
  log2() { return this.prim("log2", []); }
  tanh() { return this.prim("tanh", []); }
  sin() { return this.prim("sin", []); }
  cos() { return this.prim("cos", []); }
  sign() { return this.prim("sign", []); }
  floor() { return this.prim("floor", []); }
  ceil() { return this.prim("ceil", []); }
  trunc() { return this.prim("trunc", []); }
  round() { return this.prim("round", []); }
  not() { return this.prim("not", []); }
  /** cond ? a : b, elementwise (this is the condition). */
  where(a: TensorLike, b: TensorLike): Tensor {
    const ta = a instanceof Tensor ? a : b instanceof Tensor ? b.lift(a) : Tensor.const(a);
    const tb = b instanceof Tensor ? b : ta.lift(b);
    return this.prim("select", [ta, tb]);
  }
  cast(dtype: DType): Tensor {
    if (dtype === this.dtype) return this;
    if (dtype === "f16" || this.dtype === "f16") {
      // fine: the runtime refuses f16 kernels on devices without shader-f16
    }
    return new Tensor(mk("cast", dtype, this.shape, [this.node], dtype, callSite));
  }
  bitcast(dtype: DType): Tensor {
    const ok = ["f32", "i32", "u32"];
    if (!ok.includes(dtype) || !ok.includes(this.dtype))
      throw new DslError("bitcast", `only between f32, i32 and u32, not ${this.dtype} -> ${dtype}`);
    if (dtype === this.dtype) return this;
    return new Tensor(mk("bitcast", dtype, this.shape, [this.node], dtype, callSite));
  }

  // --- derived elementwise ops (one-liners over primitives) -------------------------------------------
  square() { return this.mul(this); }
  /** this + (end - this) * w: the exponential-moving-average update m <- b m + (1 - b) g as m.lerp(g, 1 - b). */
  lerp(end: TensorLike, w: TensorLike) { return this.mul(this.lift(1).sub(w)).add(this.lift(end).mul(w)); }
  clamp(lo: TensorLike, hi: TensorLike) { return this.maximum(lo).minimum(hi); }
  /** NaN, decided on the f32 bits: WGSL leaves x != x indeterminate, and Dawn's Vulkan path says false. */
  isnan() { return this.cast("f32").bitcast("u32").and(0x7fffffff).gt(0x7f800000); }
  /** Not NaN and not ±Inf, decided on the f32 exponent bits: WGSL lets a compiler assume floats are finite. */
  isfinite() { return this.cast("f32").bitcast("u32").and(0x7f800000).ne(0x7f800000); }

  // --- reductions (over the last axis) ---------------------------------------------------------------
  /**
   * Reduces over the last axis (no axis given) or over `axis`: one axis or several adjacent ones that are
   * either leading (0, [0, 1]: one value per column, e.g. a bias gradient) or trailing. keepdim keeps the
   * reduced axes as 1, as octet's reductions always have (PyTorch's default is keepdim = false).
   */
  private reduce(op: ReduceOp, name: string, axisOrKeepdim: number | number[] | boolean | undefined, keepdimArg: boolean | undefined): Tensor {
    if (this.ndim === 0) throw new DslError(name, "cannot reduce a scalar");
    if (this.dtype === "bool" || this.dtype === "u8" || this.dtype === "u16") throw new DslError(name, `cannot reduce ${this.dtype}; cast first`);
    const keepdim = typeof axisOrKeepdim === "boolean" ? axisOrKeepdim : keepdimArg ?? true;
    const axes = typeof axisOrKeepdim === "boolean" || axisOrKeepdim === undefined ? [this.ndim - 1] : this.axesOf(name, axisOrKeepdim);
    const first = axes[0], last = axes[axes.length - 1];
    const outShape = this.shape.map((d, i) => (i >= first && i <= last ? 1 : d));
    const dropped = this.shape.filter((_, i) => i < first || i > last);
    let r: Tensor;
    if (last === this.ndim - 1) {
      // Trailing axes: a row reduction over their product.
      const L = numel(this.shape.slice(first));
      const x = first === this.ndim - 1 ? this : this.reshape([...this.shape.slice(0, first), L]);
      r = new Tensor(mk("reduce", this.dtype, [...x.shape.slice(0, -1), 1], [x.node], op, callSite));
    } else if (first === 0) {
      // Leading axes: a column reduction of the [rows, columns] view.
      const R = numel(this.shape.slice(0, last + 1));
      const x = this.reshape([R, this.numel / R]);
      r = new Tensor(mk("colreduce", this.dtype, [1, x.shape[1]], [x.node], op, callSite));
    } else throw new DslError(name, `axes [${axes.join(", ")}] of ${shapeStr(this.shape)} are neither leading nor trailing; only those reduce (reshape or reduce twice)`);
    return r.reshape(keepdim ? outShape : dropped);
  }
  private axesOf(name: string, axis: number | number[]): number[] {
    const list = (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + this.ndim : a)).sort((a, b) => a - b);
    if (!list.length || list.some((a, i) => !Number.isInteger(a) || a < 0 || a >= this.ndim || (i > 0 && a !== list[i - 1] + 1)))
      throw new DslError(name, `axis ${JSON.stringify(axis)} is not one axis or a run of adjacent axes of ${shapeStr(this.shape)}`);
    return list;
  }
  sum(keepdim?: boolean): Tensor;
  sum(axis: number | number[], keepdim?: boolean): Tensor;
  sum(axis?: number | number[] | boolean, keepdim?: boolean) { return this.reduce("sum", "sum", axis, keepdim); }
  max(keepdim?: boolean): Tensor;
  max(axis: number | number[], keepdim?: boolean): Tensor;
  max(axis?: number | number[] | boolean, keepdim?: boolean) { return this.reduce("max", "max", axis, keepdim); }
  min(keepdim?: boolean): Tensor;
  min(axis: number | number[], keepdim?: boolean): Tensor;
  min(axis?: number | number[] | boolean, keepdim?: boolean) { return this.reduce("min", "min", axis, keepdim); }
  mean(keepdim?: boolean): Tensor;
  mean(axis: number | number[], keepdim?: boolean): Tensor;
  mean(axis?: number | number[] | boolean, keepdim?: boolean) {
    if (typeof axis === "boolean" || axis === undefined) return this.sum(axis).div(this.shape[this.ndim - 1]);
    return this.sum(axis, keepdim).div(numel(this.axesOf("mean", axis).map((a) => this.shape[a])));
  }

  /**
   * Matrix product over the last two axes, batched over the leading ones: [..., M, K] @ [..., K, N] ->
   * [..., M, N]. A 2-D right operand is shared by every batch (a weight). `transA` / `transB` read an operand
   * transposed without materializing the transpose.
   */
  matmul(b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
    const ta = !!opts.transA, tb = !!opts.transB;
    if (this.ndim < 2 || b.ndim < 2) throw new DslError("matmul", `operands need at least 2 dims, got ${shapeStr(this.shape)} and ${shapeStr(b.shape)}`);
    if (this.dtype !== b.dtype || !DTYPES[this.dtype].float) throw new DslError("matmul", `needs two float operands of one dtype, got ${this.dtype} and ${b.dtype}`);
    const as = this.shape, bs = b.shape;
    const M = ta ? as[as.length - 1] : as[as.length - 2];
    const K = ta ? as[as.length - 2] : as[as.length - 1];
    const Kb = tb ? bs[bs.length - 1] : bs[bs.length - 2];
    const N = tb ? bs[bs.length - 2] : bs[bs.length - 1];
    if (K !== Kb) throw new DslError("matmul", `inner dimensions differ: ${shapeStr(as)}${ta ? "^T" : ""} @ ${shapeStr(bs)}${tb ? "^T" : ""} (${K} vs ${Kb})`);
    const lead = as.slice(0, -2);
    const blead = bs.slice(0, -2);
    if (blead.length && !sameShape(blead, lead)) throw new DslError("matmul", `batch dims differ: ${shapeStr(as)} @ ${shapeStr(bs)}`);
    return new Tensor(mk("matmul", this.dtype, [...lead, M, N], [this.node, b.node], { ta, tb }));
  }

  /**
   * A scheduling barrier: the value is computed into its own buffer once, instead of being recomputed inside
   * every kernel that reads it (fusion's default for elementwise work). Use it where a long elementwise chain
   * feeds many kernels, e.g. a residual stream.
   */
  contiguous(): Tensor {
    if (this.node.op === "input" || this.node.op === "buffer" || this.node.op === "contiguous") return this;
    return new Tensor(mk("contiguous", this.dtype, this.shape, [this.node], undefined));
  }

  /** Rows of this table picked by integer indices: table [V, ...rest], index [...I] -> [...I, ...rest]. */
  gather(index: Tensor): Tensor {
    if (index.dtype !== "i32" && index.dtype !== "u32")
      throw new DslError("gather", `index must be i32 or u32, got ${index.dtype}`);
    if (this.ndim < 1 || this.ndim > 2) throw new DslError("gather", `table must be 1-D or 2-D, got ${shapeStr(this.shape)}`);
    const shape = [...index.shape, ...this.shape.slice(1)];
    return new Tensor(mk("gather", this.dtype, shape, [this.node, index.node], undefined, callSite));
  }

  /**
   * The transpose of gather (PyTorch's `index_add` into zeros): this [N, D] (or [N]) holds one row per index
   * (i32 or u32, any shape of N elements); the result [rows, D] (or [rows]) has in row v the sum of the rows
   * whose index is v, in index order, and zeros where no index is v. An index outside [0, rows) (a negative
   * i32 included) adds to no row. Sums are deterministic: codegen/lowerings/scatter.ts sorts, then adds.
   */
  scatterAdd(index: Tensor, rows: number): Tensor {
    if (index.dtype !== "i32" && index.dtype !== "u32")
      throw new DslError("scatterAdd", `index must be i32 or u32, got ${index.dtype}`);
    if (this.dtype !== "f32") throw new DslError("scatterAdd", `values must be f32, got ${this.dtype}; cast them first`);
    if (this.ndim < 1 || this.ndim > 2) throw new DslError("scatterAdd", `values must be 1-D or 2-D ([N] or [N, D]), got ${shapeStr(this.shape)}`);
    if (index.numel !== this.shape[0])
      throw new DslError("scatterAdd", `${index.numel} indices for ${this.shape[0]} rows of values ${shapeStr(this.shape)}; give one index per row`);
    if (!Number.isInteger(rows) || rows < 1 || rows >= 2 ** 31) throw new DslError("scatterAdd", `rows must be an integer in [1, 2^31), got ${rows}`);
    const flat = index.reshape([index.numel]);
    return new Tensor(mk("scatter", this.dtype, [rows, ...this.shape.slice(1)], [this.node, flat.node], undefined, callSite));
  }

  /**
   * log(sum(exp(x))) over the last axis, kept as 1 ([..., L] -> [..., 1]), for rows of any length in one pass
   * (an online max and sum, codegen/lowerings/logsumexp.ts): the normalizer of softmax and cross-entropy.
   */
  logsumexp(): Tensor {
    if (this.ndim === 0) throw new DslError("logsumexp", "cannot reduce a scalar");
    if (this.dtype !== "f32") throw new DslError("logsumexp", `needs f32, got ${this.dtype}; cast first`);
    return new Tensor(mk("logsumexp", this.dtype, [...this.shape.slice(0, -1), 1], [this.node], undefined, callSite));
  }

  // --- results ------------------------------------------------------------------------------------------
  /** Computes this tensor (if it is not a buffer yet). */
  async realize(): Promise<this> {
    if (!realizer) throw new Error("octet: no runtime installed (import from src/index.ts)");
    await realizer([this]);
    return this;
  }
  /** Reads the tensor back as a typed array of its dtype. */
  async toArray(): Promise<ArrayLike<number>> {
    if (!reader) throw new Error("octet: no runtime installed (import from src/index.ts)");
    return reader(this);
  }
}
