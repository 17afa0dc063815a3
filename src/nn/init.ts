// Seeded parameter initialization (same seed, same model): a counter-based PRNG so that any tensor's values
// depend only on (seed, tensor name), not on creation order.
import { fnv1a32 } from "../data/hash.ts";
import { mulberry32 } from "../data/batches.ts";

/** Uniform [0, 1) from the u32 mulberry32 stream. */
function unitStream(seed: number, name: string): () => number {
  const next = mulberry32((seed ^ fnv1a32(name)) >>> 0);
  return () => next() / 4294967296;
}

export function uniformInit(n: number, lo: number, hi: number, seed: number, name: string): Float32Array {
  const rnd = unitStream(seed, name);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rnd());
}

/** Normal(0, std) by Box-Muller. */
export function normalInit(n: number, std: number, seed: number, name: string): Float32Array {
  const rnd = unitStream(seed, name);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rnd(), 1e-12), v = rnd();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = std * r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = std * r * Math.sin(2 * Math.PI * v);
  }
  return out;
}
