// bnb's 1-state 8-bit kernels (momentum, lion, rmsprop, adagrad: kOptimizerStatic8bit1StateBlockwise) have no
// NaN/Inf guard (only the 2-state kernel got one, in 0.39.1): an Inf gradient enters the state, the state's block
// absmax becomes Inf, and the block is lost. octet mirrors that (including CUDA's positive NaN in the sign fix and
// the absmax of an all-NaN block, 0 as in the oracle); this checks it bit for bit against the oracle
// (test/reference/optimizers.ts), which runs the same lane arithmetic on the host, over three steps: a normal
// step, a step where one element of block 1 gets +Inf and one of block 3 gets -Inf, and a normal step after it.
import { describe, expect, test } from "bun:test";
import { familyOf, filled, gaussian, octet, param, read, ref } from "./helpers.ts";

const N = 4096 + 300; // 8-bit (>= min8bitSize), 18 blocks with a ragged tail
const BAD: [number, number][] = [
  [256 + 17, Infinity],
  [3 * 256 + 200, -Infinity],
  [5 * 256 + 3, NaN], // a NaN state is stored as code 255 (CUDA's NaN is positive): +absmax from then on
];

/** Same bits, NaN payloads aside (the GPU and the host may make different NaNs). */
function sameFloats(got: Float32Array, want: Float32Array): { diff: number; first?: string } {
  let diff = 0;
  let first: string | undefined;
  for (let i = 0; i < want.length; i++) {
    const ok = Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i]));
    if (!ok) {
      diff++;
      first ??= `[${i}] gpu ${got[i]} oracle ${want[i]}`;
    }
  }
  return { diff, first };
}

describe("1-state 8-bit optimizers with an Inf gradient behave as bitsandbytes does", () => {
  for (const [cls, base] of [["SGD8bit", "SGD"], ["Lion8bit", "Lion"], ["RMSprop8bit", "RMSprop"], ["Adagrad8bit", "Adagrad"]] as const) {
    test(cls, async () => {
      const fam = familyOf(base);
      const normal = gaussian(21);
      const p0 = filled(N, () => normal() * 0.2);
      const p = await param(p0);
      const opt = new octet.optim[cls]([p], fam.opts);
      const rp = p0.slice();
      const rs = ref.createState(fam.refName, N, 8) as ref.State8;
      let nanCode = -1;
      for (let t = 1; t <= 3; t++) {
        const g = filled(N, () => normal() * 0.02);
        if (t === 2) for (const [i, v] of BAD) g[i] = v;
        p.grad = await octet.tensor(g);
        await opt.step();
        fam.rule({ p: rp, g, state: rs, step: t, hp: fam.hp, bits: 8 });
        const got = await read(p);
        const sd = (await opt.stateDict()).state[0];
        const pd = sameFloats(got, rp);
        expect(pd.first ?? "").toBe("");
        expect(Array.from(sd.state1 as Uint8Array)).toEqual(Array.from(rs.state1));
        expect(sameFloats(sd.absmax1 as Float32Array, rs.absmax1).first ?? "").toBe("");
        if (t === 2) nanCode = rs.state1[BAD[2][0]];
      }
      // What bnb does, stated (README "Non-finite values"): blockwise isolation holds, every block without a bad
      // element stays finite; the blocks with one are lost.
      const finite = (b: number) => rp.slice(b * 256, (b + 1) * 256).every(Number.isFinite);
      for (const b of [0, 2, 4, 17]) expect(finite(b)).toBe(true);
      // The NaN element: its state became NaN, was stored as code 255 and reads back as the block's +absmax; the
      // rest of its block is untouched by it (the absmax skips the NaN).
      expect(nanCode).toBe(255);
      expect(rp.slice(5 * 256, 6 * 256).filter((v, j) => j !== 3).every(Number.isFinite)).toBe(true);
      if (cls === "Lion8bit") {
        // sign(±Inf) = ±1 and sign(NaN) = 0: the parameters stay finite, but the block's absmax stays Inf, so its
        // momentum is gone (every code dequantizes to ±Inf or NaN) for the rest of training.
        expect(finite(1) && finite(3)).toBe(true);
        expect([rs.absmax1[1], rs.absmax1[3]]).toEqual([Infinity, Infinity]);
      } else {
        // The Inf enters the state, the block's absmax becomes Inf, and one step later every state of the block
        // dequantizes to code·Inf (±Inf, or NaN for the zero code): all 256 parameters of the block are NaN or Inf.
        expect(rp.slice(256, 512).some(Number.isFinite)).toBe(false);
        expect(rp.slice(768, 1024).some(Number.isFinite)).toBe(false);
      }
    });
  }
});
