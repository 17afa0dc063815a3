// AdEMAMix (bnb ademamix.py, §3.8): a fast EMA m1 and a slow EMA m2 of the gradient, nu for the second
// moment; alpha and beta3 may follow bnb's warm-up schedulers (host side, per tensor and step). m1 and m2
// are stored under bnb's `state1` as two parts, each with its own absmax row (no aliasing for n % 256 != 0).
import { z } from "zod";
import { betas3, common } from "./config.ts";
import { defineOptimizer, fl, powBeta } from "./define.ts";
import { optimizerClasses } from "./classes.ts";

const { maxUnorm: _unused, ...shared } = common;
const schema = z.object({ ...shared, betas: betas3, alpha: z.number().finite().nonnegative(), tAlpha: z.number().int().positive().nullable(), tBeta3: z.number().int().positive().nullable() });
type AdemamixHP = z.infer<typeof schema>;

/** bnb's schedulers (float64 on the host): alpha warms up linearly, beta3 along the log-space path. */
export function ademamixSchedule(hp: AdemamixHP, t: number): { alpha: number; beta3: number } {
  const [b1, , b3] = hp.betas;
  const alpha = hp.tAlpha ? Math.min((t * hp.alpha) / hp.tAlpha, hp.alpha) : hp.alpha;
  let beta3 = b3;
  if (hp.tBeta3) {
    const f = t / hp.tBeta3;
    beta3 = Math.min(Math.exp((Math.log(b1) * Math.log(b3)) / ((1 - f) * Math.log(b3) + f * Math.log(b1))), b3);
  }
  return { alpha, beta3 };
}

export const ademamix = defineOptimizer<AdemamixHP>({
  name: "ademamix",
  schema,
  states: [
    { name: "m1", signed: true, key: "state1", part: 0 },
    { name: "m2", signed: true, key: "state1", part: 1 },
    { name: "nu", signed: false, key: "state2" },
  ],
  refused: { maxUnorm: "bitsandbytes' AdEMAMix kernel never applies the trust ratio (its norm pass does nothing for ademamix), so maxUnorm would do nothing" },
  scalars: (hp, t) => {
    const [b1, b2] = hp.betas;
    const { alpha, beta3 } = ademamixSchedule(hp, t);
    return {
      b1: fl(b1), a1: fl(1 - fl(b1)), b2: fl(b2), a2: fl(1 - fl(b2)), b3: fl(beta3), a3: fl(1 - fl(beta3)),
      c1: fl(1 - powBeta(b1, t)), c2: fl(Math.sqrt(fl(1 - powBeta(b2, t)))),
      // lr·wd of the f32-rounded values: bnb passes hyper-parameters as C floats (§3.1)
      alpha: fl(alpha), lr: fl(hp.lr), eps: fl(hp.eps), decay: fl(1 - fl(fl(hp.lr) * fl(hp.weightDecay))),
    };
  },
  update: ({ p, g, m1, m2, nu }, s, { quantized }) => {
    const m1n = m1.mul(s.b1).add(g.mul(s.a1)).named("m1_next");
    const m2n = m2.mul(s.b3).add(g.mul(s.a3)).named("m2_next");
    const nun = nu.mul(s.b2).add(g.mul(s.a2).mul(g)).named("nu_next");
    const num = m1n.div(s.c1).add(s.alpha.mul(m2n));
    const den = nun.sqrt().div(s.c2).add(s.eps);
    const p1 = p.sub(s.lr.mul(num.div(den))).mul(s.decay);
    if (!quantized) return { p: p1, m1: m1n, m2: m2n, nu: nun };
    const bad = g.isfinite().not();
    return { p: bad.where(p, p1), m1: bad.where(0, m1n), m2: bad.where(0, m2n), nu: bad.where(0, nun) };
  },
});

export const { AdEMAMix, AdEMAMix8bit, AdEMAMix32bit } = optimizerClasses(
  ademamix,
  { lr: 1e-3, betas: [0.9, 0.999, 0.9999], alpha: 5, eps: 1e-8, weightDecay: 1e-2, tAlpha: null, tBeta3: null, optimBits: 32, min8bitSize: 4096, stateFormat: "dynamic8" },
  "AdEMAMix",
);
