// Independent plain-TS binary32 reference of every bitsandbytes update rule, 32-bit and 8-bit blockwise
// (bnb-algorithms.md §2.3, §3.1-3.8, §3.11), following the arithmetic contract of §9: every operation is one
// binary32 rounding (fl = Math.fround) in the operand order of bnb's CUDA kernels (kernels.cu @95f9af30), no FMA,
// correctly rounded division and sqrt, β^t as a float64 product of the f32 β. It is the oracle for the GPU kernels:
// it uses the brute-force quantizer of quant.ts, never src/optim/encoder.ts, and nothing from the DSL.
//
// Usage: build a zeroed state with createState, then call one rule per step with step = 1, 2, ...; p and the state
// are updated in place, exactly as one fused kernel launch would.
//
// Choices where bnb leaves room (details beside the code):
// - 8-bit padded lanes (§2.3 step 1): the last block's lanes past n are loaded as g = 0, p = 0, state1 byte 128,
//   state2 byte 0 (AdEMAMix m2 byte 128) and DO take part in the new absmax, as in bnb's 256-lane block reduction.
//   They are never stored. This only changes a result when every real |s| of the last block is below about
//   5.5e-7 · absmax_old (e.g. a last block whose states all became 0).
// - The running max for absmax starts at 0 and skips NaN (CUDA: -FLT_MAX and fmaxf; differs only if all lanes are NaN).
// - AdEMAMix 8-bit keeps m1 and m2 absmax in two separate rows of absmax1 (row 1 at offset B), not bnb's aliased
//   index ⌊(n + 256k)/256⌋ (§3.8).
// - LAMB/LARS trust ratio (max_unorm) exists only in 32-bit (§3.7); the sums ‖p‖² and Σu² are accumulated in float64
//   and rounded once (bnb's reduction order is unspecified). With bits = 8, LAMB is Adam8bit and LARS is momentum
//   8-bit, max_unorm ignored, as on bnb's CPU/Triton backends.
// - skip_zeros is not modelled (broken in bnb's 1-state 8-bit kernel, §3.10; octet refuses it). Percentile clipping
//   (gnorm_scale, removed in bnb 0.50.0) is clipping.ts: scale the gradient with it, then call a rule here.

import { SIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_MAP } from "../../src/optim/maps.ts";
import { BLOCK, dequantizeCode, fl, quantizeState } from "./quant.ts";

export type Bits = 8 | 32;

/** 32-bit states. AdEMAMix's state1 holds m1 then m2 (length 2n), like bnb's [2, *p.shape]. */
export interface State32 {
  state1: Float32Array;
  state2?: Float32Array;
}

/** 8-bit blockwise states (§2.2): codes, plus float32 absmax per 256-block (AdEMAMix: state1 2n codes, absmax1 2B). */
export interface State8 {
  state1: Uint8Array;
  absmax1: Float32Array;
  state2?: Uint8Array;
  absmax2?: Float32Array;
}

export type OptimState = State32 | State8;

export interface StepArgs<H> {
  p: Float32Array;
  g: Float32Array;
  state: OptimState;
  /** bnb's state["step"] after its increment: 1 on the first update. */
  step: number;
  hp: H;
  bits: Bits;
  /**
   * The 8-bit code maps (default: bnb's dynamic maps, signed for state1 / AdEMAMix m2, unsigned for state2). Any
   * strictly increasing 256-entry map works: the search is the same nearest-code rule with f32 midpoints (§1.3).
   */
  maps?: Maps;
  /** An 8-bit format that is not a map search (e.g. companded.ts): how one code decodes and one state encodes. */
  codec?: Codec;
}

/** One code <-> one state value of a non-map 8-bit format, and the code a padded lane loads (its code of 0). */
export interface Codec {
  decode(q: number, absmax: number, signed: boolean): number;
  encode(s: number, absmax: number, signed: boolean): number;
  zeroCode(signed: boolean): number;
}

export interface Maps {
  signed: Float32Array;
  unsigned: Float32Array;
}
const DYNAMIC_MAPS: Maps = { signed: SIGNED_DYNAMIC_MAP, unsigned: UNSIGNED_DYNAMIC_MAP };

export interface StepInfo {
  /** The LAMB/LARS trust ratio min(1, maxUnorm·‖p‖/‖u‖) applied to the step; 1 when maxUnorm is off. */
  updateScale: number;
}

export interface AdamHp {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  /** > 0 turns on LAMB's trust ratio (32-bit only). */
  maxUnorm?: number;
}
export interface MomentumHp {
  lr: number;
  momentum: number;
  weightDecay: number;
  /** > 0 turns on LARS's trust ratio (32-bit only). */
  maxUnorm?: number;
  /** Only enters the trust ratio's threshold; bnb passes 0 for SGD and LARS. */
  eps?: number;
}
export interface RMSpropHp {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  /** > 0 turns on bnb's 32-bit trust ratio (kPreconditionOptimizer32bit1State, RMSPROP case). */
  maxUnorm?: number;
}
export interface AdagradHp {
  lr: number;
  eps: number;
  weightDecay: number;
}
export interface LionHp {
  lr: number;
  betas: readonly [number, number];
  weightDecay: number;
}
export interface AdEMAMixHp {
  lr: number;
  betas: readonly [number, number, number];
  alpha: number;
  eps: number;
  weightDecay: number;
  tAlpha?: number;
  tBeta3?: number;
}

/** bitsandbytes' defaults per class (§3.2-3.8). SGD and LARS have no default lr in bnb; 0.01 is the tests' value. */
export const DEFAULTS = {
  adam: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
  adamw: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 },
  lamb: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maxUnorm: 1.0 },
  momentum: { lr: 0.01, momentum: 0.9, weightDecay: 0 },
  lars: { lr: 0.01, momentum: 0.9, weightDecay: 0, maxUnorm: 0.02 },
  rmsprop: { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0 },
  adagrad: { lr: 1e-2, eps: 1e-10, weightDecay: 0 },
  lion: { lr: 1e-4, betas: [0.9, 0.99], weightDecay: 0 },
  ademamix: { lr: 1e-3, betas: [0.9, 0.999, 0.9999], alpha: 5, eps: 1e-8, weightDecay: 1e-2 },
} as const satisfies {
  adam: AdamHp;
  adamw: AdamHp;
  lamb: AdamHp;
  momentum: MomentumHp;
  lars: MomentumHp;
  rmsprop: RMSpropHp;
  adagrad: AdagradHp;
  lion: LionHp;
  ademamix: AdEMAMixHp;
};

export type OptimizerName = keyof typeof DEFAULTS;

/** Zeroed state as bnb allocates it (§2.2): 2 states for Adam/LAMB/AdEMAMix, AdEMAMix's state1 doubled. */
export function createState(name: OptimizerName, n: number, bits: Bits): OptimState {
  const twoStates = name === "adam" || name === "adamw" || name === "lamb" || name === "ademamix";
  const rows = name === "ademamix" ? 2 : 1;
  if (bits === 32) {
    return { state1: new Float32Array(rows * n), state2: twoStates ? new Float32Array(n) : undefined };
  }
  const blocks = Math.ceil(n / BLOCK);
  return {
    state1: new Uint8Array(rows * n),
    absmax1: new Float32Array(rows * blocks),
    state2: twoStates ? new Uint8Array(n) : undefined,
    absmax2: twoStates ? new Float32Array(blocks) : undefined,
  };
}

// ---- host-side scalars (§3.1: hyper-parameters are float32) ----

/** β^t: a float64 loop of t multiplications by the float32 β, rounded once (§9). */
export function powBeta(beta: number, t: number): number {
  const b = fl(beta);
  let x = 1;
  for (let i = 0; i < t; i++) x *= b;
  return fl(x);
}

/** c1 = fl(1 - β1^t), c2 = fl(√fl(1 - β2^t)) (§3.1). */
function corrections(b1: number, b2: number, t: number): { c1: number; c2: number } {
  return { c1: fl(1 - powBeta(b1, t)), c2: fl(Math.sqrt(fl(1 - powBeta(b2, t)))) };
}

/**
 * bnb's trust ratio (§3.7): N = fl(√unorm); with limit = maxUnorm·‖p‖ (+ eps for 1-state kernels), the step is
 * scaled by limit/N when N > limit, else 1. It only ever shrinks the step.
 */
export function updateScale(unorm: number, paramNorm: number, maxUnorm: number, eps = 0): number {
  const n = fl(Math.sqrt(fl(unorm)));
  const limit = fl(fl(fl(maxUnorm) * fl(paramNorm)) + fl(eps));
  return n > limit ? fl(limit / n) : 1;
}

/** ‖p‖₂ (torch.norm(p.float())), accumulated in float64 and rounded once. */
function norm(p: Float32Array): number {
  let s = 0;
  for (const v of p) s += v * v;
  return fl(Math.sqrt(s));
}

/** C's sgn: (0 < x) - (x < 0), so sgn(±0) = 0 and sgn(NaN) = 0 (§3.6). */
const sgn = (x: number): number => (x > 0 ? 1 : 0) - (x < 0 ? 1 : 0);

// ---- drivers: one loop per storage kind; the rules below only see f32 registers ----

/** One lane's registers: gradient, parameter and the dequantized states (s3 = AdEMAMix's m2). */
interface Lane {
  g: number;
  p: number;
  s1: number;
  s2: number;
  s3: number;
}
type Rule = (l: Lane) => void;

const is8bit = (s: OptimState): s is State8 => s.state1 instanceof Uint8Array;

function checkArgs(a: StepArgs<unknown>, rows: number, twoStates: boolean): void {
  const n = a.p.length;
  if (a.g.length !== n) throw new Error(`reference: g has ${a.g.length} elements, p has ${n}`);
  if (!Number.isInteger(a.step) || a.step < 1) throw new Error(`reference: step must be 1, 2, ...; got ${a.step}`);
  if (is8bit(a.state) !== (a.bits === 8)) throw new Error(`reference: bits = ${a.bits} but the state is the other kind`);
  if (a.state.state1.length !== rows * n) throw new Error(`reference: state1 must hold ${rows}·${n} values`);
  if (twoStates && a.state.state2?.length !== n) throw new Error("reference: this optimizer needs state2");
}

/** 32-bit kernels (kOptimizer32bit{1,2}State): each element on its own. */
function run32(p: Float32Array, g: Float32Array, st: State32, rule: Rule): void {
  const n = p.length;
  const twoRows = st.state1.length === 2 * n;
  const l: Lane = { g: 0, p: 0, s1: 0, s2: 0, s3: 0 };
  for (let i = 0; i < n; i++) {
    l.g = g[i];
    l.p = p[i];
    l.s1 = st.state1[i];
    l.s2 = st.state2 ? st.state2[i] : 0;
    l.s3 = twoRows ? st.state1[n + i] : 0;
    rule(l);
    p[i] = l.p;
    st.state1[i] = l.s1;
    if (st.state2) st.state2[i] = l.s2;
    if (twoRows) st.state1[n + i] = l.s3;
  }
}

/** One 8-bit state as the fused kernel sees it: which codes, which absmax row, which map, what a padded lane loads. */
interface Slot {
  codes: Uint8Array;
  absmax: Float32Array;
  map: Float32Array;
  signed: boolean;
  /** first code of this state in `codes` (AdEMAMix m2: n) and first absmax of its row (m2: B) */
  codeOffset: number;
  rowOffset: number;
  padCode: number;
  codec?: Codec;
  read: (l: Lane) => number;
  write: (l: Lane, v: number) => void;
}

/**
 * The fused blockwise kernel (§2.3, §3.11), one 256-block at a time: load (padding the last block), dequantize with
 * the old absmax, run the rule on all 256 lanes, take the new absmax over all lanes, store p from the unquantized
 * states, then re-quantize fl(s/absmax_new) with the sign fix for signed states.
 */
function run8(p: Float32Array, g: Float32Array, slots: Slot[], rule: Rule): void {
  const n = p.length;
  const blocks = Math.ceil(n / BLOCK);
  const lanes: Lane[] = Array.from({ length: BLOCK }, () => ({ g: 0, p: 0, s1: 0, s2: 0, s3: 0 }));
  for (let b = 0; b < blocks; b++) {
    for (let j = 0; j < BLOCK; j++) {
      const i = b * BLOCK + j;
      const valid = i < n;
      const l = lanes[j];
      l.g = valid ? g[i] : 0;
      l.p = valid ? p[i] : 0;
      for (const s of slots) {
        const q = valid ? s.codes[s.codeOffset + i] : s.padCode;
        const absmax = s.absmax[s.rowOffset + b];
        s.write(l, s.codec ? s.codec.decode(q, absmax, s.signed) : dequantizeCode(q, absmax, s.map));
      }
      rule(l);
    }
    for (const s of slots) {
      let absmax = 0;
      for (const l of lanes) absmax = Math.max(absmax, Math.abs(s.read(l)) || 0); // padded lanes included; NaN skipped
      s.absmax[s.rowOffset + b] = absmax;
      for (let j = 0; j < BLOCK && b * BLOCK + j < n; j++) {
        const v = s.read(lanes[j]);
        s.codes[s.codeOffset + b * BLOCK + j] = s.codec ? s.codec.encode(v, absmax, s.signed) : quantizeState(v, absmax, s.map, s.signed);
      }
    }
    for (let j = 0; j < BLOCK && b * BLOCK + j < n; j++) p[b * BLOCK + j] = lanes[j].p;
  }
}

const slot1 = (st: State8, maps: Maps): Slot => ({
  codes: st.state1,
  absmax: st.absmax1,
  map: maps.signed,
  signed: true,
  codeOffset: 0,
  rowOffset: 0,
  padCode: 128,
  read: (l) => l.s1,
  write: (l, v) => {
    l.s1 = v;
  },
});
const slot2 = (st: State8, maps: Maps): Slot => {
  if (!st.state2 || !st.absmax2) throw new Error("reference: this optimizer needs state2 and absmax2");
  return {
    codes: st.state2,
    absmax: st.absmax2,
    map: maps.unsigned,
    signed: false,
    codeOffset: 0,
    rowOffset: 0,
    padCode: 0,
    read: (l) => l.s2,
    write: (l, v) => {
      l.s2 = v;
    },
  };
};
/** AdEMAMix's m2: second half of state1's codes, second row of absmax1, signed map, padded with 128. */
const slot3 = (st: State8, n: number, maps: Maps): Slot => ({
  ...slot1(st, maps),
  codeOffset: n,
  rowOffset: Math.ceil(n / BLOCK),
  read: (l) => l.s3,
  write: (l, v) => {
    l.s3 = v;
  },
});

function run(a: StepArgs<unknown>, rule32: Rule, rule8: Rule, rows: 1 | 2, twoStates: boolean): void {
  checkArgs(a, rows, twoStates);
  if (!is8bit(a.state)) return run32(a.p, a.g, a.state, rule32);
  const maps = a.maps ?? DYNAMIC_MAPS;
  const slots = [slot1(a.state, maps)];
  if (twoStates) slots.push(slot2(a.state, maps));
  if (rows === 2) slots.push(slot3(a.state, a.p.length, maps));
  if (a.codec) for (const s of slots) Object.assign(s, { codec: a.codec, padCode: a.codec.zeroCode(s.signed) });
  run8(a.p, a.g, slots, rule8);
}

// ---- the update rules ----

/**
 * Adam / AdamW (one kernel, §3.2): decoupled decay p·(1 - lr·wd) after the step. 8-bit: v's product associates as
 * ((1-β2)·g)·g, and a NaN/Inf gradient zeroes m and v and leaves p alone (§3.2 guard). With maxUnorm > 0 (32-bit)
 * this is LAMB.
 */
export function adam(a: StepArgs<AdamHp>): StepInfo {
  const lr = fl(a.hp.lr);
  const [b1, b2] = [fl(a.hp.betas[0]), fl(a.hp.betas[1])];
  const [a1, a2] = [fl(1 - b1), fl(1 - b2)];
  const eps = fl(a.hp.eps);
  const wd = fl(a.hp.weightDecay);
  const { c1, c2 } = corrections(b1, b2, a.step);
  const stepSize = fl(fl(-lr * c2) / c1);
  const epsC2 = fl(eps * c2);
  const decay = fl(1 - fl(lr * wd));
  const maxUnorm = a.hp.maxUnorm ?? 0;

  let scale = 1;
  if (maxUnorm > 0 && a.bits === 32) {
    checkArgs(a, 1, true);
    const st = a.state as State32;
    const s2 = st.state2 as Float32Array;
    // kPreconditionOptimizer32bit2State: u = m̂/(√v̂ + ε) from the would-be new states, with bias corrections
    // applied as multiplications by fl(1/c).
    const inv1 = fl(1 / fl(1 - powBeta(b1, a.step)));
    const inv2 = fl(1 / fl(1 - powBeta(b2, a.step)));
    let unorm = 0;
    for (let i = 0; i < a.p.length; i++) {
      const g = a.g[i];
      const m = fl(fl(fl(st.state1[i] * b1) + fl(a1 * g)) * inv1);
      const v = fl(fl(fl(s2[i] * b2) + fl(a2 * fl(g * g))) * inv2);
      const u = fl(m / fl(fl(Math.sqrt(v)) + eps));
      unorm += fl(u * u);
    }
    scale = updateScale(unorm, norm(a.p), maxUnorm);
  }
  const scaledStep = fl(scale * stepSize);

  const rule32: Rule = (l) => {
    l.s1 = fl(fl(l.s1 * b1) + fl(a1 * l.g));
    l.s2 = fl(fl(l.s2 * b2) + fl(a2 * fl(l.g * l.g)));
    l.p = fl(l.p + fl(scaledStep * fl(l.s1 / fl(fl(Math.sqrt(l.s2)) + epsC2))));
    if (wd > 0) l.p = fl(l.p * decay);
  };
  const rule8: Rule = (l) => {
    if (!Number.isFinite(l.g)) {
      l.s1 = 0;
      l.s2 = 0;
      return;
    }
    l.s2 = fl(fl(l.s2 * b2) + fl(fl(a2 * l.g) * l.g));
    l.s1 = fl(fl(l.s1 * b1) + fl(a1 * l.g));
    l.p = fl(l.p + fl(stepSize * fl(l.s1 / fl(fl(Math.sqrt(l.s2)) + epsC2))));
    if (wd > 0) l.p = fl(l.p * decay);
  };
  run(a, rule32, rule8, 1, true);
  return { updateScale: scale };
}

/** LAMB (§3.7): the Adam kernel with maxUnorm (default 1.0) in 32-bit; plain Adam8bit with bits = 8. */
export function lamb(a: StepArgs<AdamHp>): StepInfo {
  return adam({ ...a, hp: { ...a.hp, maxUnorm: a.hp.maxUnorm ?? DEFAULTS.lamb.maxUnorm } });
}

/**
 * Momentum SGD (§3.3): coupled decay g ← g + p·wd; buf = g at t = 1 (the stored state is ignored), else
 * buf·β + g; p ← p - lr·buf. dampening and nesterov do not exist in bnb's kernel. With maxUnorm > 0 (32-bit): LARS.
 */
export function momentum(a: StepArgs<MomentumHp>): StepInfo {
  const lr = fl(a.hp.lr);
  const b1 = fl(a.hp.momentum);
  const wd = fl(a.hp.weightDecay);
  const first = a.step === 1;
  const maxUnorm = a.hp.maxUnorm ?? 0;

  let scale = 1;
  if (maxUnorm > 0 && a.bits === 32) {
    checkArgs(a, 1, false);
    const s1 = (a.state as State32).state1;
    // kPreconditionOptimizer32bit1State: the new buffer WITHOUT weight decay, squared and summed.
    let unorm = 0;
    for (let i = 0; i < a.p.length; i++) {
      const buf = first ? a.g[i] : fl(fl(s1[i] * b1) + a.g[i]);
      unorm += fl(buf * buf);
    }
    scale = updateScale(unorm, norm(a.p), maxUnorm, a.hp.eps ?? 0);
  }

  const buffer = (l: Lane) => {
    if (wd > 0) l.g = fl(l.g + fl(l.p * wd));
    l.s1 = first ? l.g : fl(fl(l.s1 * b1) + l.g);
  };
  const rule32: Rule = (l) => {
    buffer(l);
    l.p = fl(l.p + fl(scale * fl(-lr * l.s1)));
  };
  const rule8: Rule = (l) => {
    buffer(l);
    l.p = fl(l.p - fl(lr * l.s1));
  };
  run(a, rule32, rule8, 1, false);
  return { updateScale: scale };
}

/** LARS (§3.7): the momentum kernel with maxUnorm (default 0.02) and eps 0 in 32-bit; momentum 8-bit with bits = 8. */
export function lars(a: StepArgs<MomentumHp>): StepInfo {
  return momentum({ ...a, hp: { ...a.hp, maxUnorm: a.hp.maxUnorm ?? DEFAULTS.lars.maxUnorm, eps: 0 } });
}

/**
 * RMSprop (§3.4): coupled decay g' = g + p·wd. 32-bit: s ← s·α + ((1-α)·g')·g', p ← p - lr·g'/(√s + ε).
 * 8-bit: s ← s·α + (1-α)·(g'·g'), and the numerator is the RAW gradient g (no decay).
 */
export function rmsprop(a: StepArgs<RMSpropHp>): StepInfo {
  const lr = fl(a.hp.lr);
  const alpha = fl(a.hp.alpha);
  const oneMinus = fl(1 - alpha);
  const eps = fl(a.hp.eps);
  const wd = fl(a.hp.weightDecay);
  let scale = 1;
  if ((a.hp.maxUnorm ?? 0) > 0 && a.bits === 32) {
    checkArgs(a, 1, false);
    const s1 = (a.state as State32).state1;
    // the precondition kernel: the new state and u = g / (√s + ε) from the gradient WITHOUT weight decay
    let unorm = 0;
    for (let i = 0; i < a.p.length; i++) {
      const s = fl(fl(s1[i] * alpha) + fl(fl(oneMinus * a.g[i]) * a.g[i]));
      const u = fl(a.g[i] / fl(fl(Math.sqrt(s)) + eps));
      unorm += fl(u * u);
    }
    scale = updateScale(unorm, norm(a.p), a.hp.maxUnorm!, eps);
  }
  const rule32: Rule = (l) => {
    if (wd > 0) l.g = fl(l.g + fl(l.p * wd));
    l.s1 = fl(fl(l.s1 * alpha) + fl(fl(oneMinus * l.g) * l.g));
    l.p = fl(l.p - fl(scale * fl(lr * fl(l.g / fl(fl(Math.sqrt(l.s1)) + eps)))));
  };
  const rule8: Rule = (l) => {
    const raw = l.g;
    const g = wd > 0 ? fl(l.g + fl(l.p * wd)) : l.g;
    l.s1 = fl(fl(l.s1 * alpha) + fl(oneMinus * fl(g * g)));
    l.p = fl(l.p - fl(lr * fl(raw / fl(fl(Math.sqrt(l.s1)) + eps))));
  };
  run(a, rule32, rule8, 1, false);
  return { updateScale: scale };
}

/** Adagrad (§3.5): s ← s + g'·g'; p ← p - lr·g/(√s + ε), numerator g' in 32-bit and the raw g in 8-bit. */
export function adagrad(a: StepArgs<AdagradHp>): StepInfo {
  const lr = fl(a.hp.lr);
  const eps = fl(a.hp.eps);
  const wd = fl(a.hp.weightDecay);
  const rule = (eightBit: boolean): Rule => (l) => {
    const raw = l.g;
    const g = wd > 0 ? fl(l.g + fl(l.p * wd)) : l.g;
    l.s1 = fl(l.s1 + fl(g * g));
    l.p = fl(l.p - fl(lr * fl((eightBit ? raw : g) / fl(fl(Math.sqrt(l.s1)) + eps))));
  };
  run(a, rule(false), rule(true), 1, false);
  return { updateScale: 1 };
}

/**
 * Lion (§3.6): decoupled decay first, p ← p·(1 - lr·wd); u = sgn(m·β1 + (1-β1)·g); p ← p - lr·u;
 * m ← m·β2 + (1-β2)·g. The same in 32-bit (since 0.50.0) and 8-bit.
 */
export function lion(a: StepArgs<LionHp>): StepInfo {
  const lr = fl(a.hp.lr);
  const [b1, b2] = [fl(a.hp.betas[0]), fl(a.hp.betas[1])];
  const [a1, a2] = [fl(1 - b1), fl(1 - b2)];
  const wd = fl(a.hp.weightDecay);
  const decay = fl(1 - fl(lr * wd));
  const rule: Rule = (l) => {
    if (wd > 0) l.p = fl(l.p * decay);
    const u = sgn(fl(fl(l.s1 * b1) + fl(a1 * l.g)));
    l.p = fl(l.p - fl(lr * u));
    l.s1 = fl(fl(l.s1 * b2) + fl(a2 * l.g));
  };
  run(a, rule, rule, 1, false);
  return { updateScale: 1 };
}

/**
 * AdEMAMix's schedulers (§3.8), in float64 as bnb's Python does, then rounded to the kernel's float32:
 * α_t = min(t·α/t_α, α); β3_t = min(exp(ln β1·ln β3 / ((1 - t/t_β3)·ln β3 + (t/t_β3)·ln β1)), β3).
 */
export function ademamixSchedule(step: number, hp: AdEMAMixHp): { alpha: number; beta3: number } {
  const [beta1, , beta3] = hp.betas;
  const alpha = hp.tAlpha ? Math.min((step * hp.alpha) / hp.tAlpha, hp.alpha) : hp.alpha;
  let b3 = beta3;
  if (hp.tBeta3) {
    const [ln1, ln3] = [Math.log(beta1), Math.log(beta3)];
    const s = step / hp.tBeta3;
    b3 = Math.min(Math.exp((ln1 * ln3) / ((1 - s) * ln3 + s * ln1)), beta3);
  }
  return { alpha: fl(alpha), beta3: fl(b3) };
}

/**
 * AdEMAMix (§3.8): m1 (fast EMA, bias-corrected), m2 (slow EMA, not corrected), nu;
 * p ← p - lr·((m1/c1 + α·m2) / (√nu/c2 + ε)), then decoupled decay. 8-bit adds the NaN/Inf guard (all three zeroed).
 */
export function ademamix(a: StepArgs<AdEMAMixHp>): StepInfo {
  const lr = fl(a.hp.lr);
  const [b1, b2] = [fl(a.hp.betas[0]), fl(a.hp.betas[1])];
  const { alpha, beta3: b3 } = ademamixSchedule(a.step, a.hp);
  const [a1, a2, a3] = [fl(1 - b1), fl(1 - b2), fl(1 - b3)];
  const eps = fl(a.hp.eps);
  const wd = fl(a.hp.weightDecay);
  const { c1, c2 } = corrections(b1, b2, a.step);
  const decay = fl(1 - fl(lr * wd));
  const rule = (eightBit: boolean): Rule => (l) => {
    if (eightBit && !Number.isFinite(l.g)) {
      l.s1 = 0;
      l.s2 = 0;
      l.s3 = 0;
      return;
    }
    l.s1 = fl(fl(l.s1 * b1) + fl(a1 * l.g));
    l.s3 = fl(fl(l.s3 * b3) + fl(a3 * l.g));
    l.s2 = fl(fl(l.s2 * b2) + fl(fl(a2 * l.g) * l.g));
    const num = fl(fl(l.s1 / c1) + fl(alpha * l.s3));
    const den = fl(fl(fl(Math.sqrt(l.s2)) / c2) + eps);
    l.p = fl(l.p - fl(lr * fl(num / den)));
    if (wd > 0) l.p = fl(l.p * decay);
  };
  run(a, rule(false), rule(true), 2, true);
  return { updateScale: 1 };
}
