// Kernel IR -> WGSL. The emitter only renders: the graph is simplified first (passes/simplify.ts, which the
// interpreter also runs), and what is computed where comes from passes over the kernel IR: each value's phase,
// level and liveness across phases (passes/liveness.ts) and the repeated subgraphs that become WGSL functions
// (passes/functions.ts). Names come from the DSL, made valid WGSL identifiers by identifiers.ts.
// Row kernels run in phases: phase p computes what needs p reductions; each reduction goes through workgroup
// memory between phases. Values a later phase needs are kept in per-thread arrays; buffer loads are simply
// re-issued. Each elementwise output is stored in the phase the planner gives it (passes/liveness.ts: the first
// where it is final, but never before a phase that still loads its slot), after everything that phase loads,
// which is what makes in-place updates (p <- p - lr * u) safe; one-per-row outputs are stored at the very end.
import { DTYPES, type DType } from "../dsl/dtype.ts";
import { nodeName } from "../dsl/names.ts";
import type { Node, ReduceOp } from "../dsl/node.ts";
import { PRIMS, isPrim, wgslCast, type Emit } from "../dsl/prims.ts";
import { kernelKindOf } from "./lowerings/index.ts";
import { uniqueIdent, localStem } from "./identifiers.ts";
import { planKernel, type KernelPlan } from "./passes/liveness.ts";
import { simplifyKernel } from "./passes/simplify.ts";
import { findFunctions, type KernelFunction } from "./passes/functions.ts";
import { MAP_WORKGROUP, rowGeometry, type Binding, type Kernel } from "./kernel.ts";
import { DISPATCH_FIELDS, kernelBanner } from "./banner.ts";

/** The WGSL names of a kernel's bindings: the DSL names, made valid and distinct (codegen/identifiers.ts). */
export function bindingNames(k: Kernel): string[] {
  const used = new Set<string>();
  return k.bindings.map((b) => {
    const clean = b.name.replace(/[^A-Za-z0-9_]/g, "_");
    return uniqueIdent(b.mode === "elem" ? clean : `${clean}_${b.mode}`, "b_", used);
  });
}

/** Storage element type of a binding: vec4 where the kernel reads 4 consecutive elements at once. */
function storageElem(b: Binding, vec: number): string {
  const base = DTYPES[b.dtype].storage;
  if (b.dtype === "u8" || b.dtype === "u16") return "u32"; // 4 (u8) or 2 (u16) codes per word
  const vecMode = b.mode === "elem" || b.mode === "col" || (b.mode === "table" && (b.tableWidth ?? 1) > 1);
  return vec === 4 && vecMode ? `vec4<${base}>` : base;
}

/**
 * The fields of a map/row kernel's uniform block: the runtime's dispatch fields, then the kernel's uniforms.
 * `name` is the DSL name (what the runtime looks a value up by), `field` its WGSL name: a uniform called
 * `var`, `rows` or `max` gets a field of its own spelling (`u_var`, `u_rows`, `u_max`).
 */
export function uniformLayout(k: Kernel): { name: string; field: string; dtype: DType; offset: number }[] {
  const used = new Set<string>(DISPATCH_FIELDS);
  const fixed = DISPATCH_FIELDS.map((name, i) => ({ name, field: name as string, dtype: "u32" as DType, offset: i * 4 }));
  return [...fixed, ...k.uniforms.map((u, i) => ({ name: u.name, field: uniqueIdent(u.name, "u_", used), dtype: u.dtype, offset: (fixed.length + i) * 4 }))];
}

/**
 * WGSL type of a uniform's field in Params: every field is one 4-byte slot. bool is not host-shareable, so
 * it travels as a u32 (0 or 1); f16 travels as f32 (the host writes f32; the kernel converts).
 */
function paramType(d: DType): string {
  return d === "f16" ? "f32" : d === "bool" ? "u32" : DTYPES[d].wgsl;
}

export function workgroupSize(k: Kernel): number {
  const own = kernelKindOf(k.kind);
  if (own) return own.workgroupSize(k);
  return k.kind === "map" ? MAP_WORKGROUP : rowGeometry(k.L, k.vec, k.target?.rowThreads).wg;
}

/** WGSL source of a kernel, for the device facts it was lowered for (`k.target`). */
export function emitWgsl(k: Kernel): string {
  const own = kernelKindOf(k.kind);
  if (own) return own.emit(k, bindingNames(k));
  return new Emitter(simplifyKernel(k)).emit();
}

class Emitter implements Emit {
  private names = new Map<number, string>();
  private counter = 0;
  private plan: KernelPlan;
  private order: Node[];
  private phase: Map<number, number>;
  private elemLevel: Map<number, boolean>;
  private bnames: string[];
  private fields: Map<string, string>; // uniform name -> its field in Params
  private usedNames: Set<string>; // module-scope names (bindings, functions)
  private wg: number;
  private steps: number;
  private needsF16: boolean;
  private usesSubgroups = false;
  private curVec = false; // rendering an elementwise (vector-width) value right now

  constructor(private k: Kernel) {
    this.plan = planKernel(k);
    ({ order: this.order, phase: this.phase, elem: this.elemLevel, f16: this.needsF16 } = this.plan);
    this.bnames = bindingNames(k);
    this.fields = new Map(uniformLayout(k).map((f) => [f.name, f.field]));
    this.usedNames = new Set(["main", ...this.bnames]);
    for (const fn of findFunctions(k, this.plan)) for (const c of fn.calls) this.calls.set(c.root.id, { fn, args: c.args });
    const g = k.kind === "row" ? rowGeometry(k.L, k.vec, k.target?.rowThreads) : { wg: MAP_WORKGROUP, steps: 1 };
    this.wg = g.wg;
    this.steps = g.steps;
    if (this.needsF16 && !k.target?.f16) throw new Error(`octet: ${k.name} computes in f16, but the target device has no shader-f16; cast to f32 first`);
    if (k.tableChunk !== undefined) this.chunkIndex = this.tableChunkIndex(k.tableChunk);
  }

  /**
   * The index node of the one gather from the chunked table. The scheduler keeps one gather from a table
   * larger than one binding per kernel, and none with a per-element index in a row kernel (it computes such
   * gathers in kernels of their own: codegen/schedule.ts); a kernel that still has them was scheduled for a
   * larger binding limit than the one it runs under, and is refused here rather than computed wrongly.
   */
  private chunkIndex?: Node;
  private tableChunkIndex(binding: number): Node {
    const loads = this.order.filter((n) => n.op === "load" && (n.arg as { binding: number }).binding === binding);
    const idx = new Set(loads.map((n) => n.src[0]));
    const b = this.k.bindings[binding];
    const what = `octet: kernel ${this.k.name}: gather table ${b.name} is larger than one storage binding`;
    const why = `; the scheduler computes such gathers in kernels of their own when it knows the binding limit, but this kernel was scheduled for ${this.k.target?.maxStorageBindingBytes ?? "an unknown number of"} bytes (trace it again, e.g. the jit, after lowering the limit)`;
    // Each dispatch stores only what its chunk of the table holds: with two indices an element may need rows
    // of two chunks; in a row kernel a reduction over per-element indices would mix chunks.
    if (idx.size !== 1) throw new Error(`${what} and is gathered with ${idx.size} different indices in one kernel${why}`);
    const node = [...idx][0];
    if (this.k.kind === "row" && this.elemLevel.get(node.id)) throw new Error(`${what} and its index differs between the elements of a row of this row kernel${why}`);
    return node;
  }

  /** The condition under which this chunk of the table holds the element's gathered row (per lane for a per-lane index). */
  private inChunk(lines: string[], p: number): string {
    const n = this.chunkIndex!;
    const saved = this.curVec;
    const lanes = this.V && !!this.elemLevel.get(n.id);
    this.curVec = !!this.elemLevel.get(n.id);
    const idx = this.value(n, lines, p);
    this.curVec = saved;
    if (lanes) return `((vec4<u32>(${idx}) >= vec4<u32>(params.table_first)) & (vec4<u32>(${idx}) <= vec4<u32>(params.table_last)))`;
    return `u32(${idx}) >= params.table_first && u32(${idx}) <= params.table_last`;
  }

  /**
   * A store, guarded when the table is chunked (elements of other chunks are written by their dispatch).
   * When the index differs between the 4 lanes of a vector, the lanes may lie in different chunks: the
   * vector is merged with what the buffer holds, lane by lane (the other lanes are the other chunks' work;
   * dispatches run one after another, and one thread owns the vector within a dispatch).
   */
  private laneMasks = new WeakMap<string[], string>(); // one mask per block of code
  private guardedStore(b: Binding, bname: string, value: string, vec: boolean, lines: string[], p: number, node?: Node): string {
    const st = this.store(b, bname, value, vec, node);
    if (!this.chunkIndex) return st;
    const cond = this.inChunk(lines, p);
    if (!(vec && this.V && this.elemLevel.get(this.chunkIndex.id))) return `if (${cond}) { ${st} }`;
    let mask = this.laneMasks.get(lines);
    if (!mask) {
      this.laneMasks.set(lines, (mask = `in_chunk_${this.fresh(this.chunkIndex)}`));
      lines.push(`let ${mask} = ${cond};`);
    }
    if (b.dtype === "u8") {
      const bytes = `select(vec4<u32>(0u), vec4<u32>(255u), ${mask}) << vec4<u32>(0u, 8u, 16u, 24u)`;
      const w = `(${value} & vec4<u32>(255u)) << vec4<u32>(0u, 8u, 16u, 24u)`;
      return `if (any(${mask})) { let keep = ${bytes}; let bits = keep.x | keep.y | keep.z | keep.w; let packed = ${w}; ${bname}[e >> 2u] = (${bname}[e >> 2u] & ~bits) | ((packed.x | packed.y | packed.z | packed.w) & bits); }`;
    }
    if (b.dtype === "u16") {
      // Two words per vector, each merged with the halves of other chunks (as u8 above).
      const halves = `vec4<u32>(0u, 16u, 0u, 16u)`;
      const keep = `select(vec4<u32>(0u), vec4<u32>(65535u), ${mask}) << ${halves}`;
      const w = `(${value} & vec4<u32>(65535u)) << ${halves}`;
      const merge = (at: string, a: string, b2: string) => `${bname}[${at}] = (${bname}[${at}] & ~(keep.${a} | keep.${b2})) | ((packed.${a} | packed.${b2}) & (keep.${a} | keep.${b2}));`;
      return `if (any(${mask})) { let keep = ${keep}; let packed = ${w}; ${merge("e >> 1u", "x", "y")} ${merge("(e >> 1u) + 1u", "z", "w")} }`;
    }
    const v = b.dtype === "bool" ? `select(vec4<u32>(0u), vec4<u32>(1u), ${value})` : value;
    return `if (any(${mask})) { ${bname}[e >> 2u] = select(${bname}[e >> 2u], ${v}, ${mask}); }`;
  }

  private binding(n: Node): Binding {
    return this.k.bindings[(n.arg as { binding: number }).binding];
  }
  private get V(): boolean {
    return this.k.vec === 4;
  }

  ty(d: DType): string {
    const s = DTYPES[d].wgsl;
    return this.curVec && this.V ? `vec4<${s}>` : s;
  }
  private tyOf(n: Node): string {
    const s = DTYPES[n.dtype].wgsl;
    return this.elemLevel.get(n.id) && this.V ? `vec4<${s}>` : s;
  }

  // --- expressions ----------------------------------------------------------------------------------------
  private literal(n: Node): string {
    const v = n.arg as number;
    switch (n.dtype) {
      case "bool":
        return v ? "true" : "false";
      case "u32":
      case "u8":
      case "u16":
        return `${v >>> 0}u`;
      case "i32":
        return v === -2147483648 ? "i32(-2147483647 - 1)" : v < 0 ? `(${v}i)` : `${v}i`;
      default: {
        const suf = n.dtype === "f16" ? "h" : "f";
        if (Number.isNaN(v) || !Number.isFinite(v)) {
          // WGSL rejects a const-expression that is NaN or infinite: build it from a runtime zero.
          const bits = Number.isNaN(v) ? "0x7fc00000u" : v > 0 ? "0x7f800000u" : "0xff800000u";
          return n.dtype === "f16" ? `f16(bitcast<f32>(${bits} | params.zero))` : `bitcast<f32>(${bits} | params.zero)`;
        }
        // A -0.0 literal loses its sign on lavapipe (even through select): build it from the bits at runtime.
        if (Object.is(v, -0)) return n.dtype === "f16" ? "f16(bitcast<f32>(0x80000000u | params.zero))" : "bitcast<f32>(0x80000000u | params.zero)";
        // The magnitude's shortest round-trip decimal (String gives e.g. "1e-7"); the sign goes outside. (Taking
        // the sign off the string instead would also strip an exponent's minus: 1e-7 became 1e7.)
        const lit = `${String(Math.abs(v))}${suf}`;
        return v < 0 ? `(-${lit})` : lit;
      }
    }
  }

  /** WGSL expression of n at the width the current context needs (splatting a scalar where needed). */
  private ref(n: Node, lines: string[], p: number): string {
    const name = this.value(n, lines, p);
    if (this.curVec && this.V && !this.elemLevel.get(n.id)) return `${this.tyOfScalarAsVec(n)}(${name})`;
    return name;
  }
  private tyOfScalarAsVec(n: Node): string {
    return `vec4<${DTYPES[n.dtype].wgsl}>`;
  }

  private scope = new Map<string, string>(); // per-loop memo: `${id}` -> local name
  private rowLines: string[] = []; // row-level code emitted before the current loop

  /** The name holding n's value in phase p (emitting its definition where it belongs). */
  private value(n: Node, lines: string[], p: number): string {
    if (n.op === "const") return this.literal(n);
    if (n.op === "uniform") {
      // Stored as paramType says: convert back to the uniform's dtype where the two differ.
      const u = `params.${this.fields.get(n.arg as string)!}`;
      return n.dtype === "f16" ? `f16(${u})` : n.dtype === "bool" ? `(${u} != 0u)` : u;
    }
    const param = this.fnParams?.get(n.id);
    if (param) return param;
    const elem = this.elemLevel.get(n.id)!;
    if (!elem) {
      const have = this.names.get(n.id);
      if (have) return have;
      return this.defineRow(n, p);
    }
    const hit = this.scope.get(String(n.id));
    if (hit) return hit;
    const home = this.plan.home.get(n.id);
    let name: string;
    if (home !== undefined && home < p) {
      name = this.fresh(n);
      lines.push(`let ${name} = keep_${this.keepName(n)}[k];`);
    } else {
      name = this.fresh(n);
      const saved = this.curVec;
      this.curVec = true;
      const call = this.fnParams ? undefined : this.calls.get(n.id);
      const expr = call ? this.call(call.fn, call.args, lines, p) : this.expr(n, lines, p);
      this.curVec = saved;
      lines.push(`let ${name} = ${expr};`);
    }
    this.scope.set(String(n.id), name);
    return name;
  }

  // --- functions (codegen/passes/functions.ts: repeated subgraphs) ------------------------------------------
  private calls = new Map<number, { fn: KernelFunction; args: Node[] }>();
  private fnNames = new Map<KernelFunction, string>(); // rendered functions
  private fnDecls: string[] = [];
  private fnParams?: Map<number, string>; // while rendering a function body: parameter node -> name

  /** A call of fn with args (rendering fn's declaration the first time). */
  private call(fn: KernelFunction, args: Node[], lines: string[], p: number): string {
    let name = this.fnNames.get(fn);
    if (!name) {
      name = uniqueIdent(fn.name, "f_", this.usedNames);
      this.fnNames.set(fn, name);
      const used = new Set<string>();
      // A parameter takes the DSL name its arguments share (absmax), else a position (arg0).
      const pnames = fn.params.map((_, i) => {
        const names = new Set(fn.calls.map((c) => nodeName(c.args[i])));
        const [shared] = names;
        return uniqueIdent(names.size === 1 && shared ? localStem(shared) : `arg${i}`, "a_", used);
      });
      const [scope, names] = [this.scope, this.names];
      this.scope = new Map();
      this.fnParams = new Map(fn.params.map((x, i) => [x.id, pnames[i]]));
      const body: string[] = [];
      const result = this.value(fn.root, body, p);
      this.fnParams = undefined;
      [this.scope, this.names] = [scope, names];
      const sig = fn.params.map((x, i) => `${pnames[i]}: ${this.tyOf(x)}`).join(", ");
      this.fnDecls.push("", `// ${fn.calls.length} calls in this kernel`, `fn ${name}(${sig}) -> ${this.tyOf(fn.root)} {`, ...body.map((l) => `  ${l}`), `  return ${result};`, "}");
    }
    return `${name}(${args.map((a) => this.value(a, lines, p)).join(", ")})`;
  }

  private defineRow(n: Node, p: number): string {
    const name = this.fresh(n);
    this.names.set(n.id, name);
    const saved = this.curVec;
    this.curVec = false;
    const expr = this.expr(n, this.rowLines, p);
    this.curVec = saved;
    this.rowLines.push(`let ${name} = ${expr};`);
    return name;
  }

  private fresh(n: Node): string {
    const named = nodeName(n);
    const base = named ? localStem(named) : n.op === "load" ? this.bnames[(n.arg as { binding: number }).binding] : n.op;
    return `${base}_${this.counter++}`;
  }
  private keepNames = new Map<number, string>();
  private keepName(n: Node): string {
    let s = this.keepNames.get(n.id);
    if (!s) this.keepNames.set(n.id, (s = `${localStem(nodeName(n) ?? n.op)}_${this.keepNames.size}`));
    return s;
  }

  private expr(n: Node, lines: string[], p: number): string {
    const args = () => n.src.map((s) => this.ref(s, lines, p));
    switch (n.op) {
      case "load":
        return this.load(n, lines, p);
      case "iota":
        return this.iota(n);
      case "cast":
        return wgslCast(this.ref(n.src[0], lines, p), this, n.src[0].dtype, n.dtype);
      case "bitcast":
        return `bitcast<${this.ty(n.dtype)}>(${this.ref(n.src[0], lines, p)})`;
      case "reduce":
        throw new Error("octet codegen: a reduction is finished between phases, not inlined");
      case "shl":
      case "shr":
        // A literal amount is taken mod 32 here, as WGSL does for runtime amounts (a constant amount of 32 or
        // more is a compile error there, hence the table's runtime mask), so the shift needs no mask.
        if (n.src[1].op === "const") return `(${this.ref(n.src[0], lines, p)} ${n.op === "shl" ? "<<" : ">>"} ${this.ty("u32")}(${(n.src[1].arg as number) & 31}u))`;
        return PRIMS[n.op].wgsl(args(), this, n.dtype, n.src.map((s) => s.dtype));
      default:
        if (!isPrim(n.op)) throw new Error(`octet codegen: unexpected ${n.op} in kernel`);
        return PRIMS[n.op].wgsl(args(), this, n.dtype, n.src.map((s) => s.dtype));
    }
  }

  private iota(n: Node): string {
    const vecLanes = this.V && this.curVec;
    // With rows of one element (L = 1) the four lanes are four rows: each lane's column is c (= 0).
    if (n.arg === 1) return vecLanes ? (this.k.L === 1 ? "vec4<u32>(c)" : "(vec4<u32>(c) + vec4<u32>(0u, 1u, 2u, 3u))") : "c";
    if (this.k.L === 1) return vecLanes ? "(vec4<u32>(r) + vec4<u32>(0u, 1u, 2u, 3u))" : "r";
    return "r";
  }

  private load(n: Node, lines: string[], p: number): string {
    const b = this.binding(n);
    const name = this.bnames[(n.arg as { binding: number }).binding];
    const vec = this.V && this.curVec;
    const mode = b.mode;
    const unpackU8 = (word: string, idx: string) => `((${word} >> ((${idx} & 3u) * 8u)) & 255u)`;
    const unpackU16 = (word: string, idx: string) => `((${word} >> ((${idx} & 1u) * 16u)) & 65535u)`;
    // A vector of 4 u16 codes from element i (a multiple of 4): two words, low half first.
    const vecU16 = (i: string) => `((vec4<u32>(${name}[${i} >> 1u], ${name}[${i} >> 1u], ${name}[(${i} >> 1u) + 1u], ${name}[(${i} >> 1u) + 1u]) >> vec4<u32>(0u, 16u, 0u, 16u)) & vec4<u32>(65535u))`;
    const fromStore = (raw: string) => (b.dtype === "bool" ? `(${raw} != ${vec && mode !== "row" && mode !== "scalar" ? "vec4<u32>(0u)" : "0u"})` : raw);
    switch (mode) {
      case "elem":
        if (b.dtype === "u8") {
          if (vec) return `((vec4<u32>(${name}[e >> 2u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u))`;
          return unpackU8(`${name}[e >> 2u]`, "e");
        }
        if (b.dtype === "u16") return vec ? vecU16("e") : unpackU16(`${name}[e >> 1u]`, "e");
        return fromStore(`${name}[${vec ? "e >> 2u" : "e"}]`);
      case "col":
        if (b.dtype === "u8") {
          if (vec) return `((vec4<u32>(${name}[c >> 2u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u))`;
          return unpackU8(`${name}[c >> 2u]`, "c");
        }
        if (b.dtype === "u16") return vec ? vecU16("c") : unpackU16(`${name}[c >> 1u]`, "c");
        return fromStore(`${name}[${vec ? "c >> 2u" : "c"}]`);
      case "row":
        return b.dtype === "u8" ? unpackU8(`${name}[row >> 2u]`, "row") : b.dtype === "u16" ? unpackU16(`${name}[row >> 1u]`, "row") : fromStore(`${name}[row]`);
      case "scalar":
        return b.dtype === "u8" ? `(${name}[0] & 255u)` : b.dtype === "u16" ? `(${name}[0] & 65535u)` : fromStore(`${name}[0]`);
      case "table": {
        const idxNode = n.src[0];
        const width = b.tableWidth ?? 1;
        if (width > 1) {
          const saved = this.curVec;
          this.curVec = false;
          const idx = this.value(idxNode, lines, p); // a row-level index
          this.curVec = saved;
          const first = this.k.tableChunk === (n.arg as { binding: number }).binding ? " - params.table_first" : "";
          const at = `(${this.asU32(idxNode, idx)}${first}) * ${width}u + c`;
          if (b.dtype === "u8" || b.dtype === "u16") throw new Error(`octet codegen: gathering rows from a ${b.dtype} table is not supported`);
          return fromStore(vec ? `${name}[(${at}) >> 2u]` : `${name}[${at}]`);
        }
        const idx = this.value(idxNode, lines, p);
        const first = this.k.tableChunk === (n.arg as { binding: number }).binding ? " - params.table_first" : "";
        const one = (lane: string) => {
          const i = this.asU32(idxNode, lane);
          return b.dtype === "u8" ? unpackU8(`${name}[(${i}${first}) >> 2u]`, i) : b.dtype === "u16" ? unpackU16(`${name}[(${i}${first}) >> 1u]`, i) : b.dtype === "bool" ? `(${name}[${i}${first}] != 0u)` : `${name}[${i}${first}]`;
        };
        if (vec && this.elemLevel.get(idxNode.id))
          return `vec4<${DTYPES[b.dtype].wgsl}>(${["x", "y", "z", "w"].map((l) => one(`${idx}.${l}`)).join(", ")})`;
        return one(idx);
      }
    }
  }

  /** An index expression as u32 (a u32 index as it is). */
  private asU32(idx: Node, text: string): string {
    return idx.dtype === "u32" ? text : `u32(${text})`;
  }

  // --- stores ---------------------------------------------------------------------------------------------
  private store(b: Binding, bname: string, value: string, vec: boolean, node?: Node): string {
    if (b.mode === "row") {
      const v = b.dtype === "bool" ? `select(0u, 1u, ${value})` : value;
      return `if (lid == 0u) { ${bname}[row] = ${v}; }`;
    }
    if (b.dtype === "u8") {
      // A u8 value is already 0..255 (every u8 cast and load masks it), so only other values are masked here.
      const w = `(${node?.dtype === "u8" ? value : `(${value} & vec4<u32>(255u))`} << vec4<u32>(0u, 8u, 16u, 24u))`;
      return `{ let packed = ${w}; ${bname}[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }`;
    }
    if (b.dtype === "u16") {
      const w = `(${value} & vec4<u32>(65535u)) << vec4<u32>(0u, 16u, 0u, 16u)`;
      return `{ let packed = ${w}; ${bname}[e >> 1u] = packed.x | packed.y; ${bname}[(e >> 1u) + 1u] = packed.z | packed.w; }`;
    }
    const v = b.dtype === "bool" ? (vec ? `select(vec4<u32>(0u), vec4<u32>(1u), ${value})` : `select(0u, 1u, ${value})`) : value;
    return `${bname}[${vec ? "e >> 2u" : "e"}] = ${v};`;
  }

  // --- reductions -----------------------------------------------------------------------------------------
  private identity(op: ReduceOp, d: DType): string {
    if (op === "sum") return `${DTYPES[d].wgsl}(0)`;
    const lowest = op === "max";
    if (d === "u32") return lowest ? "0u" : "4294967295u";
    if (d === "i32") return lowest ? "i32(-2147483647 - 1)" : "2147483647i";
    const bits = lowest ? "0xff800000u" : "0x7f800000u";
    return d === "f16" ? `f16(bitcast<f32>(${bits} | params.zero))` : `bitcast<f32>(${bits} | params.zero)`;
  }
  private combine(op: ReduceOp, a: string, b: string): string {
    return op === "sum" ? `(${a} + ${b})` : `${op}(${a}, ${b})`;
  }
  private laneReduce(op: ReduceOp, v: string): string {
    if (!this.V) return v;
    return this.combine(op, this.combine(op, `${v}.x`, `${v}.y`), this.combine(op, `${v}.z`, `${v}.w`));
  }

  /**
   * Whether a row reduction is one subgroup operation: max or min (exact in any order) of a 32-bit type, on a
   * target whose every subgroup holds the whole workgroup (all its invocations reach the reduction: rows past
   * the end return as a whole workgroup, before it).
   */
  private subgroupReduces(red: Node): boolean {
    const sg = this.k.target?.subgroupMinSize ?? 0;
    return sg > 0 && this.wg <= sg && (red.arg === "max" || red.arg === "min") && ["f32", "u32", "i32"].includes(red.dtype);
  }

  // --- the kernel -------------------------------------------------------------------------------------------
  emit(): string {
    const k = this.k;
    const body = k.kind === "map" ? this.mapBody() : this.rowBody();
    const decls = this.declarations();
    return [this.header(), ...decls, "", `@compute @workgroup_size(${this.wg})`, "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {", ...body.map((l) => `  ${l}`), "}", ""].join("\n");
  }

  private header(): string {
    const k = this.k;
    const rows = k.bindings.map((b, i) => `${this.bnames[i]}: ${b.dtype} ${b.mode}${b.tableWidth ? `(width ${b.tableWidth})` : ""} ${b.read && b.write ? "read_write" : b.write ? "write" : "read"}`);
    const what = `${k.kind} kernel over rows of ${k.L} element${k.L === 1 ? "" : "s"}, ${k.vec === 4 ? "vec4" : "scalar"} access, workgroup ${this.wg}${k.kind === "row" ? `, ${this.steps} step(s) per thread` : ""}`;
    return kernelBanner(k, [what], [`${DISPATCH_FIELDS.join(", ")}${k.uniforms.map((u) => `, ${this.fields.get(u.name)}: ${u.dtype}`).join("")})`], rows);
  }

  private declarations(): string[] {
    const k = this.k;
    const out: string[] = [];
    if (this.needsF16) out.push("enable f16;");
    if (this.usesSubgroups) out.push("enable subgroups;");
    out.push("", "struct Params {", ...uniformLayout(k).map((f) => `  ${f.field}: ${paramType(f.dtype)},`), "}");
    out.push("@group(0) @binding(0) var<uniform> params: Params;");
    k.bindings.forEach((b, i) => {
      const access = b.write ? "read_write" : "read";
      out.push(`@group(0) @binding(${i + 1}) var<storage, ${access}> ${this.bnames[i]}: array<${storageElem(b, k.vec)}>;`);
    });
    for (const s of this.scratch) out.push(s);
    out.push(...this.fnDecls);
    return out;
  }

  private scratch: string[] = [];

  /**
   * The stores of phase p's elementwise outputs (storePhase: passes/liveness.ts). Every value is computed
   * first and stored after, so no load of this phase can see one of its stores.
   */
  private outputsCode(lines: string[], p: number): void {
    const outs = this.k.outputs.filter((o, i) => this.k.bindings[o.binding].mode !== "row" && this.plan.storePhase[i] === p);
    const values = outs.map((o) => this.ref(o.node, lines, p));
    outs.forEach((o, i) => lines.push(this.guardedStore(this.k.bindings[o.binding], this.bnames[o.binding], values[i], this.V, lines, p, o.node)));
  }

  private mapBody(): string[] {
    const k = this.k;
    const lines: string[] = [];
    this.curVec = true;
    this.outputsCode(lines, 0);
    const head = [
      `let i = (wid.x + wid.y * nwg.x) * ${MAP_WORKGROUP}u + lid; // this thread's ${this.V ? "vec4 " : ""}element`,
      "if (i >= params.count) { return; }",
      this.V ? "let e = i * 4u;" : "let e = i;",
    ];
    if (this.plan.reads.row) head.push(`let row = e / ${k.L}u;`, "let r = params.row_base + row;");
    if (this.plan.reads.col) head.push(`let c = e % ${k.L}u;`);
    return [...head, ...this.rowLines, ...lines];
  }

  private rowBody(): string[] {
    const k = this.k;
    const P = this.plan.lastPhase;
    const out: string[] = [
      "let row = wid.x + wid.y * nwg.x; // one workgroup per row",
      "if (row >= params.rows) { return; }",
      "let r = params.row_base + row;",
    ];
    // The elementwise values a later phase needs, kept per thread (one per step of the row loop).
    const kept = this.plan.kept;
    for (const n of kept) out.push(`var keep_${this.keepName(n)}: array<${this.tyOf(n)}, ${this.steps}>;`);
    const reduces = this.plan.reduces;
    for (let p = 0; p <= P; p++) {
      this.scope = new Map();
      const body: string[] = [];
      this.rowLines = [];
      this.curVec = true;
      const accs: string[] = [];
      for (const red of reduces.filter((x) => this.phase.get(x.src[0].id) === p)) {
        const acc = `acc_${this.keepName(red)}`;
        const op = red.arg as ReduceOp;
        accs.push(`var ${acc}: ${DTYPES[red.dtype].wgsl} = ${this.identity(op, red.dtype)};`);
        const v = this.ref(red.src[0], body, p);
        body.push(`${acc} = ${this.combine(op, acc, this.elemLevel.get(red.src[0].id) ? this.laneReduce(op, v) : v)};`);
      }
      for (const n of kept) if (this.plan.home.get(n.id) === p) body.push(`keep_${this.keepName(n)}[k] = ${this.value(n, body, p)};`);
      this.outputsCode(body, p);
      const pre = this.rowLines;
      out.push(`// phase ${p}${p ? `: after ${p} reduction${p > 1 ? "s" : ""}` : ""}`, ...pre, ...accs);
      if (body.length) {
        out.push(`for (var k = 0u; k < ${this.steps}u; k++) {`, `  let c = (k * ${this.wg}u + lid) * ${this.V ? 4 : 1}u;`, `  if (c < ${k.L}u) {`, `    let e = row * ${k.L}u + c;`, ...body.map((l) => `    ${l}`), "  }", "}");
      }
      // Finish this phase's reductions. A max/min over a workgroup that is one subgroup is one subgroupMax/
      // subgroupMin (exact in any order; sums keep the tree, whose order reduce.ts documents). The others go
      // through workgroup memory, all of them in the same few barriers: a radix-4 tree (64 threads: 3 steps).
      // Barriers dominate on CPU devices (lavapipe): the radix-2 tree per reduction this replaces made
      // Adam8bit's step 2.3x slower.
      const inPhase = reduces.filter((x) => this.phase.get(x.src[0].id) === p);
      for (const red of inPhase.filter((x) => this.subgroupReduces(x))) {
        this.usesSubgroups = true;
        const name = this.fresh(red);
        this.names.set(red.id, name);
        out.push(`let ${name} = ${red.arg === "max" ? "subgroupMax" : "subgroupMin"}(acc_${this.keepName(red)}); // the workgroup is one subgroup`);
      }
      const phaseReds = inPhase.filter((x) => !this.subgroupReduces(x));
      if (phaseReds.length) {
        for (const red of phaseReds) {
          const nm = this.keepName(red);
          this.scratch.push(`var<workgroup> scratch_${nm}: array<${DTYPES[red.dtype].wgsl}, ${this.wg}>;`);
          out.push(`scratch_${nm}[lid] = acc_${nm};`);
        }
        out.push("workgroupBarrier();");
        for (let n = this.wg; n > 1; ) {
          const radix = n % 4 === 0 ? 4 : 2;
          const m = n / radix;
          const lines = phaseReds.map((red) => {
            const nm = `scratch_${this.keepName(red)}`;
            const op = red.arg as ReduceOp;
            const at = (j: number) => (j ? `${nm}[lid + ${j * m}u]` : `${nm}[lid]`);
            const v = radix === 4 ? this.combine(op, this.combine(op, at(0), at(1)), this.combine(op, at(2), at(3))) : this.combine(op, at(0), at(1));
            return `${nm}[lid] = ${v};`;
          });
          out.push(`if (lid < ${m}u) { ${lines.join(" ")} }`, "workgroupBarrier();");
          n = m;
        }
        for (const red of phaseReds) {
          const name = this.fresh(red);
          this.names.set(red.id, name);
          out.push(`let ${name} = scratch_${this.keepName(red)}[0];`);
        }
      }
    }
    // Row outputs last: every load of the row's old values has happened above.
    this.rowLines = [];
    this.curVec = false;
    const rowStores: string[] = [];
    for (const o of k.outputs) {
      const b = k.bindings[o.binding];
      if (b.mode !== "row") continue;
      const v = this.value(o.node, this.rowLines, P);
      rowStores.push(this.guardedStore(b, this.bnames[o.binding], v, false, this.rowLines, P));
    }
    out.push(...this.rowLines, ...rowStores);
    return out;
  }
}
