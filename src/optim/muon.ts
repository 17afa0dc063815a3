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
import { z } from "zod";
import { Tensor } from "../dsl/tensor.ts";
import { realize } from "../runtime/realize.ts";
import type { Storage } from "../runtime/storage.ts";
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
  private state = new Map<Parameter, MuonState>();
  private fns = new Map<string, JitFunction<string, string>>();
  private tables?: { qmap: Tensor; thresholds: Tensor };
  private queue: Promise<unknown> = Promise.resolve();

  constructor(params: Parameter[] | MuonParamGroup[], options: Partial<MuonOptions> = {}, readonly className = "Muon", forced: Partial<MuonOptions> = {}) {
    this.ownerName = `${className} #${++mounsMade}`;
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
    if (aux.length) this.adamw = forced.optimBits === 8 ? new AdamW8bit(aux) : new AdamW(aux);
    for (const g of this.paramGroups) for (const p of g.params) p.claim(this);
  }

  dataReplaced(): void {
    // Muon holds no copy of the values: the next step reads p.data as it is.
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
    await realize([p.data]);
    const [rows, cols] = p.shape;
    const [A, B] = hp.weightLayout === "outIn" ? [rows, cols] : [cols, rows];
    const fn = this.kernel(rows, cols, hp, s.bits);
    const uniforms = { decay: Math.fround(1 - Math.fround(hp.lr * hp.weightDecay)), lr_adj: adjustedLr(hp.lr, hp.adjustLrFn, A, B), mu: hp.momentum, one_minus_mu: 1 - hp.momentum };
    const state = s.bits === 8 ? [s.codes!, s.absmax!] : [s.buf!];
    const tables = s.bits === 8 ? await this.lookupTables() : [];
    await fn.runStorages([storage(p.data), storage(grad), ...state, ...tables.map(storage)], uniforms);
    s.step++;
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
    const key = `${rows}x${cols}:${bits}:${hp.nesterov}:${hp.nsSteps}:${hp.nsCoefficients.join(",")}:${hp.eps}`;
    let fn = this.fns.get(key);
    if (fn) return fn;
    const n = rows * cols;
    const nb = blocksOf(n, BLOCK);
    const shape = [rows, cols];
    const specs: Record<string, { shape: number[]; dtype?: "f32" | "u8" | "u32" }> =
      bits === 8
        ? { p: { shape }, g: { shape }, codes: { shape: [nb, BLOCK], dtype: "u8" }, absmax: { shape: [nb, 1] }, qmap: { shape: [256] }, thresholds: { shape: [256], dtype: "u32" } }
        : { p: { shape }, g: { shape }, buf: { shape } };
    const inPlace: Record<string, string> = bits === 8 ? { p: "p", codes: "codes", absmax: "absmax" } : { p: "p", buf: "buf" };
    fn = new JitFunction<string, string>(
      `muon${bits === 8 ? "8bit" : ""}_${rows}x${cols}`,
      specs,
      (x): Record<string, Tensor> => {
        const mu = Tensor.uniform("mu");
        const f8 = FORMATS.dynamic8;
        // The buffer as f32 [rows, cols]: 8-bit codes are dequantized blockwise, then cut to the weight's shape.
        const buf0 = bits === 8 ? fromBlocks(f8.read({ codes: x.codes, absmax: x.absmax, qmap: x.qmap }, true).contiguous(), n).reshape(shape) : x.buf;
        const buf = buf0.add(x.g.sub(buf0).mul(Tensor.uniform("one_minus_mu"))).named("momentum"); // lerp(B, g, 1 - mu)
        const update = hp.nesterov ? x.g.add(buf.sub(x.g).mul(mu)).named("nesterov") : buf; //    lerp(g, B, mu)
        const O = newtonSchulz(update, hp.nsSteps, hp.nsCoefficients, hp.eps).named("orthogonal");
        const p = x.p.mul(Tensor.uniform("decay")).sub(O.mul(Tensor.uniform("lr_adj"))).named("p_new");
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
  constructor(params: Parameter[] | MuonParamGroup[], options: Partial<MuonOptions> = {}) {
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
