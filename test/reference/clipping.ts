// bitsandbytes' percentile clipping (removed in 0.50.0), transcribed from @ffadf57e (bnb-algorithms.md §2.4):
// kPercentileClipping writes ‖g‖² (f32 sums) into gnorm_vec[step % 100], or into all 100 slots at step 1;
// F.percentile_clipping then takes current = √gnorm_vec[step % 100], clip = √(sort(gnorm_vec)[percentile]) and
// gnorm_scale = clip / current when current > clip, else 1; every kernel multiplies g by gnorm_scale first.
// Plain TS, independent of the DSL: the sum is accumulated in float64 and rounded once (bnb's atomicAdd order is
// unspecified), the rest is binary32 as torch's float32 tensors.
const fl = Math.fround;

export const HISTORY = 100;

/** Updates `history` (Float32Array(100), zeros before the first step) in place and returns gnorm_scale. */
export function percentileClipping(g: Float32Array, history: Float32Array, step: number, percentile: number): number {
  let sq = 0;
  for (const v of g) sq += v * v;
  const gsq = fl(sq);
  if (step === 1) history.fill(gsq);
  else history[step % HISTORY] = gsq;
  const current = fl(Math.sqrt(history[step % HISTORY]));
  const sorted = Float32Array.from(history).sort();
  const clip = fl(Math.sqrt(sorted[percentile]));
  return current > clip ? fl(clip / current) : 1;
}

/** The gradient as bnb's kernels use it: fl(gnorm_scale · g) per element. */
export const scaled = (g: Float32Array, scale: number): Float32Array => g.map((v) => fl(scale * v));
