// stateFormat "companded8" (issue #9 item 3; FlashOptim's companding, test/reference/companded.md) against the
// plain-TS oracle of test/reference/companded.ts: the DSL encoder and decoder bit for bit against its binary32
// codec, that codec against the float64 brute-force nearest grid point, every 8-bit class end to end against the
// optimizer oracle run with that codec, the blockSize option, state dicts with bit-identical codes, and refusals.
import { describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { COMPANDED_SIGNED_MAP, COMPANDED_UNSIGNED_MAP, decodeCompanded, encodeCompanded } from "../../src/optim/companded.ts";
import { deviceTarget } from "../../src/runtime/target.ts";
import * as cp from "../reference/companded.ts";
import { nextDown, nextUp, seededRandom } from "../reference/quant.ts";
import { FAMILIES, absmaxRel, classOf, compareClose, compareCodes, filled, gaussian, octet, param, read, ref, type Family } from "./helpers.ts";

const fl = Math.fround;

/** Inputs (already divided by the scale) where the nearest code changes, their f32 neighbours, and special values. */
function edges(signed: boolean): Float32Array {
  const xs: number[] = [];
  const steps = signed ? 127 : 255;
  for (let c = signed ? -127 : 0; c < steps; c++) {
    for (const y of [c / steps, (c + 0.5) / steps]) {
      const x = fl(cp.expand(y, signed)); // the state whose companded value is the grid point or the tie
      xs.push(x, nextUp(x), nextDown(x));
    }
  }
  xs.push(0, -0, 1, nextDown(1), 1e-30, 1e-7, NaN);
  if (signed) xs.push(-1, nextUp(-1), -1e-30);
  const rand = seededRandom(signed ? 3 : 4);
  for (let i = 0; i < 2000; i++) xs.push(signed ? rand() * 2 - 1 : rand());
  for (let i = 0; i < 500; i++) xs.push((signed && rand() < 0.5 ? -1 : 1) * 10 ** (-8 * rand()));
  return Float32Array.from(xs.filter((x) => signed || !(x < 0)));
}

async function runEncode(x: Float32Array, signed: boolean): Promise<Uint32Array> {
  const fn = new octet.JitFunction(`companded_enc_${signed}`, { x: { shape: [x.length] } }, (inp) => ({ q: encodeCompanded(inp.x, signed) }));
  return (await (await fn.run({ x: await octet.tensor(x) })).q.toArray()) as Uint32Array;
}

describe("the grid and its binary32 codec against float64", () => {
  for (const signed of [true, false])
    test(`${signed ? "signed" : "unsigned"}: each code's value within 1 ulp of FlashOptim's inverse, the map is the kernels' decode`, () => {
      const map = signed ? COMPANDED_SIGNED_MAP : COMPANDED_UNSIGNED_MAP;
      for (let k = 0; k < 256; k++) {
        expect(map[k]).toBe(cp.decode32(k, signed));
        const want = cp.decode64(k, signed);
        expect(Math.abs(map[k] - want)).toBeLessThanOrEqual(Math.abs(nextUp(fl(want)) - fl(want)));
      }
      for (let k = 1; k < 256; k++) expect(map[k]).toBeGreaterThan(map[k - 1]);
      expect(map[signed ? 127 : 0]).toBe(0);
      expect(map[signed ? 254 : 255]).toBe(1);
      if (signed) expect(map[0]).toBe(-1);
    });

  for (const signed of [true, false])
    test(`${signed ? "signed" : "unsigned"}: encode32 is the brute-force nearest code on the companded grid, ties aside`, () => {
      let nearTies = 0;
      for (const x of edges(signed)) {
        if (Number.isNaN(x)) continue;
        const got = cp.encode32(x, signed);
        const { code, margin } = cp.nearest64(x, signed);
        if (got === code) continue;
        // Only where the companded value is within binary32 rounding of a tie between two codes.
        expect(margin, `x = ${x}: code ${got}, nearest ${code}`).toBeLessThan(1e-4);
        expect(Math.abs(got - code)).toBe(1);
        nearTies++;
      }
      // the edges hold a tie per code (and its neighbours): some land on either side, most agree
      expect(nearTies).toBeLessThan(signed ? 254 : 255);
    });
});

describe("the DSL codec on the GPU against the oracle", () => {
  for (const signed of [true, false])
    test(`encodeCompanded (${signed ? "signed" : "unsigned"}) gives encode32's codes bit for bit; NaN -> the zero code`, async () => {
      const x = edges(signed);
      const got = await runEncode(x, signed);
      const bad = Array.from(x).flatMap((v, i) => (got[i] === cp.encode32(v, signed) ? [] : [[v, got[i], cp.encode32(v, signed)]]));
      expect(JSON.stringify(bad.slice(0, 5))).toBe("[]");
      expect(got[Array.from(x).findIndex(Number.isNaN)]).toBe(signed ? 127 : 0);
    });

  test("decodeCompanded: every code at several scales is fl(decode32(k) · scale), bit for bit", async () => {
    const scales = Float32Array.from([1, 0, 3.7e-5, 123.25, 1e-30, 2.5e30]);
    const codes = Uint8Array.from({ length: scales.length * 256 }, (_, i) => i & 255);
    for (const signed of [true, false]) {
      const fn = new octet.JitFunction(`companded_dec_${signed}`, { c: { shape: [scales.length, 256], dtype: "u8" }, s: { shape: [scales.length, 1] } }, (inp) => ({ v: decodeCompanded(inp.c, inp.s, signed) }));
      const out = await fn.run({ c: await octet.tensor(codes, [scales.length, 256], { dtype: "u8" }), s: await octet.tensor(scales, [scales.length, 1]) });
      const v = (await out.v.toArray()) as Float32Array;
      const want = Float32Array.from(codes, (k, i) => cp.COMPANDED.decode(k, scales[i >> 8], signed));
      expect(Array.from(v)).toEqual(Array.from(want));
    }
  });

  test("the kernels read no table: the update binds no lookup buffer and its WGSL indexes no map", async () => {
    const n = 4096 + 7;
    const p = await param(filled(n, gaussian(1)));
    const opt = new octet.optim.AdamW8bit([p], { stateFormat: "companded8" });
    p.grad = await octet.tensor(filled(n, gaussian(2)));
    await opt.step();
    const [k] = opt.kernels();
    expect(k.name).toBe("adam8bit_companded");
    // p, g, codes and absmax of m and v: nothing else (dynamic8 also binds its packed table buffer)
    expect((k.bindings as { name: string }[]).map((b) => b.name).sort()).toEqual(["g", "m_absmax", "m_codes", "p", "v_absmax", "v_codes"]);
    expect(k.wgsl).not.toMatch(/qmap|thresholds|mids|packed\[/);
    opt.release();
  });
});

const STEPS = 5;
const N = 4096 + 300; // 17 blocks of 256 + a ragged tail

/** `STEPS` steps of `${fam.base}8bit` with companded8 state and of the oracle with the COMPANDED codec. */
async function againstOracle(fam: Family, opts: Record<string, unknown> = {}) {
  const normal = gaussian(17);
  const p0 = filled(N, () => normal() * 0.2);
  const p = await param(p0);
  const opt = new (classOf(`${fam.base}8bit`))([p], { ...fam.opts, stateFormat: "companded8", ...opts });
  const rp = p0.slice();
  const rs = ref.createState(fam.refName, N, 8) as ref.State8;
  for (let t = 1; t <= STEPS; t++) {
    const g = filled(N, () => normal() * 0.02);
    p.grad = await octet.tensor(g);
    await opt.step();
    fam.rule({ p: rp, g, state: rs, step: t, hp: fam.hp, bits: 8, codec: cp.COMPANDED });
  }
  const sd = await opt.stateDict();
  const e = sd.state[0];
  expect(sd.format.stateFormats[0]).toBe("companded8");
  for (const [k, ak] of [["state1", "absmax1"], ["state2", "absmax2"]] as const) {
    if (!rs[k]) continue;
    const c = compareCodes(e[k] as Uint8Array, rs[k]!);
    expect(c.worse, `${fam.base} ${k}: ${c.first}`).toBe(0);
    expect(c.offByOne, `${fam.base} ${k} off by one`).toBeLessThanOrEqual(Math.floor(c.n * 0.001));
    expect(absmaxRel(e[ak] as Float32Array, rs[ak]!), `${fam.base} ${ak}`).toBeLessThanOrEqual(1e-6);
  }
  const w = compareClose(await read(p), rp);
  expect(w.bad, `${fam.base} params: ${w.first}`).toBe(0);
  expect(opt.kernels().every((k) => k.name.includes("8bit_companded"))).toBe(true);
  opt.release();
}

describe("every 8-bit class steps end to end against the oracle with companded states", () => {
  for (const fam of FAMILIES) test(`${fam.base}8bit({ stateFormat: "companded8" })`, async () => void (await againstOracle(fam)));
  test("AdEMAMix8bit at 8 storage buffers: three states' codes share one packed word buffer", async () => {
    await octet.device();
    await againstOracle(FAMILIES.find((f) => f.base === "AdEMAMix")!, { target: { ...deviceTarget(), maxStorageBuffers: 8 } });
  });
});

describe("blockSize", () => {
  for (const bs of [64, 2048])
    test(`AdamW8bit companded8 blockSize ${bs}: one scale per ${bs} elements (max |m|, max v), first-step codes as the oracle's`, async () => {
      const n = 3 * bs + 4096 + 17;
      const p = await param(filled(n, gaussian(3)));
      const g = filled(n, gaussian(4));
      const opt = new octet.optim.AdamW8bit([p], { stateFormat: "companded8", blockSize: bs });
      p.grad = await octet.tensor(g);
      await opt.step();
      const sd = await opt.stateDict();
      expect(sd.format.blockSizes?.[0]).toBe(bs);
      const e = sd.state[0];
      // From zero state, step 1: m = fl(a1 g), v = fl(fl(a2 g) g) exactly.
      const [a1, a2] = [fl(1 - fl(0.9)), fl(1 - fl(0.999))];
      const m = Float32Array.from(g, (x) => fl(a1 * x));
      const v = Float32Array.from(g, (x) => fl(fl(a2 * x) * x));
      for (const [vals, codes, absmax, signed] of [[m, e.state1, e.absmax1, true], [v, e.state2, e.absmax2, false]] as const) {
        expect((absmax as Float32Array).length).toBe(Math.ceil(n / bs));
        const am = (absmax as Float32Array).map((_, b) => vals.slice(b * bs, (b + 1) * bs).reduce((a, x) => Math.max(a, Math.abs(x)), 0));
        expect(Array.from(absmax as Float32Array)).toEqual(Array.from(am));
        const want = Uint8Array.from(vals, (x, i) => cp.COMPANDED.encode(x, am[Math.floor(i / bs)], signed));
        expect(compareCodes(codes as Uint8Array, want).offByOne + compareCodes(codes as Uint8Array, want).worse).toBe(0);
      }
      opt.release();
    });
});

describe("state dicts and refusals", () => {
  for (const [cls, opts] of [["AdamW8bit", {}], ["Lion8bit", { blockSize: 64 }], ["AdEMAMix8bit", {}]] as const)
    test(`${cls} ${JSON.stringify(opts)}: loadStateDict round-trips with bit-identical codes and scales, and steps on identically`, async () => {
      const n = 4096 + 129;
      const mk = async (values: Float32Array) => {
        const p = await param(values);
        return { p, opt: new (classOf(cls))([p], { lr: 1e-3, stateFormat: "companded8", ...opts }) };
      };
      const a = await mk(filled(n, gaussian(9)));
      for (let t = 0; t < 2; t++) {
        a.p.grad = await octet.tensor(filled(n, gaussian(20 + t)));
        await a.opt.step();
      }
      const sd = await a.opt.stateDict();
      const b = await mk(await read(a.p));
      await b.opt.loadStateDict(sd);
      const sd2 = await b.opt.stateDict();
      for (const k of ["state1", "state2", "absmax1", "absmax2"]) expect(Array.from((sd2.state[0][k] ?? []) as ArrayLike<number>)).toEqual(Array.from((sd.state[0][k] ?? []) as ArrayLike<number>));
      expect(sd2.format).toEqual(sd.format);
      const g = filled(n, gaussian(30));
      a.p.grad = await octet.tensor(g);
      b.p.grad = await octet.tensor(g);
      await a.opt.step();
      await b.opt.step();
      expect(Array.from(await read(b.p))).toEqual(Array.from(await read(a.p)));
      a.opt.release();
      b.opt.release();
    });

  test("a companded8 dict is not read as dynamic8 state (same bytes, another meaning)", async () => {
    const p = await param(filled(5000, gaussian(1)));
    const a = new octet.optim.AdamW8bit([p], { stateFormat: "companded8" });
    p.grad = await octet.tensor(filled(5000, gaussian(2)));
    await a.step();
    const sd = await a.stateDict();
    a.release();
    await expect(new octet.optim.AdamW8bit([p]).loadStateDict(sd)).rejects.toThrow(/saved with companded8 state, this optimizer keeps dynamic8/);
  });

  test("moved to 32-bit after a step (optimBits 32), a companded state is its exact decode fl(map[k] · absmax)", async () => {
    const n = 5000;
    const p = await param(filled(n, gaussian(1)));
    const opt = new octet.optim.AdamW8bit([p], { stateFormat: "companded8" });
    p.grad = await octet.tensor(filled(n, gaussian(2)));
    await opt.step();
    const before = (await opt.stateDict()).state[0];
    opt.paramGroups[0].optimBits = 32;
    p.grad = null; // no step: the migration happens, the states stay
    await opt.step();
    const after = await opt.stateDict();
    expect(after.format.stateFormats[0]).toBe("f32");
    for (const [k, ak, signed] of [["state1", "absmax1", true], ["state2", "absmax2", false]] as const) {
      const codes = before[k] as Uint8Array;
      const am = before[ak] as Float32Array;
      expect(Array.from(after.state[0][k] as Float32Array)).toEqual(Array.from(codes, (q, i) => cp.COMPANDED.decode(q, am[i >> 8], signed)));
    }
    opt.release();
  });

  test("refused where it cannot apply: a class that fixes its format, Muon (its own states), an unknown format", async () => {
    const p = await param(filled(5000, gaussian(1)));
    expect(() => new octet.optim.AdamW4bit([p], { stateFormat: "companded8" })).toThrow(/conflicts with the class, which always has stateFormat "fourbit"/);
    expect(() => new octet.optim.Muon8bit([p], { stateFormat: "companded8" } as never)).toThrow(/unknown option "stateFormat"/);
    expect(() => new octet.optim.AdamW8bit([p], { stateFormat: "companded4" })).toThrow(/option "stateFormat"/);
  });
});
