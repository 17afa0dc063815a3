// Adam / AdamW / LAMB (bnb kernel "adam", §3.2; LAMB = Adam + maxUnorm trust ratio, §3.7). maxUnorm applies to
// every 32-bit state here, as bnb's 32-bit Adam kernel applies it (Adam/AdamW reach it through overrideConfig).
// bnb's Adam and AdamW are one kernel with decoupled decay applied after the step; they differ in default
// weightDecay only. Association follows bnb's CUDA kernels exactly, including where 8-bit and 32-bit differ.
import { z } from "zod";
import type { Tensor } from "../dsl/tensor.ts";
import { updateScale } from "./unorm.ts";
import { betas2, common } from "./config.ts";
import { defineOptimizer, fl, powBeta } from "./define.ts";
import { lowBitClasses, optimizerClasses } from "./classes.ts";

const schema = z.object({ ...common, betas: betas2, amsgrad: z.literal(false, { error: "must be false: bitsandbytes' Adam kernels have no AMSGrad (Adam8bit raises for it, #1261)" }) });
// bnb's LAMB accepts bias_correction and adam_w_mode and ignores them: its kernel always bias-corrects and decays
// the weights after the step. Their defaults are what it does; another value is refused, not ignored.
const lambSchema = schema.extend({
  biasCorrection: z.literal(true, { error: "must be true: bitsandbytes' LAMB always bias-corrects (it accepts bias_correction and ignores it)" }),
  adamWMode: z.literal(true, { error: "must be true: bitsandbytes' LAMB always decays the weights after the step, as AdamW (it accepts adam_w_mode and ignores it)" }),
});
type AdamHP = z.infer<typeof schema>;

function adamDef(name: "adam" | "lamb") {
  // The class default: LAMB's trust ratio is on (1.0), Adam's off. bnb's 8-bit kernels never apply it.
  const defaultUnorm = name === "lamb" ? 1 : 0;
  return defineOptimizer<AdamHP>({
    name,
    schema: name === "lamb" ? (lambSchema as unknown as typeof schema) : schema,
    states: [
      { name: "m", signed: true, key: "state1" },
      { name: "v", signed: false, key: "state2" },
    ],
    scalars: ({ lr: lr64, betas: [b1, b2], eps: eps64, weightDecay, maxUnorm }, t) => {
      // bnb passes every hyper-parameter as a C float (§3.1): round lr, eps, wd to f32 BEFORE using them. With the
      // f64 values, -lr·c2 and lr·wd round differently (lr = 1e-3: stepSize off by one ulp at t = 2).
      const [lr, eps, wd] = [fl(lr64), fl(eps64), fl(weightDecay)];
      const c1 = fl(1 - powBeta(b1, t));
      const c2 = fl(Math.sqrt(fl(1 - powBeta(b2, t))));
      return {
        b1: fl(b1), b2: fl(b2), a1: fl(1 - fl(b1)), a2: fl(1 - fl(b2)),
        stepSize: fl(fl(-lr * c2) / c1), // negative: p + stepSize * m / (sqrt(v) + eps c2)
        epsC2: fl(eps * c2),
        decay: fl(1 - fl(lr * wd)),
        // LAMB's norm kernel multiplies by the corrections' reciprocals, as bnb's kPreconditionOptimizer32bit2State
        // (correction = 1 / (1 - beta^t); s *= correction), not divides.
        inv1: fl(1 / c1), inv2: fl(1 / fl(1 - powBeta(b2, t))), eps: fl(eps), maxUnorm: fl(maxUnorm),
      };
    },
    update: ({ p, g, m, v }, s, { quantized, ownTensor }) => {
      const m1 = m.mul(s.b1).add(g.mul(s.a1)).named("m1"); //            m <- b1 m + (1 - b1) g
      const v1 = (quantized ? v.mul(s.b2).add(g.mul(s.a2).mul(g)) : v.mul(s.b2).add(g.mul(g).mul(s.a2))).named("v1"); // v <- b2 v + (1 - b2) g^2
      const dir = m1.div(v1.sqrt().add(s.epsC2)).named("direction"); //   m / (sqrt(v) + eps sqrt(1 - b2^t))
      let stepSize: Tensor = s.stepSize;
      // bnb's 32-bit Adam kernel (Adam, AdamW and LAMB) scales the step by the trust ratio when maxUnorm > 0.
      if (ownTensor && !quantized) stepSize = trustRatio(p, m1, v1, s).mul(stepSize);
      const p1 = p.add(stepSize.mul(dir)).mul(s.decay).named("p_new"); // decoupled decay after the step
      if (!quantized) return { p: p1, m: m1, v: v1 };
      // bnb's 8-bit kernel: a NaN/Inf gradient zeroes the element's states and leaves p alone.
      const bad = g.isfinite().not().named("bad_grad");
      return { p: bad.where(p, p1), m: bad.where(0, m1), v: bad.where(0, v1) };
    },
    // The trust ratio needs whole-tensor norms: one tensor per kernel (32-bit only, as bnb's optimizer32bit).
    // `bits` is the resolved state precision: LAMB8bit keeps f32 state (and the trust ratio) below min8bitSize.
    perTensor: (hp, bits) => bits === 32 && hp.maxUnorm > 0,
    check: (hp, bits) =>
      bits === 8 && hp.maxUnorm !== defaultUnorm
        ? `maxUnorm ${hp.maxUnorm}: bitsandbytes' 8-bit blockwise kernels do not implement maxUnorm (${name === "lamb" ? "LAMB8bit refuses a non-default one, bnb #1998" : "bnb ignores it there"}); leave it at ${defaultUnorm}, or keep 32-bit state for this tensor (optimBits: 32)`
        : undefined,
  });
}

/** bnb's trust ratio min(1, maxUnorm ||p|| / ||u||), u the bias-corrected Adam direction (§3.7). */
function trustRatio(p: Tensor, m1: Tensor, v1: Tensor, s: Record<string, Tensor>): Tensor {
  const u = m1.mul(s.inv1).div(v1.mul(s.inv2).sqrt().add(s.eps)); // m̂ = m·fl(1/c1), v̂ = v·fl(1/c2), as bnb
  return updateScale(u.mul(u), p, s.maxUnorm);
}

const base = { lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, optimBits: 32 as 8 | 32, min8bitSize: 4096, stateFormat: "dynamic8" as const, maxUnorm: 0, amsgrad: false as const };
export const adam = adamDef("adam");
export const lamb = adamDef("lamb");
export const { Adam, Adam8bit, Adam32bit } = optimizerClasses(adam, { ...base, weightDecay: 0 }, "Adam");
export const { AdamW, AdamW8bit, AdamW32bit } = optimizerClasses(adam, { ...base, weightDecay: 1e-2 }, "AdamW");
export const { LAMB, LAMB8bit, LAMB32bit } = optimizerClasses(lamb, { ...base, weightDecay: 0, maxUnorm: 1.0, biasCorrection: true, adamWMode: true }, "LAMB");
export const { Adam4bit, AdamFp8 } = lowBitClasses(adam, { ...base, weightDecay: 0 }, "Adam");
export const { AdamW4bit, AdamWFp8 } = lowBitClasses(adam, { ...base, weightDecay: 1e-2 }, "AdamW");
