// sumAll of any size: the per-block partials of a large tensor form a row longer than one workgroup
// reduces, which the scheduler splits into passes. LAMB32bit's trust ratio needs two such norms; a 5M-element
// tensor (beyond the old 4M limit, which already failed near 1.28M) steps like the plain-TS oracle.
import { describe, expect, test } from "bun:test";
import { compare32, familyOf, filled, gaussian, octet, param, read, ref } from "../optim/helpers.ts";
import { sumAll } from "../../src/ops/reduce.ts";

describe("sumAll of any size", () => {
  test("a [19532, 256] tensor (5M elements) against a float64 sum", async () => {
    const n = 19532 * 256;
    const xs = filled(n, gaussian(3));
    const x = await octet.tensor(xs, [19532, 256]);
    const got = (await sumAll(x.mul(x)).toArray())[0];
    let want = 0;
    for (let i = 0; i < n; i++) want += xs[i] * xs[i];
    // positive terms: the f32 tree sum is within a few ulps per level of the exact sum
    expect(Math.abs(got - want) / want).toBeLessThan(1e-5);
  }, 30000);

  test("LAMB32bit steps a 5M-element tensor like the oracle", async () => {
    const fam = familyOf("LAMB");
    const n = 5_000_000;
    const normal = gaussian(11);
    const p0 = filled(n, () => normal() * 0.2);
    const p = await param(p0);
    const opt = new octet.optim.LAMB32bit([p], { ...fam.opts });
    const refP = p0.slice();
    const refS = ref.createState(fam.refName, n, 32);
    for (let t = 1; t <= 2; t++) {
      const g = filled(n, () => normal() * 0.02);
      p.grad = await octet.tensor(g);
      await opt.step();
      fam.rule({ p: refP, g, state: refS, step: t, hp: fam.hp, bits: 32 });
    }
    const w = compare32(await read(p), refP);
    expect(w.bad, `LAMB32bit n=5M params: ${w.first}`).toBe(0);
  }, 60000);
});
