// LAMB32bit and LARS32bit on a 40M-element tensor (issue #7 item 5): their trust ratios need whole-tensor
// norms, sums of 40M terms that the scheduler splits into partial and final passes. Two steps each, against the
// plain-TS oracle (test/reference/optimizers.ts), whose norms are float64 sums:
// - the trust ratio the GPU applied, read off the elements whose parameter starts at exactly 0 (there the change is
//   the unscaled step times the ratio, to one f32 rounding of a tiny value), agrees with the oracle's to the f32
//   error of a tree sum;
// - a strided sample of elements (and the unaligned tail) is within one ulp of the oracle.
// The parameter is read through a gather of the sample: reading 160 MB back would cost seconds.
// The 8-bit twins are not here: LAMB8bit and LARS8bit have no trust ratio (bnb), so there is nothing of size in them.
import { describe, expect, test } from "bun:test";
import { octet, ref } from "./helpers.ts";
import { seededRandom } from "../reference/quant.ts";

const N = 40_000_003; // not a multiple of 256 or 4: the last block and the last vector are partial
const STRIDE = 613;
const ZERO_EVERY = 2 * STRIDE; // every other sampled element starts at exactly 0

function uniform(n: number, seed: number, scale: number, zeroEvery = 0): Float32Array {
  const r = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() - 0.5) * 2 * scale;
  if (zeroEvery) for (let i = 0; i < n; i += zeroEvery) out[i] = 0;
  return out;
}

const SAMPLE = (() => {
  const idx: number[] = [];
  for (let i = 0; i < N; i += STRIDE) idx.push(i);
  for (let i = N - 300; i < N; i++) if (i % STRIDE) idx.push(i);
  return Uint32Array.from(idx);
})();
const take = (a: Float32Array | undefined) => (a ? Float32Array.from(SAMPLE, (i) => a[i]) : undefined);

/** One f32 ulp at x (the spacing above |x|). */
function ulp(x: number): number {
  const f = new Float32Array([Math.abs(x)]);
  const u = new Uint32Array(f.buffer);
  u[0]++;
  return f[0] - Math.abs(x) || 1.4e-45;
}

interface Case {
  cls: "LAMB32bit" | "LARS32bit";
  name: "lamb" | "lars";
  rule: (a: ref.StepArgs<any>) => ref.StepInfo;
  opts: Record<string, unknown>;
  hp: Record<string, unknown>;
}

const CASES: Case[] = [
  { cls: "LAMB32bit", name: "lamb", rule: ref.lamb, opts: { lr: 1e-3 }, hp: { ...ref.DEFAULTS.lamb } },
  { cls: "LARS32bit", name: "lars", rule: ref.lars, opts: { lr: 0.01, momentum: 0.9, weightDecay: 1e-2 }, hp: { lr: 0.01, momentum: 0.9, weightDecay: 1e-2, maxUnorm: 0.02 } },
];

describe("trust ratios over 40M elements", () => {
  const p0 = uniform(N, 1, 0.5, ZERO_EVERY);
  const grads = [uniform(N, 2, 0.02), uniform(N, 3, 0.02)];
  const sampleIndex = octet.tensor(SAMPLE, [SAMPLE.length], { dtype: "u32" });

  for (const c of CASES)
    test(`${c.cls}: two steps of a 40,000,003-element tensor`, async () => {
      const p = new octet.nn.Parameter(await octet.tensor(p0));
      const opt = new (octet.optim as unknown as Record<string, new (ps: unknown, o: unknown) => octet.optim.Optimizer>)[c.cls]([p], c.opts);
      const refP = p0.slice();
      const state = ref.createState(c.name, N, 32) as { state1: Float32Array; state2?: Float32Array };
      for (let t = 1; t <= 2; t++) {
        const g = await octet.tensor(grads[t - 1]);
        p.grad = g;
        await opt.step();
        g.dispose();
        // The unscaled step of the sample, from the sample's state before this step (maxUnorm 0: ratio 1).
        const before = { p: take(refP)!, s1: take(state.state1)!, s2: take(state.state2) };
        const unscaled = before.p.slice();
        c.rule({ p: unscaled, g: take(grads[t - 1])!, state: { state1: before.s1, state2: before.s2 }, step: t, hp: { ...c.hp, maxUnorm: 0 }, bits: 32 });
        const { updateScale } = c.rule({ p: refP, g: grads[t - 1], state, step: t, hp: c.hp, bits: 32 });
        expect(updateScale, "the sizes make the trust ratio bind").toBeLessThan(0.5);

        const got = (await p.data.gather(await sampleIndex).toArray()) as Float32Array;
        // The ratio the GPU applied, from elements where the step is the whole change (p was 0 at step 1; at
        // step 2 those elements are still tiny, so the change is exact to ~1e-7 of itself).
        let dot = 0;
        let sq = 0;
        let zeros = 0;
        let bad = 0;
        let first = "";
        SAMPLE.forEach((i, k) => {
          const want = refP[i];
          if (i % ZERO_EVERY === 0) {
            zeros++;
            const [d, u] = [got[k] - before.p[k], unscaled[k] - before.p[k]];
            dot += d * u; // the least-squares ratio: elements whose step nearly cancels weigh nothing
            sq += u * u;
          }
          if (!(Math.abs(got[k] - want) <= ulp(want))) {
            bad++;
            first ||= `[${i}] gpu ${got[k]} oracle ${want}`;
          }
        });
        expect(zeros).toBeGreaterThan(30000);
        const ratioError = Math.abs(dot / sq / updateScale - 1);
        // f32 tree sums of 40M positive terms against float64, and a ratio rounded to f32: measured 1e-10..4e-8; a wrong or truncated norm
        // (a pass dropped, a partial double-counted) is off by far more.
        expect(ratioError, `${c.cls} step ${t}: trust ratio vs the oracle's ${updateScale}`).toBeLessThan(1e-6);
        expect(bad, `${c.cls} step ${t}: ${first}`).toBe(0);
      }
      opt.release();
      p.data.dispose();
    }, 90000);
});
