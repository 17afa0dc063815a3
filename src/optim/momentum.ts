// Momentum SGD and LARS (bnb kernels "momentum" and "lars", §3.3, §3.7). Weight decay is coupled
// (g <- g + wd p); the first step sets buf = g. bnb accepts dampening and nesterov and ignores them; octet's SGD
// does them as torch.optim.SGD does (buf <- m buf + (1 - dampening) g; nesterov steps along g + m buf), and at
// their defaults (0, false) the numbers are bnb's exactly. maxUnorm (LARS's trust ratio, also reachable for SGD)
// applies to 32-bit state, as in bnb's 32-bit momentum kernel.
import { z } from "zod";
import type { Tensor } from "../dsl/tensor.ts";
import { common } from "./config.ts";
import { defineOptimizer, fl } from "./define.ts";
import { optimizerClasses } from "./classes.ts";
import { updateScale } from "./unorm.ts";

const schema = z.object({ ...common, momentum: z.number().finite().positive("bnb's SGD requires momentum > 0"), dampening: z.number().finite().min(0).max(1), nesterov: z.boolean() });
type SgdHP = z.infer<typeof schema>;

function momentumDef(name: "momentum" | "lars") {
  const defaultUnorm = name === "lars" ? 0.02 : 0;
  return defineOptimizer<SgdHP>({
    name,
    schema,
    states: [{ name: "buf", signed: true, key: "state1" }],
    scalars: ({ lr, momentum, weightDecay, maxUnorm, eps, dampening, nesterov }, t) => ({
      lr: fl(lr), beta: fl(momentum), wd: fl(weightDecay), first: t === 1 ? 1 : 0, maxUnorm: fl(maxUnorm), eps: fl(eps),
      // torch: buf.mul_(momentum).add_(g, alpha=1 - dampening), alpha rounded to f32; 1 (exact) at the default
      damp1: fl(1 - dampening), nesterov: nesterov ? 1 : 0,
    }),
    update: ({ p, g, buf }, s, { quantized, ownTensor }) => {
      const gd = g.add(p.mul(s.wd)).named("g_decayed"); //                 coupled weight decay
      const buf1 = s.first.gt(0).where(gd, buf.mul(s.beta).add(gd.mul(s.damp1))).named("buf1");
      // torch's nesterov: d_p = g + m·buf (after the buffer update); otherwise d_p = buf
      const dir = s.nesterov.gt(0).where(gd.add(buf1.mul(s.beta)), buf1).named("direction");
      let step: Tensor = s.lr.mul(dir); //                                  lr·d_p
      if (ownTensor && !quantized) {
        // The norm of the buffer computed without weight decay (bnb's precondition kernel).
        const raw = s.first.gt(0).where(g, buf.mul(s.beta).add(g));
        // bnb's 32-bit kernel: p + update_scale·(-lr·buf), i.e. the scale multiplies the rounded lr·buf
        // (§3.3). Scaling lr first, (scale·lr)·buf, rounds differently (measured: 1 ulp of p).
        step = updateScale(raw.mul(raw), p, s.maxUnorm, s.eps).mul(step);
      }
      return { p: p.sub(step), buf: buf1 };
    },
    // `bits` is the resolved state precision: LARS8bit keeps f32 state (and the trust ratio) below min8bitSize.
    perTensor: (hp, bits) => bits === 32 && hp.maxUnorm > 0,
    check: (hp, bits) => {
      if (name === "lars" && (hp.nesterov || hp.dampening !== 0))
        return "nesterov and dampening are SGD's (as torch.optim.SGD); bitsandbytes' LARS accepts and ignores them, so octet refuses them for LARS";
      if (hp.nesterov && hp.dampening !== 0) return "nesterov needs dampening 0 (as torch.optim.SGD: Nesterov momentum requires zero dampening)";
      if (hp.maxUnorm > 0 && bits === 32 && (hp.nesterov || hp.dampening !== 0))
        return `maxUnorm with nesterov or dampening: bnb's trust ratio is defined on its plain momentum buffer; use one or the other`;
      if (bits === 8 && hp.maxUnorm !== defaultUnorm)
        return `maxUnorm ${hp.maxUnorm}: bitsandbytes' 8-bit blockwise momentum kernel does not implement maxUnorm${name === "lars" ? " (as LAMB8bit, bnb #1998)" : ""}; leave it at ${defaultUnorm}, or keep 32-bit state for this tensor (optimBits: 32)`;
      return undefined;
    },
  });
}

const base = { lr: 1e-3, eps: 0, weightDecay: 0, optimBits: 32 as 8 | 32, min8bitSize: 4096, stateFormat: "dynamic8" as const, maxUnorm: 0, momentum: 0.9, dampening: 0, nesterov: false };
export const momentum = momentumDef("momentum");
export const lars = momentumDef("lars");
export const { SGD, SGD8bit, SGD32bit } = optimizerClasses(momentum, base, "SGD");
export const { LARS, LARS8bit, LARS32bit } = optimizerClasses(lars, { ...base, maxUnorm: 0.02 }, "LARS");
