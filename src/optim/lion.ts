// Lion (bnb kernel "lion", §3.6): decoupled decay first, then a signed step from the interpolated
// momentum, then the momentum update with the second beta. sign(0) = sign(NaN) = 0.
import { z } from "zod";
import { Tensor } from "../dsl/tensor.ts";
import { betas2, common } from "./config.ts";
import { defineOptimizer, fl } from "./define.ts";
import { optimizerClasses } from "./classes.ts";

const { maxUnorm: _unused, ...shared } = common;
const schema = z.object({ ...shared, betas: betas2 });
type LionHP = z.infer<typeof schema>;

export const lion = defineOptimizer<LionHP>({
  name: "lion",
  schema,
  states: [{ name: "m", signed: true, key: "state1" }],
  // bnb's Lion class has no max_unorm; its kernel's norm pass runs after the update on the unsquared momentum (§3.7).
  refused: { maxUnorm: "bitsandbytes' Lion has no max_unorm (its kernel's norm pass sums the unsquared momentum after the update), so maxUnorm would do nothing meaningful" },
  // Hyper-parameters are C floats in bnb (§3.1): lr·wd is the product of the f32-rounded values.
  scalars: ({ lr, betas: [b1, b2], weightDecay }) => ({ lr: fl(lr), b1: fl(b1), a1: fl(1 - fl(b1)), b2: fl(b2), a2: fl(1 - fl(b2)), decay: fl(1 - fl(fl(lr) * fl(weightDecay))) }),
  update: ({ p, g, m }, s) => {
    const pd = p.mul(s.decay).named("p_decayed");
    const c = m.mul(s.b1).add(g.mul(s.a1)).named("interp");
    const u = c.gt(0).where(1, c.lt(0).where(-1, Tensor.const(0))).named("sign");
    return { p: pd.sub(s.lr.mul(u)), m: m.mul(s.b2).add(g.mul(s.a2)) };
  },
});

export const { Lion, Lion8bit, Lion32bit } = optimizerClasses(lion, { lr: 1e-4, betas: [0.9, 0.99], eps: 0, weightDecay: 0, optimBits: 32, min8bitSize: 4096, stateFormat: "dynamic8" }, "Lion");
