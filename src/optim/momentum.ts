// Momentum SGD and LARS (bnb kernels "momentum" and "lars", §3.3, §3.7). Weight decay is coupled
// (g <- g + wd p); the first step sets buf = g; bnb accepts dampening and nesterov and ignores them.
import { z } from "zod";
import type { Tensor } from "../dsl/tensor.ts";
import { sumAll } from "../ops/reduce.ts";
import { common } from "./config.ts";
import { defineOptimizer, fl } from "./define.ts";
import { optimizerClasses } from "./classes.ts";

const schema = z.object({ ...common, momentum: z.number().finite().positive("bnb's SGD requires momentum > 0"), dampening: z.number().finite().nonnegative(), nesterov: z.boolean() });
type SgdHP = z.infer<typeof schema>;

function momentumDef(name: "momentum" | "lars") {
  return defineOptimizer<SgdHP>({
    name,
    schema,
    states: [{ name: "buf", signed: true, key: "state1" }],
    scalars: ({ lr, momentum, weightDecay, maxUnorm, eps }, t) => ({ lr: fl(lr), beta: fl(momentum), wd: fl(weightDecay), first: t === 1 ? 1 : 0, maxUnorm: fl(maxUnorm), eps: fl(eps) }),
    update: ({ p, g, buf }, s, { quantized }) => {
      const gd = g.add(p.mul(s.wd)).named("g_decayed"); //                 coupled weight decay
      const buf1 = s.first.gt(0).where(gd, buf.mul(s.beta).add(gd)).named("buf1");
      let step: Tensor = s.lr.mul(buf1); //                                 lr·buf
      if (name === "lars" && !quantized) {
        // LARS: the norm of the buffer computed without weight decay (bnb's precondition kernel).
        const raw = s.first.gt(0).where(g, buf.mul(s.beta).add(g));
        const uNorm = sumAll(raw.mul(raw)).sqrt();
        const limit = s.maxUnorm.mul(sumAll(p.mul(p)).sqrt()).add(s.eps);
        // bnb's 32-bit kernel: p + update_scale·(-lr·buf), i.e. the scale multiplies the rounded lr·buf
        // (§3.3). Scaling lr first, (scale·lr)·buf, rounds differently (measured: 1 ulp of p).
        const scale = uNorm.gt(limit).and(s.maxUnorm.gt(0)).where(limit.div(uNorm), 1).named("update_scale");
        step = scale.mul(step);
      }
      return { p: p.sub(step), buf: buf1 };
    },
    // `bits` is the resolved state precision: LARS8bit keeps f32 state (and the trust ratio) below min8bitSize.
    perTensor: (hp, bits) => name === "lars" && bits === 32 && hp.maxUnorm > 0,
  });
}

const base = { lr: 1e-3, eps: 0, weightDecay: 0, optimBits: 32 as 8 | 32, min8bitSize: 4096, stateFormat: "dynamic8" as const, maxUnorm: 0, momentum: 0.9, dampening: 0, nesterov: false };
export const momentum = momentumDef("momentum");
export const lars = momentumDef("lars");
export const { SGD, SGD8bit, SGD32bit } = optimizerClasses(momentum, base, "SGD");
export const { LARS, LARS8bit, LARS32bit } = optimizerClasses(lars, { ...base, maxUnorm: 0.02 }, "LARS");
