// The portable binary16 rounding (for runtimes without Math.f16round) against the runtime's own Math.f16round.
import { describe, expect, test } from "bun:test";
import { f16roundPortable } from "../../src/dsl/f16round.ts";

const native = (Math as unknown as { f16round?: (x: number) => number }).f16round;

describe("f16roundPortable", () => {
  test.skipIf(!native)("equals Math.f16round on edges, ties, subnormals and random values", () => {
    const edges = [0, -0, NaN, Infinity, -Infinity, 65504, 65519.99, 65520, 65536, 1e9, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -26, 2 ** -14, 2 ** -14 - 2 ** -25, 1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -40, 2048 + 1, 2048 + 3, 0.1, 1 / 3];
    const values = [...edges, ...edges.map((v) => -v)];
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 20000; i++) values.push((rand() - 0.5) * 2 ** (Math.floor(rand() * 44) - 28));
    // Every binary16 value and the midpoints between neighbours (the ties).
    for (let bits = 0; bits < 0x7c00; bits++) {
      const e = bits >> 10, m = bits & 1023;
      const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
      const ulp = e === 0 ? 2 ** -24 : 2 ** (e - 25);
      values.push(v, v + ulp / 2, v + ulp / 2 + ulp / 1024);
    }
    const wrong = values.filter((v) => !Object.is(f16roundPortable(v), native!(v)));
    expect(wrong.slice(0, 5)).toEqual([]);
  });
});
