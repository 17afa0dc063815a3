// Compensation buffers beside bf16 weights (the compensation option, optim/compensation.ts): the codecs' bits
// against the plain-TS oracle test/reference/compensation.ts, the optimizer reading p + c and writing both, the
// lost-weight-decay case, adoption, and state-dict round trips with bit-identical buffers.
import { describe, expect, test } from "bun:test";
import { compare32, filled, gaussian, octet, param, read, ref } from "./helpers.ts";
import { COMPENSATION_ORACLES } from "../reference/compensation.ts";
import { bf16Nearest, bf16Value, bitsF32 } from "../reference/bf16.ts";
import { COMPENSATIONS } from "../../src/optim/compensation.ts";
import { bf16ToF32 } from "../../src/ops/bf16.ts";

await octet.device();
const KINDS = ["kahan", "errorbits8"] as const;
const bitsOf = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

/** Values around every rounding case: several scales, powers of two and their neighbours, ties, ±0, ±Inf, NaN. */
function probeValues(): Float32Array {
  const rand = gaussian(21);
  const out: number[] = [0, -0, Infinity, -Infinity, NaN, 1, -1, 3.4e38, -3.4e38, 1e-30, 2 ** -100];
  for (const e of [-20, -3, 0, 1, 7, 30]) for (const d of [-2, -1, 0, 1, 2]) out.push(bitsF32((((e + 127) << 23) >>> 0) + d));
  for (let k = 0; k < 64; k++) out.push(bitsF32(((0x3f80 + k) << 16) | 0x8000), bitsF32(((0x3f80 + k) << 16) | 0x7fff)); // ties and just below
  for (const s of [1e-6, 1e-2, 1, 1e3]) for (let k = 0; k < 200; k++) out.push(rand() * s);
  return Float32Array.from(out);
}

describe("compensation codecs", () => {
  for (const kind of KINDS) {
    test(`${kind}: GPU codes and the weight read back are bit-identical to the oracle`, async () => {
      const v = probeValues();
      const oracle = COMPENSATION_ORACLES[kind];
      const w = COMPENSATIONS[kind].write(await octet.tensor(v));
      const [p, c] = await Promise.all([w.p.toArray(), w.c.toArray()]);
      const back = (await COMPENSATIONS[kind].read(bf16ToF32(w.p), w.c).toArray()) as Float32Array;
      const want = Array.from(v, (x) => oracle.write(x));
      expect(Array.from(p)).toEqual(want.map((x) => x.p));
      expect(Array.from(c)).toEqual(want.map((x) => x.c));
      expect(bitsOf(back)).toEqual(bitsOf(Float32Array.from(want, (x) => oracle.read(x.p, x.c))));
      // what it is for: the weight read back carries ~16 significant bits (bf16 alone: 8, an error up to |v|·2^-9)
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i]) || Math.abs(v[i]) > 1e38) continue;
        expect(Math.abs(back[i] - v[i])).toBeLessThanOrEqual(Math.abs(v[i]) * 2 ** -15);
      }
    });
  }
});

/** `steps` AdamW steps of compensated bf16 weights on the GPU and in the oracle (which splits after each step). */
async function runAdamW(kind: (typeof KINDS)[number], n: number, steps: number) {
  const oracle = COMPENSATION_ORACLES[kind];
  const hp = { lr: 1e-2, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 1e-2 };
  const rand = gaussian(22);
  const p0 = filled(n, rand);
  const p = await param(p0);
  const opt = new octet.optim.AdamW([p], { ...hp, paramDtype: "bf16", gradDtype: "f32", compensation: kind });
  // adoption splits the initial f32 values: the weight the first update reads is p + c, not bf16(p0)
  let split = Array.from(p0, (x) => oracle.write(x));
  const state = ref.createState("adamw", n, 32);
  for (let t = 1; t <= steps; t++) {
    const g = filled(n, rand);
    p.grad = await octet.tensor(g);
    await opt.step();
    const x = Float32Array.from(split, (s) => oracle.read(s.p, s.c));
    ref.adam({ p: x, g, state, step: t, hp, bits: 32 });
    split = Array.from(x, (v) => oracle.write(v));
  }
  return { opt, p, split, oracle };
}

describe("compensation in the optimizer", () => {
  for (const kind of KINDS) {
    test(`${kind}: AdamW reads p + c and writes both, as the oracle (the visible weights are bf16)`, async () => {
      const n = 2 * 256 + 9;
      const { opt, p, split, oracle } = await runAdamW(kind, n, 3);
      const sd = await opt.stateDict();
      const c = sd.state[0].compensation as Uint8Array;
      expect(c.length).toBe(n * oracle.bytes);
      const codes = oracle.bytes === 2 ? new Uint16Array(c.buffer, c.byteOffset, n) : c;
      const got = await read(p);
      const visible = Float32Array.from(split, (s) => bf16Value(s.p));
      const decoded = Float32Array.from({ length: n }, (_, i) => oracle.read(bf16Nearest(got[i]), codes[i]));
      // f32 update math differs from the oracle's in its last bits: the weight read (p + c) within 2^-15 of it, and
      // nearly every bf16 weight bit-identical
      const w = compare32(decoded, Float32Array.from(split, (s) => oracle.read(s.p, s.c)), 2 ** -15);
      expect(w.bad, w.first).toBe(0);
      expect(got.filter((v, i) => Object.is(v, visible[i])).length / n).toBeGreaterThan(0.98);
      expect(opt.logicalStateBytes()).toBe(2 * 4 * n + oracle.bytes * n);
      expect(opt.kernels().every((k) => k.name.includes(`_bf16${kind}`))).toBe(true);
    });
  }

  test("lost weight decay: nearest rounding loses lr·wd = 1e-4 every step; kahan and errorbits8 keep it, kahan even 1e-5", async () => {
    // p = 1, g = 0: each AdamW step multiplies the weight by 1 - lr·wd. bf16's spacing below 1 is 2^-8.
    const n = 512;
    const run = async (compensation: string, wd: number, T: number) => {
      const p = await param(new Float32Array(n).fill(1));
      const opt = new octet.optim.AdamW([p], { lr: 1e-2, weightDecay: wd, paramDtype: "bf16", compensation });
      for (let t = 0; t < T; t++) {
        p.grad = await octet.tensor(new Float32Array(n));
        await opt.step();
      }
      const sd = await opt.stateDict();
      return { visible: await read(p), c: sd.state[0]?.compensation as Uint8Array | undefined };
    };
    const exact = (wd: number, T: number) => Math.fround(1 - Math.fround(1e-2 * wd)) ** T;
    const weight = (kind: (typeof KINDS)[number], r: { visible: Float32Array; c?: Uint8Array }) => {
      const o = COMPENSATION_ORACLES[kind];
      const codes = o.bytes === 2 ? new Uint16Array(r.c!.buffer, r.c!.byteOffset, n) : r.c!;
      return Array.from(r.visible, (v, i) => o.read(bf16Nearest(v), codes[i]));
    };
    const T = 30; // 30 steps of lr·wd = 1e-4: the weight is 0.997, whose nearest bf16 is 1 - 2^-8
    expect((await run("none", 1e-2, T)).visible.every((v) => v === 1)).toBe(true);
    for (const kind of KINDS) {
      const r = await run(kind, 1e-2, T);
      expect(r.visible.every((v) => v === 1 - 2 ** -8)).toBe(true);
      // Each step rounds the error term again: kahan's bf16 c (|c| < 2^-9, so its half ulp is at most 2^-18), or
      // errorbits8's code in steps of ulp(1 - 2^-8)/256 = 2^-16 (half: 2^-17).
      const tol = T * (kind === "kahan" ? 2 ** -18 : 2 ** -17);
      for (const x of weight(kind, r)) expect(Math.abs(x - exact(1e-2, T))).toBeLessThanOrEqual(tol);
    }
    // lr·wd = 1e-5 for 10 steps: below errorbits8's resolution (its 8 bits are lost too), kept by kahan
    const k = await run("kahan", 1e-3, 10);
    expect(k.visible.every((v) => v === 1)).toBe(true);
    for (const x of weight("kahan", k)) {
      expect(Math.abs(x - exact(1e-3, 10))).toBeLessThanOrEqual(10 * 2 ** -21); // |c| < 2^-13: half its ulp < 2^-21
      expect(x).toBeLessThan(1 - 9e-5); // it moved by the 1e-4 of ten decays
    }
    const e = await run("errorbits8", 1e-3, 10);
    expect(weight("errorbits8", e).every((x) => x === 1)).toBe(true);
  });

  test("adoption splits the initial f32 values; data set to the weights it shows keeps the compensation, new values re-split", async () => {
    const n = 300;
    const oracle = COMPENSATION_ORACLES.kahan;
    const v0 = filled(n, gaussian(23));
    const p = await param(v0);
    const opt = new octet.optim.SGD([p], { lr: 0, momentum: 0.9, paramDtype: "bf16", compensation: "kahan" });
    const step = async () => {
      p.grad = await octet.tensor(new Float32Array(n));
      await opt.step();
      const c = (await opt.stateDict()).state[0].compensation as Uint8Array;
      return Array.from(new Uint16Array(c.buffer.slice(c.byteOffset, c.byteOffset + c.length)));
    };
    const first = await step();
    expect(first).toEqual(Array.from(v0, (x) => oracle.write(x).c));
    p.data = await octet.tensor(await read(p)); // the same bf16 values, e.g. a checkpoint's weights loaded back
    expect(await step()).toEqual(first);
    const v1 = filled(n, gaussian(24));
    p.data = await octet.tensor(v1);
    expect(await step()).toEqual(Array.from(v1, (x) => oracle.write(x).c));
    expect(Array.from(await read(p))).toEqual(Array.from(v1, (x) => bf16Value(oracle.write(x).p)));
  });

  test("state dict: the compensation buffer round-trips bit-identically; a dict without one (or another kind) is refused", async () => {
    const n = 4096 + 50; // 8-bit state (min8bitSize 4096) and an odd tail
    const mk = async (compensation: string) => {
      const p = await param(filled(n, gaussian(25)));
      return { p, opt: new octet.optim.AdamW8bit([p], { paramDtype: "bf16", compensation }) };
    };
    const a = await mk("errorbits8");
    for (let t = 0; t < 2; t++) {
      a.p.grad = await octet.tensor(filled(n, gaussian(26 + t)));
      await a.opt.step();
    }
    const sd = await a.opt.stateDict();
    expect(sd.format.compensations).toEqual({ 0: "errorbits8" });
    const b = await mk("errorbits8");
    b.p.data = await octet.tensor(await read(a.p));
    await b.opt.loadStateDict(sd);
    const again = await b.opt.stateDict();
    expect(Array.from(again.state[0].compensation as Uint8Array)).toEqual(Array.from(sd.state[0].compensation as Uint8Array));
    for (const k of ["state1", "state2", "absmax1", "absmax2"]) expect(again.state[0][k]).toEqual(sd.state[0][k]);
    await expect((await mk("kahan")).opt.loadStateDict(sd)).rejects.toThrow('parameter 0 was saved with compensation "errorbits8", this optimizer keeps compensation "kahan" for it');
    await expect((await mk("none")).opt.loadStateDict(sd)).rejects.toThrow('parameter 0 was saved with compensation "errorbits8", this optimizer keeps none for it');
    const plain = await (await mk("none")).opt.stateDict();
    const c = await mk("kahan");
    c.p.grad = await octet.tensor(filled(n, gaussian(30)));
    await c.opt.step();
    const s2 = await c.opt.stateDict();
    await expect(c.opt.loadStateDict({ ...s2, format: { ...s2.format, compensations: undefined } })).rejects.toThrow("was saved with no compensation buffer");
    expect(plain.format.compensations).toBeUndefined();
  });

  test("options are checked: compensation needs bf16 weights and excludes stochastic rounding; unknown kinds", async () => {
    const p = await param(Float32Array.of(1, 2));
    expect(() => new octet.optim.AdamW([p], { compensation: "kahan" })).toThrow('option "compensation" "kahan" keeps what rounding to bf16 drops; it needs paramDtype "bf16"');
    expect(() => new octet.optim.AdamW([p], { paramDtype: "bf16", compensation: "kahan", bf16StochasticRound: true })).toThrow("choose one");
    expect(() => new octet.optim.AdamW([p], { paramDtype: "bf16", compensation: "fp32" })).toThrow('option "compensation": must be one of "none", "kahan", "errorbits8"');
  });
});
