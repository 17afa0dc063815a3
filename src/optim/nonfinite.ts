// skipNonFinite's test: does any gradient of this step hold a NaN or ±Inf? AMP's GradScaler answers the same
// question with a found_inf tensor and reads it back (`.item()`) before it steps; so does this, once per step
// and only with the option on: one reduction per bucket over its gradient arena (two small kernels), summed into
// one number, one 4-byte readback. The host has to know anyway, since it keeps the step counts that the next
// step's bias corrections use: an on-GPU predicate folded into the update kernels would leave them guessing.
import { Tensor } from "../dsl/tensor.ts";
import { bufferNode, tensorNow } from "../runtime/realize.ts";
import { view } from "../runtime/storage.ts";
import type { Parameter } from "../nn/parameter.ts";
import { sumAll } from "../ops/reduce.ts";
import { BLOCK } from "./formats.ts";
import { blocksOf, type Bucket } from "./types.ts";

/** Per-block 0/1 masks of the parameters that step, cached per bucket while the same ones do. */
const masks = new WeakMap<Bucket, { key: string; mask: Tensor }>();

function activeMask(b: Bucket, active: boolean[]): Tensor {
  const key = active.map(Number).join("");
  const hit = masks.get(b);
  if (hit?.key === key) return hit.mask;
  const m = new Float32Array(b.blocks);
  b.params.forEach((p, i) => active[i] && m.fill(1, b.blockStart[i], b.blockStart[i] + blocksOf(p.numel)));
  const mask = tensorNow(m, [b.blocks, 1], { category: "optimizer" });
  masks.set(b, { key, mask });
  return mask;
}

/**
 * True when a gradient of a parameter that steps now holds a NaN or ±Inf. Reads the gradient arenas, so the
 * gradients must be in them; slots of parameters without a gradient this step (stale values) are masked out,
 * and the arenas' padded lanes are zero.
 */
export async function anyNonFinite(buckets: Bucket[], steps: (p: Parameter) => boolean): Promise<boolean> {
  let total: Tensor | undefined;
  for (const b of buckets) {
    const active = b.params.map(steps);
    if (!active.some(Boolean)) continue;
    const g = new Tensor(bufferNode(view(b.g, 0, "f32", b.blocks * BLOCK, "gradients"), [b.blocks, BLOCK]));
    let bad = g.isfinite().not().cast("f32");
    if (!active.every(Boolean)) bad = bad.mul(activeMask(b, active));
    const n = sumAll(bad);
    total = total === undefined ? n : total.add(n);
  }
  if (total === undefined) return false;
  return (await total.toArray())[0] > 0;
}
