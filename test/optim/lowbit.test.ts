// The 4-bit and FP8 state formats and the blockSize option (issue #10) against the float64 oracle of
// test/reference/lowbit.ts: the maps, the DSL encoders against brute-force nearest code, each new class end to end,
// state dicts that round-trip with bit-identical codes, and the refusals.
import { describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { encodeE4M3, encodeSorted16, packNibbles, unpackNibbles } from "../../src/ops/lowbit.ts";
import { E4M3_MAP, SIGNED_4BIT_MAP, UNSIGNED_4BIT_MAP, nearestThresholds } from "../../src/optim/lowbit-maps.ts";
import * as lb from "../reference/lowbit.ts";
import { f32FromBits, nextDown, nextUp, seededRandom } from "../reference/quant.ts";
import { classOf, compareClose, filled, gaussian, octet, param, read } from "./helpers.ts";
import { deviceTarget } from "../../src/runtime/target.ts";

const f32 = (xs: number[]) => Float32Array.from(xs);

/** Inputs where a sorted map's nearest code changes, their f32 neighbours, and special values, both signs. */
function edges(map: ArrayLike<number>): Float32Array {
  const xs: number[] = [];
  for (let k = 0; k < map.length; k++) {
    const c = Math.fround(map[k]);
    if (!Number.isFinite(c)) continue;
    xs.push(c, nextUp(c), nextDown(c));
    if (k + 1 < map.length && Number.isFinite(map[k + 1])) {
      const m = Math.fround((map[k] + map[k + 1]) / 2);
      xs.push(m, nextUp(m), nextDown(m));
    }
  }
  xs.push(0, f32FromBits(1), 1e-30, 1e-7, nextUp(1), 2, Infinity, NaN);
  const rand = seededRandom(5);
  for (let i = 0; i < 500; i++) xs.push(rand() * 2 - 1);
  return Float32Array.from(xs.concat(xs.map((x) => -x)));
}

async function runMap(name: string, x: Float32Array, f: (x: Tensor) => Tensor): Promise<Uint32Array> {
  const fn = new octet.JitFunction(name, { x: { shape: [x.length] } }, (inp) => ({ q: f(inp.x).cast("u32") }));
  const out = await fn.run({ x: await octet.tensor(x) });
  return (await out.q.toArray()) as Uint32Array;
}

describe("maps", () => {
  test("the 4-bit maps are torch's: create_dynamic_map(True, 3, 4) and linspace(0, 1, 17)[1:] (no zero)", () => {
    expect(Array.from(SIGNED_4BIT_MAP)).toEqual(Array.from(lb.REF_SIGNED_4BIT));
    expect(Array.from(UNSIGNED_4BIT_MAP)).toEqual(Array.from(lb.REF_UNSIGNED_4BIT));
    expect(UNSIGNED_4BIT_MAP.includes(0)).toBe(false);
  });
  test("the E4M3 map is each code's float8_e4m3fn value", () => {
    for (let c = 0; c < 256; c++) expect(Object.is(E4M3_MAP[c], Math.fround(lb.e4m3(c))) || (Number.isNaN(E4M3_MAP[c]) && Number.isNaN(lb.e4m3(c)))).toBe(true);
    expect(E4M3_MAP[0x7e]).toBe(448);
    expect(E4M3_MAP[1]).toBe(2 ** -9);
  });
});

describe("encoders against brute-force nearest code", () => {
  for (const signed of [true, false]) {
    test(`4-bit ${signed ? "signed" : "unsigned"}: encodeSorted16 = argmin |x - map|`, async () => {
      const map = signed ? SIGNED_4BIT_MAP : UNSIGNED_4BIT_MAP;
      const zero = signed ? 7 : 0;
      const x = edges(map);
      const got = await runMap(`enc4_${signed}`, x, (t) => encodeSorted16(t, nearestThresholds(map), zero));
      const bad = Array.from(x).map((v, i) => [v, got[i], lb.nearestSorted(v, map, zero)]).filter(([, g, w]) => g !== w);
      expect(JSON.stringify(bad.slice(0, 5))).toBe("[]");
    });
  }
  test("E4M3: encodeE4M3 = nearest code, ties to even, as .to(float8_e4m3fn)", async () => {
    const vals = Array.from(E4M3_MAP).filter((v) => Number.isFinite(v) && v >= 0);
    const x = edges(vals.sort((a, b) => a - b)).map((v) => (Math.abs(v) > 448 ? Math.sign(v) * 448 : v));
    const got = await runMap("enc_e4m3", x, encodeE4M3);
    const bad = Array.from(x).map((v, i) => [v, got[i], lb.nearestE4M3(v)]).filter(([, g, w]) => g !== w);
    expect(bad.slice(0, 5)).toEqual([]);
  });
  test("packNibbles / unpackNibbles: element 2k in the high nibble (torchao's layout), 8 codes per u32 word", async () => {
    const codes = Uint32Array.from({ length: 3 * 16 }, (_, i) => (i * 7 + 3) & 15);
    const fn = new octet.JitFunction("nibbles", { q: { shape: [3, 16], dtype: "u32" } }, (x) => {
      const bytes = packNibbles(x.q);
      return { bytes, back: unpackNibbles(bytes) };
    });
    const out = await fn.run({ q: await octet.tensor(codes, [3, 16], { dtype: "u32" }) });
    expect(Array.from((await out.bytes.toArray()) as Uint8Array)).toEqual(Array.from(lb.packNibbles(Uint8Array.from(codes), 0)));
    expect(Array.from((await out.back.toArray()) as Uint32Array)).toEqual(Array.from(codes));
  });
});

const hp = { lr: 1e-2, betas: [0.9, 0.999] as [number, number], eps: 1e-8 };

/**
 * `steps` steps of class C on one tensor of n elements against the oracle. Tolerance: the oracle is float64 and the
 * kernel binary32, so a state sitting on a code boundary can round to the neighbouring code: allowed for a few
 * codes per thousand, one code away; the parameters within bnb's 8-bit tolerance.
 */
async function againstOracle(cls: string, format: lb.RefFormat, blockSize: number, n: number, weightDecay: number, options: Record<string, unknown> = {}, shape?: [number, number]) {
  const p0 = filled(n, gaussian(11));
  const p = shape ? new octet.nn.Parameter(await octet.tensor(p0.slice(), shape)) : await param(p0);
  const opt = new (classOf(cls))([p], { ...hp, weightDecay, ...options });
  const pr = Float64Array.from(p0);
  const rank1 = shape && format.name === "fourbit" ? shape : undefined;
  let m = lb.zeroState(n, blockSize);
  let v = lb.zeroState(n, blockSize, rank1);
  for (let t = 1; t <= 3; t++) {
    const g = filled(n, gaussian(100 + t)).map((x, i) => (i % 97 === 5 ? x * 1e-4 : x));
    p.grad = await octet.tensor(g, shape);
    await opt.step();
    ({ m, v } = lb.adamStep(pr, g, m, v, { ...hp, weightDecay }, t, format, blockSize, rank1));
  }
  const sd = await opt.stateDict();
  const e = sd.state[0];
  const unpack = (b: Uint8Array) => (format.name === "fourbit" ? Uint8Array.from({ length: n }, (_, i) => (i & 1 ? b[i >> 1] & 15 : b[i >> 1] >> 4)) : b);
  for (const [codes, want] of [[unpack(e.state1 as Uint8Array), m.codes], [unpack(e.state2 as Uint8Array), v.codes]] as const) {
    let off = 0;
    for (let i = 0; i < n; i++) if (codes[i] !== want[i]) {
      off++;
      expect(Math.abs(codes[i] - want[i])).toBeLessThanOrEqual(format.name === "fp8e4m3" && (codes[i] ^ want[i]) & 0x80 ? 0 : 1);
    }
    expect(off).toBeLessThanOrEqual(Math.ceil(n * 0.003));
  }
  const scales = [e.absmax1 as Float32Array, e.absmax2 as Float32Array];
  [m.scales, v.scales].forEach((s, k) => {
    expect(scales[k].length).toBe(k === 1 && rank1 ? rank1[0] + rank1[1] : Math.ceil(n / blockSize));
    s.forEach((x, b) => expect(Math.abs(scales[k][b] - x)).toBeLessThanOrEqual(1e-5 * x + 1e-30));
  });
  const w = compareClose(await read(p), pr);
  expect(w.first).toBeUndefined();
  expect(sd.format.stateFormats[0]).toBe(format.name);
  expect(sd.format.blockSizes?.[0]).toBe(blockSize);
  expect(sd.format.rank1?.[0]).toEqual(rank1);
  return opt;
}

describe("each new class steps end to end against the float64 oracle", () => {
  test("AdamW4bit: 4-bit codes per block of 128, an odd tail", async () => {
    const opt = await againstOracle("AdamW4bit", lb.REF_FORMATS.fourbit, 128, 4096 + 301, 1e-2);
    expect(opt.kernels().every((k) => k.name.startsWith("adam4bit"))).toBe(true);
  });
  test("Adam4bit", async () => void (await againstOracle("Adam4bit", lb.REF_FORMATS.fourbit, 128, 4096 + 64, 0)));
  test("AdamWFp8: E4M3 codes with a per-block scale absmax / 448", async () => void (await againstOracle("AdamWFp8", lb.REF_FORMATS.fp8e4m3, 256, 4096 + 77, 1e-2)));
  test("AdamFp8 at blockSize 64 and AdamW8bit({ stateFormat: 'fp8e4m3', blockSize: 128 })", async () => {
    await againstOracle("AdamFp8", lb.REF_FORMATS.fp8e4m3, 64, 4096 + 5, 0, { blockSize: 64 });
    await againstOracle("AdamW8bit", lb.REF_FORMATS.fp8e4m3, 128, 4096 + 33, 1e-2, { stateFormat: "fp8e4m3", blockSize: 128 });
  });
  test("AdamW4bit at blockSize 256", async () => void (await againstOracle("AdamW4bit", lb.REF_FORMATS.fourbit, 256, 4096 + 3, 1e-2, { blockSize: 256 })));
  test("AdamW4bit on 2-D weights: rank-1 normalized second moments (R + C maxima), first moments per block", async () => {
    await againstOracle("AdamW4bit", lb.REF_FORMATS.fourbit, 128, 67 * 70, 1e-2, {}, [67, 70]); // 4690: a padded last block
  });
  test("AdamWFp8 on a 2-D weight stays blockwise (rank-1 is the 4-bit format's)", async () => void (await againstOracle("AdamWFp8", lb.REF_FORMATS.fp8e4m3, 256, 67 * 70, 1e-2, {}, [67, 70])));
});

describe("blockSize on bnb's 8-bit format", () => {
  for (const bs of [64, 2048]) {
    test(`AdamW8bit blockSize ${bs}: one absmax per ${bs} elements, each the block's max |m|`, async () => {
      const n = 3 * bs + 4096 + 17;
      const p = await param(filled(n, gaussian(3)));
      const g = filled(n, gaussian(4));
      const opt = new octet.optim.AdamW8bit([p], { blockSize: bs });
      p.grad = await octet.tensor(g);
      await opt.step();
      const sd = await opt.stateDict();
      const am = sd.state[0].absmax1 as Float32Array;
      expect(am.length).toBe(Math.ceil(n / bs));
      const a1 = Math.fround(1 - Math.fround(0.9));
      am.forEach((x, b) => {
        let want = 0;
        for (let i = b * bs; i < Math.min(n, (b + 1) * bs); i++) want = Math.max(want, Math.abs(Math.fround(a1 * g[i])));
        expect(x).toBe(want); // m after one step from 0 is exactly fl(a1 g)
      });
      expect(sd.format.blockSizes?.[0]).toBe(bs);
    });
  }
});

describe("state dicts", () => {
  const cases: [string, Record<string, unknown>, [number, number]?][] = [
    ["AdamW4bit", {}],
    ["AdamW4bit", {}, [67, 70]],
    ["AdamWFp8", {}],
    ["AdamW8bit", { blockSize: 64 }],
    ["AdamW8bit", { blockSize: 2048 }],
  ];
  for (const [cls, opts, shape] of cases)
    test(`${cls} ${JSON.stringify(opts)}${shape ? ` on [${shape}] (rank-1)` : ""}: loadStateDict round-trips with bit-identical codes and scales, and steps on identically`, async () => {
      const n = shape ? shape[0] * shape[1] : 4096 + 129;
      const mk = async (values: Float32Array) => {
        const p = shape ? new octet.nn.Parameter(await octet.tensor(values.slice(), shape)) : await param(values);
        return { p, opt: new (classOf(cls))([p], { lr: 1e-2, ...opts }) };
      };
      const a = await mk(filled(n, gaussian(9)));
      for (let t = 0; t < 2; t++) {
        a.p.grad = await octet.tensor(filled(n, gaussian(20 + t)), shape);
        await a.opt.step();
      }
      const sd = await a.opt.stateDict();
      const b = await mk(await read(a.p));
      await b.opt.loadStateDict(sd);
      const sd2 = await b.opt.stateDict();
      for (const k of ["state1", "state2", "absmax1", "absmax2"]) expect(Array.from(sd2.state[0][k] as ArrayLike<number>)).toEqual(Array.from(sd.state[0][k] as ArrayLike<number>));
      expect(sd2.format).toEqual(sd.format);
      if (shape) expect((sd.state[0].absmax2 as Float32Array).length).toBe(shape[0] + shape[1]);
      // Same parameters and states: the next step is the same bits.
      const g = filled(n, gaussian(30));
      a.p.grad = await octet.tensor(g, shape);
      b.p.grad = await octet.tensor(g, shape);
      await a.opt.step();
      await b.opt.step();
      expect(Array.from(await read(b.p))).toEqual(Array.from(await read(a.p)));
    });

  test("a dict saved with another block size is refused, naming the parameter and both sizes", async () => {
    const n = 5000;
    const p = await param(filled(n, gaussian(1)));
    const a = new octet.optim.AdamWFp8([p], { blockSize: 128 });
    p.grad = await octet.tensor(filled(n, gaussian(2)));
    await a.step();
    const sd = await a.stateDict();
    a.release();
    const b = new octet.optim.AdamWFp8([p]);
    await expect(b.loadStateDict(sd)).rejects.toThrow(/parameter 0 was saved with block size 128, this optimizer quantizes it in blocks of 256 \(option blockSize\)/);
  });

  test("a 4-bit dict is not read as 8-bit state", async () => {
    const n = 5000;
    const p = await param(filled(n, gaussian(1)));
    const a = new octet.optim.AdamW4bit([p]);
    p.grad = await octet.tensor(filled(n, gaussian(2)));
    await a.step();
    const sd = await a.stateDict();
    a.release();
    await expect(new octet.optim.AdamW8bit([p]).loadStateDict(sd)).rejects.toThrow(/saved with fourbit state, this optimizer keeps dynamic8/);
  });
});

describe("options", () => {
  test("a bad blockSize is refused by name", async () => {
    const p = await param(f32([1, 2, 3]));
    expect(() => new octet.optim.AdamW8bit([p], { blockSize: 100 })).toThrow(/AdamW8bit: option "blockSize": must be one of 64, 128, 256, 2048/);
    expect(() => new octet.optim.AdamW4bit([{ params: [p], blockSize: 512 }])).toThrow(/AdamW4bit param group 0: option "blockSize"/);
    expect(() => new octet.optim.AdamW8bit([p], { stateFormat: "int4" })).toThrow(/option "stateFormat"/);
  });
  test("AdEMAMix with fourbit state at WebGPU's minimum of 8 storage buffers is refused (its 3 states' codes have no shared 4-bit layout), changing nothing", async () => {
    // p, g, 3 x (codes + absmax), the packed table: 9 buffers. 8-bit states share one codes word per element
    // there (trace.ts packsCodes); 4-bit codes, two per byte, do not, so the step is refused rather than misread.
    const v = filled(4096 + 5, gaussian(3));
    const p = await param(v);
    const opt = new octet.optim.AdEMAMix8bit([p], { stateFormat: "fourbit", target: { ...deviceTarget(), maxStorageBuffers: 8 } });
    p.grad = await octet.tensor(filled(v.length, gaussian(4)));
    await expect(opt.step()).rejects.toThrow("ademamix with fourbit state binds 9 storage buffers, this device allows 8; use an 8-bit stateFormat or 32-bit state");
    expect(await read(p)).toEqual(v);
    expect(opt.stateBytes()).toBe(0);
  });
  test("a rank-1 4-bit state moved to 32-bit (optimBits 32 after the first step) is its exact dequantization", async () => {
    const [R, C] = [67, 70];
    const p = new octet.nn.Parameter(await octet.tensor(filled(R * C, gaussian(1)), [R, C]));
    const opt = new octet.optim.AdamW4bit([p]);
    p.grad = await octet.tensor(filled(R * C, gaussian(2)), [R, C]);
    await opt.step();
    const before = await opt.stateDict();
    opt.paramGroups[0].optimBits = 32;
    p.grad = null; // no step: the migration happens, the states stay
    await opt.step();
    const after = await opt.stateDict();
    expect(after.format.stateFormats[0]).toBe("f32");
    const codes = before.state[0].state2 as Uint8Array;
    const mx = before.state[0].absmax2 as Float32Array;
    const want = Float32Array.from({ length: R * C }, (_, i) => {
      const q = i & 1 ? codes[i >> 1] & 15 : codes[i >> 1] >> 4;
      return Math.fround(lb.REF_UNSIGNED_4BIT[q] * Math.min(mx[Math.floor(i / C)], mx[R + (i % C)]));
    });
    expect(Array.from(after.state[0].state2 as Float32Array)).toEqual(Array.from(want));
  });
  test("a blockSize change after the first step carries the state over (re-quantized through f32)", async () => {
    const n = 5000;
    const p = await param(filled(n, gaussian(1)));
    const opt = new octet.optim.AdamW8bit([p], { stateFormat: "fp8e4m3" });
    p.grad = await octet.tensor(filled(n, gaussian(2)));
    await opt.step();
    const before = await opt.stateDict();
    opt.paramGroups[0].blockSize = 64;
    p.grad = await octet.tensor(new Float32Array(n)); // g = 0: m <- b1 m, so the carried state is visible
    await opt.step();
    const after = await opt.stateDict();
    expect(after.format.blockSizes?.[0]).toBe(64);
    expect((after.state[0].absmax1 as Float32Array).length).toBe(Math.ceil(n / 64));
    const dq = (sd: typeof before, bs: number) => Float64Array.from(sd.state[0].state1 as Uint8Array, (q, i) => lb.e4m3(q) * (sd.state[0].absmax1 as Float32Array)[Math.floor(i / bs)]);
    const [m0, m1] = [dq(before, 256), dq(after, 64)];
    for (let i = 0; i < n; i += 7) expect(Math.abs(m1[i] - 0.9 * m0[i])).toBeLessThanOrEqual(0.07 * Math.abs(m0[i]) + 1e-12);
  });
});
