// skipNonFinite's test: does any gradient of this step hold a NaN or ±Inf? AMP's GradScaler answers the same
// question with a found_inf tensor and reads it back (`.item()`) before it steps; so does this, once per step
// and only with the option on: one reduction per bucket over its gradient arena (two small kernels), summed into
// one number, one 4-byte readback. The host has to know anyway, since it keeps the step counts that the next
// step's bias corrections use: an on-GPU predicate folded into the update kernels would leave them guessing.
//
// A steady step creates no GPU objects: the count is written into one result buffer kept by the check (and the
// programs bind the same buffers every step, so their bind groups are reused), the masks are cached per bucket,
// and the readback goes through the pooled staging buffers.
import { Tensor } from "../dsl/tensor.ts";
import { bufferNode, realize, tensorNow } from "../runtime/realize.ts";
import { allocateOn, view, type Storage } from "../runtime/storage.ts";
import { device } from "../runtime/device.ts";
import type { Parameter } from "../nn/parameter.ts";
import { sumAll } from "../ops/reduce.ts";
import { blocksOf, type Bucket } from "./types.ts";

/** One optimizer's non-finite check: its result buffer and per-bucket masks, kept across steps. */
export class NonFiniteCheck {
  private result?: Storage;
  /** Per-block 0/1 masks of the parameters that step, cached per bucket while the same ones do. */
  private masks = new WeakMap<Bucket, { key: string; mask: Tensor }>();

  /** GPU bytes this check holds for bucket b (its mask), as the allocator counts them. */
  bytesFor(b: Bucket): number {
    return this.masks.get(b)?.mask.node.op === "buffer" ? (this.masks.get(b)!.mask.node.arg as { storage: Storage }).storage.allocatedBytes : 0;
  }
  /** GPU bytes of the result buffer. */
  get resultBytes(): number {
    return this.result?.allocatedBytes ?? 0;
  }

  private activeMask(b: Bucket, active: boolean[]): Tensor {
    const key = active.map(Number).join("");
    const hit = this.masks.get(b);
    if (hit?.key === key) return hit.mask;
    const m = new Float32Array(b.blocks);
    b.params.forEach((p, i) => active[i] && m.fill(1, b.blockStart[i], b.blockStart[i] + blocksOf(p.numel, b.blockSize)));
    const mask = tensorNow(m, [b.blocks, 1], { category: "optimizer" });
    this.masks.set(b, { key, mask });
    return mask;
  }

  /**
   * True when a gradient of a parameter that steps now holds a NaN or ±Inf. Reads the gradient arenas, so the
   * gradients must be in them; slots of parameters without a gradient this step (stale values) are masked out,
   * and the arenas' padded lanes are zero.
   */
  async any(buckets: Bucket[], steps: (p: Parameter) => boolean): Promise<boolean> {
    let total: Tensor | undefined;
    for (const b of buckets) {
      const active = b.params.map(steps);
      if (!active.some(Boolean)) continue;
      // The arena as f32 (a bf16 or f16 gradient decoded: NaN and ±Inf survive the rounding that wrote it).
      const g = b.param.grad.read(new Tensor(bufferNode(view(b.g, 0, b.g.dtype, b.blocks * b.blockSize, "gradients"), [b.blocks, b.blockSize])));
      let bad = g.isfinite().not().cast("f32");
      if (!active.every(Boolean)) bad = bad.mul(this.activeMask(b, active));
      const n = sumAll(bad);
      total = total === undefined ? n : total.add(n);
    }
    if (total === undefined) return false;
    this.result ??= allocateOn(await device(), "f32", 1, "optimizer", false, false);
    const out = new Tensor(bufferNode(this.result, [1]));
    await realize([total.reshape([1])], { into: [out] });
    return (await out.toArray())[0] > 0;
  }
}
