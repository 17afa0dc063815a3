// One step's host work: the per-tensor scalar table (bias corrections, lr, an
// "active" flag for tensors without a gradient), and the bucket's dispatch.
import type { Tensor } from "../dsl/tensor.ts";
import type { Parameter } from "../nn/parameter.ts";
import type { Options } from "./config.ts";
import type { OptimizerDef } from "./define.ts";
import { inputsOf } from "./buckets.ts";
import { traceUpdate } from "./trace.ts";
import { GNORM_HISTORY, type Bucket } from "./types.ts";

/** What one bucket does this step: its scalar table and the step number each stepped parameter reaches. */
export interface BucketWork {
  b: Bucket;
  table: Float32Array;
  steps: [Parameter, number][];
}

/** The scalar table of one bucket's step, or undefined when none of its parameters has a gradient. */
export function bucketWork(def: OptimizerDef<any>, b: Bucket, stepOf: (p: Parameter) => number, configOf: (b: Bucket, i: number) => Options, gradOf: (p: Parameter) => Tensor | null): BucketWork | undefined {
  const S = b.scalarNames.length;
  const table = new Float32Array(b.params.length * S);
  const steps: [Parameter, number][] = [];
  b.params.forEach((p, i) => {
    if (!gradOf(p)) return;
    const t = stepOf(p) + 1;
    steps.push([p, t]);
    const hp = configOf(b, i);
    // Stochastic rounding's stream is keyed by (seed, this tensor's step, element): paramstorage.ts.
    const sc: Record<string, number> = { ...def.scalars(hp, t), sr_step: t, sr_seed: b.param.seed };
    // percentile clipping: bnb writes slot step % 100, and every slot at its first step
    if (b.gnorm) Object.assign(sc, { gnorm_slot: t % GNORM_HISTORY, gnorm_fill: b.gnorm.filled ? 0 : 1, gnorm_rank: hp.percentileClipping as number });
    table[i * S] = 1;
    b.scalarNames.slice(1).forEach((nm, k) => (table[i * S + 1 + k] = sc[nm]));
  });
  return steps.length ? { b, table, steps } : undefined;
}

/** Dispatches one bucket's update. */
export async function runBucket(dev: GPUDevice, def: OptimizerDef<any>, { b, table, steps }: BucketWork): Promise<void> {
  const S = b.scalarNames.length;
  const same = steps.length === b.params.length && b.params.every((_, i) => table.subarray(i * S, i * S + S).every((v, k) => v === table[k]));
  if (same) {
    // Every tensor steps with the same scalars: the uniform variant skips the per-block table lookups.
    b.fnUniform ??= traceUpdate(def, b.format, b.blocks, b.params.length, b.scalarNames, b.tableNames, true, b.target, b.blockSize, { own: b.own, clip: !!b.gnorm, rank1: b.rank1, param: b.param });
    const uniforms = Object.fromEntries(b.scalarNames.map((nm, k) => [nm, table[k]]));
    await b.fnUniform.runStorages(inputsOf(def, b), uniforms);
  } else {
    dev.queue.writeBuffer(b.table.buffer, b.table.offset + b.layout.hyper * 4, table);
    await b.fn.runStorages(inputsOf(def, b), {});
  }
}
