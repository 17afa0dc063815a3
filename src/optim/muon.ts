// Muon (torch.optim.Muon, torch/optim/_muon.py; Keller Jordan's "Muon: an optimizer for hidden layers"):
// SGD momentum whose update, for a 2-D weight, is replaced by its approximate orthogonal factor (a quintic
// Newton-Schulz iteration, ops/newtonschulz.ts), scaled by torch's shape rule. Per step and parameter:
//   B <- lerp(B, g, 1 - mu)                        momentum buffer (torch's lerp_, i.e. mu B + (1 - mu) g)
//   U <- nesterov ? lerp(g, B, mu) : B
//   O <- NS(U)                                     5 quintic steps, (a, b, c) = (3.4445, -4.7750, 2.0315)
//   p <- p (1 - lr wd) - adjust(lr, shape) O       adjust: lr sqrt(max(1, A/B)), or 0.2 lr sqrt(max(A, B))
// Muon is for the hidden layers' matrices: embeddings, the output head and 1-D parameters (biases, norms) go
// to AdamW, here inside the same optimizer through param groups with `useMuon: false` (muonParamGroups
// builds them from a model). Muon8bit keeps B as bnb's blockwise dynamic 8-bit (as the 8-bit states of the
// other optimizers: formats.ts), and hands its AdamW groups to AdamW8bit.
// Unlike the element-wise optimizers (define.ts), the update needs matmuls over the weight's own shape: each
// parameter steps in one program of its own (a jit per shape), not a bucket arena.
// With paramDtype "bf16" / "f16" (paramstorage.ts) Muon holds each weight in 16 bits, no f32 master copy: the
// step reads it as f32, and rounds the new value once on the way back (stochastically with bf16StochasticRound);
// p.data is a lazy decoding of that storage, as for the other optimizers' arenas.
import { z } from "zod";
import { Tensor } from "../dsl/tensor.ts";
import type { DType } from "../dsl/dtype.ts";
import { realize } from "../runtime/realize.ts";
import { allocateOn, type Storage } from "../runtime/storage.ts";
import { bufferNode } from "../runtime/realize.ts";
import { deviceTarget } from "../runtime/target.ts";
import type { Node } from "../dsl/node.ts";
import { counterRandom16 } from "../ops/bf16.ts";
import { checkParamStorageOn, paramStorageOptions, PARAM_STORAGES, type ParamStorageOptions } from "./paramstorage.ts";
import { device } from "../runtime/device.ts";
import { JitFunction } from "../runtime/jit.ts";
import { newtonSchulz, NS_COEFFICIENTS } from "../ops/newtonschulz.ts";
import { asBlocks } from "../ops/total.ts";
import { Parameter, type ParameterOwner } from "../nn/parameter.ts";
import type { Module } from "../nn/module.ts";
import { Linear } from "../nn/layers.ts";
import { formatZodError, nonneg, type Options } from "./config.ts";
import { BLOCK, FORMATS } from "./formats.ts";
import { AdamW, AdamW8bit } from "./adam.ts";
import type { Optimizer, OptimizerStateDict } from "./optimizer.ts";
import { loadMuonState, newMuonState, saveMuonState, type MuonState, type MuonStateOwner } from "./muon-statedict.ts";
import { blocksOf, type StepOptions } from "./types.ts";

const finite = z.number().finite();
const schema = z
  .object({
    lr: nonneg,
    weightDecay: nonneg,
    momentum: z.number().finite().min(0).max(1, "must be < 1").refine((m) => m < 1, "must be < 1"),
    nesterov: z.boolean(),
    nsSteps: z.number().int().min(1).max(99, "must be < 100 (torch's limit)"),
    nsCoefficients: z.tuple([finite, finite, finite]),
    eps: z.number().finite().positive(),
    /** torch's adjust_lr_fn: "original" (Keller's sqrt(max(1, A/B))) or "match_rms_adamw" (Moonshot's 0.2 sqrt(max(A, B))). */
    adjustLrFn: z.enum(["original", "match_rms_adamw"]),
    /**
     * How the weight's dims read as torch's [A, B] = [out, in]: "outIn" (torch's nn.Linear layout) or "inOut"
     * (octet's Linear, x @ W with W [in, out]: the shape rule then reads it transposed, as torch would).
     */
    weightLayout: z.enum(["outIn", "inOut"]),
    optimBits: z.union([z.literal(8), z.literal(32)]),
    min8bitSize: z.number().int().nonnegative(),
  })
  .strict();
export type MuonOptions = z.infer<typeof schema>;

const DEFAULTS: MuonOptions = { lr: 1e-3, weightDecay: 0.1, momentum: 0.95, nesterov: true, nsSteps: 5, nsCoefficients: [...NS_COEFFICIENTS], eps: 1e-7, adjustLrFn: "original", weightLayout: "outIn", optimBits: 32, min8bitSize: 4096 };

/** How the weights are stored, optimizer-wide (Optimizer's options: paramDtype, bf16StochasticRound, roundingSeed). */
type WeightOptions = { paramDtype?: ParamStorageOptions["paramDtype"]; bf16StochasticRound?: boolean; roundingSeed?: number };

/**
 * Where Muon's stochastic-rounding stream starts: element 2^31 + the weight's offset (its position in the Muon
 * groups, block-aligned as an arena would place it), so no element shares its (seed, step, element) key with
 * the AdamW groups' arena elements, which count from 0.
 */
export const MUON_STREAM_BASE = 2 ** 31;

/** A param group: Muon's options, or `useMuon: false` and AdamW's options (routed to AdamW / AdamW8bit). */
export type MuonParamGroup = { params: Parameter[]; useMuon?: boolean } & Options;

/** torch's _adjust_lr for a weight whose torch shape is [A, B]. */
export function adjustedLr(lr: number, fn: MuonOptions["adjustLrFn"], A: number, B: number): number {
  return fn === "original" ? lr * Math.sqrt(Math.max(1, A / B)) : lr * 0.2 * Math.sqrt(Math.max(A, B));
}

let mounsMade = 0;

export class Muon implements ParameterOwner {
  readonly ownerName: string;
  /** The Muon groups (options resolved); the AdamW groups live in `adamw`. */
  readonly paramGroups: ({ params: Parameter[] } & MuonOptions)[];
  /** The optimizer of the `useMuon: false` groups (embeddings, head, 1-D parameters), if any. */
  readonly adamw?: Optimizer;
  /** How the weights are stored (paramDtype, stochastic rounding), for the Muon and the AdamW groups alike. */
  readonly paramStorage: ParamStorageOptions;
  private state = new Map<Parameter, MuonState>();
  /**
   * 16-bit weights: the storage Muon keeps each in, and the decoding p.data was given (a p.data that is no
   * longer it, e.g. realized or replaced, is taken in again at the next step).
   */
  private held = new Map<Parameter, { storage: Storage; view?: Node }>();
  private fns = new Map<string, JitFunction<string, string>>();
  private tables?: { qmap: Tensor; thresholds: Tensor };
  private queue: Promise<unknown> = Promise.resolve();

  constructor(params: Parameter[] | MuonParamGroup[], opts: Partial<MuonOptions> & WeightOptions = {}, readonly className = "Muon", forced: Partial<MuonOptions> = {}) {
    this.ownerName = `${className} #${++mounsMade}`;
    const { paramDtype, bf16StochasticRound, roundingSeed, ...options } = opts ?? {};
    this.paramStorage = paramStorageOptions(className, { paramDtype, bf16StochasticRound, roundingSeed });
    const weights = paramDtype === undefined ? {} : { paramDtype, bf16StochasticRound, roundingSeed };
    const check = (o: Options, where: string) => {
      const r = schema.partial().safeParse(o);
      if (!r.success) throw new Error(formatZodError(`${className}${where}`, r.error));
    };
    check(options, "");
    if (!Array.isArray(params) || params.length === 0) throw new Error(`${className}: params must be a non-empty array of Parameters or param groups`);
    const groups: MuonParamGroup[] = params[0] instanceof Parameter ? [{ params: params as Parameter[] }] : (params as MuonParamGroup[]);
    this.paramGroups = [];
    const aux: { params: Parameter[] }[] = [];
    groups.forEach((g, i) => {
      const { params: ps, useMuon = true, ...rest } = g;
      if (!Array.isArray(ps) || ps.length === 0) throw new Error(`${className}: param group ${i} has no params`);
      if (!useMuon) return void aux.push({ params: ps, ...rest });
      check(rest, ` param group ${i}`);
      const bad = ps.find((p) => p.shape.length !== 2);
      if (bad)
        throw new Error(`${className}: param group ${i}: parameter ${bad.name ? `'${bad.name}'` : `#${bad.id}`} has shape [${bad.shape.join(", ")}]; Muon steps 2-D weights only (put it in a group with useMuon: false, e.g. with muonParamGroups(model))`);
      this.paramGroups.push({ params: ps, ...structuredClone({ ...DEFAULTS, ...options, ...rest, ...forced }) });
    });
    if (aux.length) this.adamw = forced.optimBits === 8 ? new AdamW8bit(aux, weights) : new AdamW(aux, weights);
    for (const g of this.paramGroups) for (const p of g.params) p.claim(this);
  }

  private released = false;

  /**
   * Gives the parameters up, the AdamW groups' too (their values stay where they are), as Optimizer.release:
   * another optimizer may claim them, and this one refuses to step, load or snapshot afterwards.
   */
  release(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.release(this);
    this.adamw?.release();
    this.released = true;
  }

  dataReplaced(p: Parameter): void {
    // f32: Muon holds no copy of the values, the next step reads p.data as it is. 16-bit: the next step takes
    // the new values in (rounded to nearest), as an arena adopts a replaced Parameter.data.
    const h = this.held.get(p);
    if (h) h.view = undefined;
  }

  /**
   * One step of every parameter with a gradient. As Optimizer.step: gradients are taken at the call, and
   * `with` tensors are realized in the same program as every gradient (the AdamW groups' too), before the update.
   */
  step(options: StepOptions = {}): Promise<void> {
    const extra = options.with ?? [];
    const withInto = options.withInto ?? [];
    const mine = this.paramGroups.flatMap((g) => g.params.map((p) => ({ p, g, grad: p.grad })));
    const grads = mine.flatMap((x) => (x.grad ? [x.grad] : []));
    const auxParams = this.adamw?.paramGroups.flatMap((g) => g.params) ?? [];
    const auxGrads = auxParams.map((p) => p.grad); // taken now, as ours
    return this.after(async () => {
      this.checkFormatsKept(mine);
      if (this.adamw) {
        // The AdamW groups' step realizes our gradients and the `with` tensors in its own program (one forward
        // and backward), after the steps called before this one, with the gradients of this call.
        const now = auxParams.map((p) => p.grad);
        auxParams.forEach((p, i) => (p.grad = auxGrads[i]));
        const aux = this.adamw.step({ with: [...extra, ...grads], withInto: [...withInto] });
        auxParams.forEach((p, i) => (p.grad = now[i]));
        await aux;
      } else await realize([...extra, ...grads], { into: [...withInto] });
      for (const { p, g, grad } of mine) if (grad) await this.stepOne(p, g, grad);
    });
  }

  /**
   * A weight's momentum keeps the format (8-bit or f32) of its first step: a group's optimBits or min8bitSize
   * changed since, asking for the other one, is refused before anything steps (the momentum is not converted).
   */
  private checkFormatsKept(items: { p: Parameter; g: MuonOptions }[]): void {
    for (const { p, g } of items) {
      const s = this.state.get(p);
      const want = bitsFor(p, g);
      if (s && s.bits !== want)
        throw new Error(
          `${this.ownerName}.step: parameter ${p.name ? `'${p.name}'` : `#${p.id}`} keeps its momentum in ${s.bits === 8 ? "8 bits" : "f32"} since its first step, ` +
            `but its group's optimBits ${g.optimBits} and min8bitSize ${g.min8bitSize} now ask for ${want === 8 ? "8 bits" : "f32"}; Muon does not convert momentum between formats: restore the options or create a new optimizer. Nothing was stepped`,
        );
    }
  }

  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = setToNone || !p.grad ? null : Tensor.const(0, p.grad.dtype).expand(p.grad.shape);
    this.adamw?.zeroGrad(setToNone);
  }

  /**
   * A snapshot of the momentum buffers (f32, or Muon8bit's codes and absmax) and step counts, in octet's state
   * dict layout, after every step called before it; the AdamW groups' state follows, numbered after the Muon
   * groups' parameters (muon-statedict.ts).
   */
  stateDict(): Promise<OptimizerStateDict> {
    return this.after(() => saveMuonState(this.stateOwner()));
  }

  /** Restores a state dict exactly; refuses (changing nothing) one that does not match this optimizer. */
  loadStateDict(sd: OptimizerStateDict): Promise<void> {
    return this.after(() => loadMuonState(this.stateOwner(), sd));
  }

  private stateOwner(): MuonStateOwner {
    return {
      className: this.className,
      paramGroups: this.paramGroups,
      adamw: this.adamw,
      state: this.state,
      bitsOf: (p, g) => bitsFor(p, this.paramGroups[g]),
      groupSchema: schema.partial(),
    };
  }

  /** Runs after every call queued before it (steps, loads, snapshots run in call order). */
  private after<T>(f: () => Promise<T>): Promise<T> {
    if (this.released) return Promise.reject(new Error(`${this.ownerName}: this optimizer was released (release()); its parameters may belong to another optimizer now`));
    const run = this.queue.then(f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** GPU bytes of the state: Muon's momentum buffers (4 or 1 + 4/256 bytes per element) and the AdamW groups'. */
  stateBytes(): number {
    let total = this.adamw?.stateBytes() ?? 0;
    for (const s of this.state.values()) for (const st of [s.buf, s.codes, s.absmax]) if (st) total += st.allocatedBytes;
    return total;
  }

  /** State bytes without padding (bitsandbytes' count, as Optimizer.logicalStateBytes): the momentum and the AdamW groups'. */
  logicalStateBytes(): number {
    let total = this.adamw?.logicalStateBytes() ?? 0;
    for (const [p, s] of this.state) total += s.bits === 8 ? p.numel + 4 * blocksOf(p.numel, BLOCK) : 4 * p.numel;
    return total;
  }

  private async stepOne(p: Parameter, hp: MuonOptions, grad: Tensor): Promise<void> {
    let s = this.state.get(p);
    if (!s) this.state.set(p, (s = newMuonState(await device(), p.numel, bitsFor(p, hp))));
    const weight = await this.weightStorage(p);
    const [rows, cols] = p.shape;
    const [A, B] = hp.weightLayout === "outIn" ? [rows, cols] : [cols, rows];
    const fn = this.kernel(rows, cols, hp, s.bits);
    const uniforms: Record<string, number> = { decay: Math.fround(1 - Math.fround(hp.lr * hp.weightDecay)), lr_adj: adjustedLr(hp.lr, hp.adjustLrFn, A, B), mu: hp.momentum, one_minus_mu: 1 - hp.momentum };
    if (this.paramStorage.bf16StochasticRound) Object.assign(uniforms, { sr_seed: this.paramStorage.roundingSeed, sr_step: s.step + 1, sr_base: MUON_STREAM_BASE + this.streamOffset(p) });
    const state = s.bits === 8 ? [s.codes!, s.absmax!] : [s.buf!];
    const tables = s.bits === 8 ? await this.lookupTables() : [];
    await fn.runStorages([weight, storage(grad), ...state, ...tables.map(storage)], uniforms);
    s.step++;
    // The step wrote the 16-bit storage in place: p.data decodes it again (a decoding built before is stale).
    if (this.held.has(p)) this.viewHeld(p);
  }

  /**
   * The storage the step updates in place: p.data's own (f32), or the 16-bit storage Muon holds the weight in,
   * (re)filled from p.data, rounded to nearest, at the first step and after p.data was replaced or realized.
   */
  private async weightStorage(p: Parameter): Promise<Storage> {
    const ps = PARAM_STORAGES[this.paramStorage.paramDtype];
    if (ps.name === "f32") {
      await realize([p.data]);
      return storage(p.data);
    }
    const h = this.held.get(p);
    if (h && p.data.node === h.view) return h.storage;
    checkParamStorageOn(this.className, this.paramStorage, deviceTarget());
    const st = h?.storage ?? allocateOn(await device(), ps.storage, p.numel, "parameters", true, true, "exact");
    await realize([ps.write(p.data.cast("f32"))], { into: [st] });
    st.bump(`${this.className} (taking in parameter ${p.name ? `'${p.name}'` : `#${p.id}`})`);
    this.held.set(p, { storage: st });
    this.viewHeld(p);
    return st;
  }

  /** Makes p.data the f32 decoding of the 16-bit storage Muon holds it in. */
  private viewHeld(p: Parameter): void {
    const h = this.held.get(p)!;
    p.data.node = PARAM_STORAGES[this.paramStorage.paramDtype].read(new Tensor(bufferNode(h.storage, p.shape))).node;
    h.view = p.data.node;
  }

  /** The weight's first element in Muon's rounding stream: its position in the Muon groups, in 256-blocks. */
  private streamOffset(p: Parameter): number {
    let at = 0;
    for (const q of this.paramGroups.flatMap((g) => g.params)) {
      if (q === p) return at;
      at += blocksOf(q.numel, BLOCK) * BLOCK;
    }
    throw new Error(`octet: ${this.ownerName}: parameter #${p.id} is not in its Muon groups`);
  }

  private async lookupTables(): Promise<Tensor[]> {
    if (!this.tables) {
      const t = FORMATS.dynamic8.tables(true);
      const { tensor } = await import("../runtime/realize.ts");
      this.tables = { qmap: await tensor(t.qmap.data, [256], { dtype: "f32" }), thresholds: await tensor(t.thresholds.data, [256], { dtype: "u32" }) };
    }
    return [this.tables.qmap, this.tables.thresholds];
  }

  /** The traced step of one [rows, cols] weight (cached by shape and the options that change the graph). */
  private kernel(rows: number, cols: number, hp: MuonOptions, bits: 8 | 32): JitFunction<string, string> {
    const weights = this.paramStorage;
    const ps = PARAM_STORAGES[weights.paramDtype];
    const key = `${rows}x${cols}:${bits}:${hp.nesterov}:${hp.nsSteps}:${hp.nsCoefficients.join(",")}:${hp.eps}:${ps.name}:${weights.bf16StochasticRound}`;
    let fn = this.fns.get(key);
    if (fn) return fn;
    const n = rows * cols;
    const nb = blocksOf(n, BLOCK);
    const shape = [rows, cols];
    const pSpec = { shape, dtype: ps.storage };
    const specs: Record<string, { shape: number[]; dtype?: DType }> =
      bits === 8
        ? { p: pSpec, g: { shape }, codes: { shape: [nb, BLOCK], dtype: "u8" }, absmax: { shape: [nb, 1] }, qmap: { shape: [256] }, thresholds: { shape: [256], dtype: "u32" } }
        : { p: pSpec, g: { shape }, buf: { shape } };
    const inPlace: Record<string, string> = bits === 8 ? { p: "p", codes: "codes", absmax: "absmax" } : { p: "p", buf: "buf" };
    fn = new JitFunction<string, string>(
      `muon${bits === 8 ? "8bit" : ""}_${rows}x${cols}${ps.name === "f32" ? "" : `_${ps.name}${weights.bf16StochasticRound ? "_sr" : ""}`}`,
      specs,
      (x): Record<string, Tensor> => {
        const mu = Tensor.uniform("mu");
        const f8 = FORMATS.dynamic8;
        // The buffer as f32 [rows, cols]: 8-bit codes are dequantized blockwise, then cut to the weight's shape.
        const buf0 = bits === 8 ? fromBlocks(f8.read({ codes: x.codes, absmax: x.absmax, qmap: x.qmap }, true).contiguous(), n).reshape(shape) : x.buf;
        const buf = buf0.add(x.g.sub(buf0).mul(Tensor.uniform("one_minus_mu"))).named("momentum"); // lerp(B, g, 1 - mu)
        const update = hp.nesterov ? x.g.add(buf.sub(x.g).mul(mu)).named("nesterov") : buf; //    lerp(g, B, mu)
        const O = newtonSchulz(update, hp.nsSteps, hp.nsCoefficients, hp.eps).named("orthogonal");
        const p1 = ps.read(x.p).mul(Tensor.uniform("decay")).sub(O.mul(Tensor.uniform("lr_adj"))).named("p_new");
        const p = ps.name === "f32" ? p1 : ps.write(p1, weights.bf16StochasticRound ? roundingBits(shape) : undefined);
        if (bits === 32) return { p, buf };
        const { codes, absmax } = f8.write(asBlocks(buf).contiguous(), { qmap: x.qmap, thresholds: x.thresholds }, true);
        return { p, codes, absmax };
      },
      { inPlace },
    );
    this.fns.set(key, fn);
    return fn;
  }
}

/**
 * 16 random bits per element of a [rows, cols] weight for stochastic rounding: the counter stream of paramstorage.ts
 * keyed by (seed, the weight's step, sr_base + its flat index).
 */
function roundingBits(shape: number[]): Tensor {
  const element = Tensor.iota(shape, 0, "u32").mul(shape[1]).add(Tensor.iota(shape, 1, "u32")).add(Tensor.uniform("sr_base", "u32"));
  return counterRandom16(Tensor.uniform("sr_seed", "u32"), Tensor.uniform("sr_step", "u32"), element).named("rounding_bits");
}

/** Muon8bit keeps a weight's momentum in 8 bits from min8bitSize elements on (bnb's rule), f32 below. */
function bitsFor(p: Parameter, hp: MuonOptions): 8 | 32 {
  return hp.optimBits === 8 && p.numel >= hp.min8bitSize ? 8 : 32;
}

/** The first n elements of a [blocks, 256] tensor, flat. */
function fromBlocks(x: Tensor, n: number): Tensor {
  const flat = x.reshape([x.numel]);
  return n === x.numel ? flat : flat.gather(Tensor.iota([n], 0, "u32"));
}

function storage(t: Tensor): Storage {
  if (t.node.op !== "buffer") throw new Error(`octet: Muon: ${t} is not realized`);
  return (t.node.arg as { storage: Storage }).storage;
}

/** Muon with its momentum buffers in bnb's blockwise dynamic 8-bit (tensors below min8bitSize keep f32), AdamW8bit for the rest. */
export class Muon8bit extends Muon {
  constructor(params: Parameter[] | MuonParamGroup[], options: Partial<MuonOptions> & WeightOptions = {}) {
    super(params, options, "Muon8bit", { optimBits: 8 });
  }
}

/**
 * Splits a model's parameters for Muon as torch's docs and Keller Jordan's recipe do: the 2-D weights of its
 * Linear layers (the hidden matrices) step with Muon, read in octet's [in, out] layout; embedding tables,
 * position tables, the output head (a Linear under a field named `head` / `lm_head`) and every 1-D
 * parameter (biases, norms) step with AdamW (`adamw`: its options, e.g. { lr: 3e-3 }).
 */
export function muonParamGroups(model: Module, opts: { muon?: Partial<MuonOptions>; adamw?: Options } = {}): MuonParamGroup[] {
  const hidden = new Set<Parameter>();
  const isHead = (name: string) => /(^|\.)(lm_)?head\.weight$/.test(name);
  const linearWeights = new Set(model.modules().flatMap((m) => (m instanceof Linear ? [m.weight] : [])));
  const named = model.namedParameters();
  for (const [name, p] of named) if (linearWeights.has(p) && p.shape.length === 2 && !isHead(name)) hidden.add(p);
  const rest = named.map(([, p]) => p).filter((p) => !hidden.has(p));
  const groups: MuonParamGroup[] = [];
  if (hidden.size) groups.push({ params: [...hidden], weightLayout: "inOut", ...opts.muon });
  if (rest.length) groups.push({ params: rest, useMuon: false, ...opts.adamw });
  return groups;
}
