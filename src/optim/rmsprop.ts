// RMSprop and Adagrad (bnb kernels "rmsprop" and "adagrad", §3.4, §3.5). Weight decay is coupled. bnb's
// 8-bit kernels divide the RAW gradient (without decay or clipping) and associate the square differently: kept
// here. maxUnorm applies to RMSprop's 32-bit state (bnb's 32-bit kernel); bnb's Adagrad kernel never uses it.
import { z } from "zod";
import type { Tensor } from "../dsl/tensor.ts";
import { common } from "./config.ts";
import { defineOptimizer, fl } from "./define.ts";
import { optimizerClasses } from "./classes.ts";
import { updateScale } from "./unorm.ts";

const rmsSchema = z.object({ ...common, alpha: z.number().finite().positive("bnb's RMSprop requires alpha > 0").lt(1), momentum: z.literal(0), centered: z.literal(false) });
type RmsHP = z.infer<typeof rmsSchema>;

export const rmsprop = defineOptimizer<RmsHP>({
  name: "rmsprop",
  schema: rmsSchema,
  states: [{ name: "sq", signed: true, key: "state1" }], // bnb stores it with the signed map (§1.1)
  scalars: ({ lr, alpha, eps, weightDecay, maxUnorm }) => ({ lr: fl(lr), alpha: fl(alpha), a1: fl(1 - fl(alpha)), eps: fl(eps), wd: fl(weightDecay), maxUnorm: fl(maxUnorm) }),
  update: ({ p, g, gRaw, sq }, s, { quantized, ownTensor }) => {
    const gd = g.add(p.mul(s.wd)).named("g_decayed");
    const sq1 = (quantized ? sq.mul(s.alpha).add(gd.mul(gd).mul(s.a1)) : sq.mul(s.alpha).add(gd.mul(s.a1).mul(gd))).named("sq1");
    const num = quantized ? gRaw : gd;
    let step: Tensor = s.lr.mul(num.div(sq1.sqrt().add(s.eps)));
    if (ownTensor && !quantized) {
      // bnb's precondition kernel: u = g / (sqrt(s') + eps) with s' updated from g WITHOUT weight decay.
      const sqRaw = sq.mul(s.alpha).add(g.mul(s.a1).mul(g));
      const u = g.div(sqRaw.sqrt().add(s.eps));
      step = updateScale(u.mul(u), p, s.maxUnorm, s.eps).mul(step); // p - update_scale·(lr·(g'/(sqrt(s) + eps)))
    }
    return { p: p.sub(step), sq: sq1 };
  },
  perTensor: (hp, bits) => bits === 32 && hp.maxUnorm > 0,
  check: (hp, bits) => (bits === 8 && hp.maxUnorm !== 0 ? `maxUnorm ${hp.maxUnorm}: bitsandbytes' 8-bit blockwise RMSprop kernel does not implement maxUnorm; leave it at 0, or keep 32-bit state for this tensor (optimBits: 32)` : undefined),
});

const { maxUnorm: _unused, ...adaCommon } = common;
const adaSchema = z.object({ ...adaCommon, lrDecay: z.literal(0), initialAccumulatorValue: z.literal(0) });
type AdaHP = z.infer<typeof adaSchema>;

export const adagrad = defineOptimizer<AdaHP>({
  name: "adagrad",
  schema: adaSchema,
  states: [{ name: "sum", signed: true, key: "state1" }],
  refused: { maxUnorm: "bitsandbytes' Adagrad kernel never applies the trust ratio (it has no update_scale), so maxUnorm would do nothing" },
  scalars: ({ lr, eps, weightDecay }) => ({ lr: fl(lr), eps: fl(eps), wd: fl(weightDecay) }),
  update: ({ p, g, gRaw, sum }, s, { quantized }) => {
    const gd = g.add(p.mul(s.wd)).named("g_decayed");
    const sum1 = sum.add(gd.mul(gd)).named("sum1");
    const num = quantized ? gRaw : gd;
    return { p: p.sub(s.lr.mul(num.div(sum1.sqrt().add(s.eps)))), sum: sum1 };
  },
});

const common8 = { optimBits: 32 as 8 | 32, min8bitSize: 4096, stateFormat: "dynamic8" as const, weightDecay: 0 };
export const { RMSprop, RMSprop8bit, RMSprop32bit } = optimizerClasses(rmsprop, { ...common8, maxUnorm: 0, lr: 1e-2, alpha: 0.99, eps: 1e-8, momentum: 0 as const, centered: false as const }, "RMSprop");
export const { Adagrad, Adagrad8bit, Adagrad32bit } = optimizerClasses(adagrad, { ...common8, lr: 1e-2, eps: 1e-10, lrDecay: 0 as const, initialAccumulatorValue: 0 as const }, "Adagrad");
