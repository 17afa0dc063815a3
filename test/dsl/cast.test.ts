// Value casts and bitcasts on the GPU, against WGSL's conversion rules written out here, and the
// interpreter's evalCast against the same rules.
import { describe, expect, test } from "bun:test";
import type { DType } from "../../src/dsl/dtype.ts";
import { evalCast } from "../../src/dsl/prims.ts";
import { DslError, Tensor } from "../../src/dsl/tensor.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { device, deviceInfo } from "../../src/runtime/device.ts";

await device();
const HAS_F16 = deviceInfo().hasF16;

const F32 = [0, -0, 1, -1, 1.5, -1.5, 2.5, -2.7, 255.9, 256, 300, -300, Infinity, -Infinity, NaN, 1e-40, 3e9, -3e9,
  2147483520, 2147483648, 4294967040, 4294967296, 16777217].map(Math.fround);
const F16 = [0, -0, 1, -1.5, 2.5, 300, Infinity, -Infinity, NaN, 65504, -65504, 1e-7].map(Math.f16round);
const I32 = [0, 1, -1, 255, 256, -256, 16777217, 2147483647, -2147483648];
const U32 = [0, 1, 255, 256, 16777217, 2147483648, 4294967295];
const U8 = [0, 1, 127, 128, 255];
const BOOL = [0, 1];

/**
 * WGSL's float -> integer rule: truncate, then clamp to the target range as far as the source type can
 * represent it (f32: i32 max 2^31 - 128, u32 max 2^32 - 256; f16: +-65504). NaN is indeterminate in WGSL;
 * octet pins it to 0. u8 is the low byte of the u32 conversion.
 */
function floatToInt(v: number, from: DType, to: DType): number {
  if (Number.isNaN(v)) return 0;
  const t = Math.trunc(v);
  const max = from === "f16" ? 65504 : to === "i32" ? 2 ** 31 - 128 : 2 ** 32 - 256;
  const min = to === "i32" ? (from === "f16" ? -65504 : -(2 ** 31)) : 0;
  const c = Math.min(max, Math.max(min, t));
  return to === "u8" ? c % 256 : c;
}
function want(v: number, from: DType, to: DType): number {
  if (to === "bool") return v !== 0 ? 1 : 0; // NaN -> true: only +-0 are false
  const isF = (d: DType) => d === "f32" || d === "f16";
  if (to === "f32") return Math.fround(v);
  if (to === "f16") return Math.f16round(v);
  if (isF(from)) return floatToInt(v, from, to);
  // integer -> integer keeps the bits (two's complement); u8 keeps the low byte.
  if (to === "i32") return v | 0;
  if (to === "u32") return v >>> 0;
  return v & 255;
}

const CASES: [DType, number[], DType[]][] = [
  ["f32", F32, ["i32", "u32", "u8", "bool", "f16"]],
  ["f16", F16, ["f32", "i32", "u32", "u8", "bool"]],
  ["i32", I32, ["f32", "u32", "u8", "bool", "f16"]],
  ["u32", U32, ["f32", "i32", "u8", "bool"]],
  ["u8", U8, ["f32", "i32", "u32", "bool"]],
  ["bool", BOOL, ["f32", "i32", "u32"]],
];
const same = (a: number, b: number) => Object.is(a, b) || (a === 0 && b === 0);

describe("cast", () => {
  for (const [from, values, tos] of CASES) {
    for (const to of tos) {
      test.skipIf((from === "f16" || to === "f16") && !HAS_F16)(`${from} -> ${to}`, async () => {
        // 4k + 3 elements (a vec4 tail), cycling through the edge values.
        const n = Math.ceil((values.length + 1) / 4) * 4 + 3;
        const xs = Array.from({ length: n }, (_, i) => values[i % values.length]);
        const got = await (await tensor(xs, [n], { dtype: from })).cast(to).toArray();
        const bad: string[] = [];
        for (let i = 0; i < values.length; i++) {
          const w = want(xs[i], from, to);
          if (!same(Number(got[i]), w)) bad.push(`GPU ${from}->${to} ${xs[i]}: ${got[i]}, want ${w}`);
          const e = evalCast(xs[i], from, to);
          if (!same(e, w)) bad.push(`evalCast ${from}->${to} ${xs[i]}: ${e}, want ${w}`);
        }
        expect(bad).toEqual([]);
      });
    }
  }

  test("casting to the same dtype is the same tensor", () => {
    const x = Tensor.input(0, "x", [3]);
    expect(x.cast("f32")).toBe(x);
  });
});

describe("bitcast", () => {
  const dv = new DataView(new ArrayBuffer(4));
  const asF32 = (u: number) => (dv.setUint32(0, u), dv.getFloat32(0));
  // Quiet and signalling NaNs with payloads, both infinities, subnormals, -0: every bit pattern survives.
  const BITS = [0x7fc00000, 0xffc00000, 0x7fc00001, 0x7f800001, 0x7f800000, 0xff800000, 0x00000001, 0x80000001, 0x007fffff, 0x80000000, 0x3f800000, 0xdeadbeef];

  test("u32 -> f32 -> u32 keeps every bit pattern, through an f32 buffer", async () => {
    const f = await (await tensor(Uint32Array.from(BITS))).bitcast("f32").realize();
    const back = await f.bitcast("u32").toArray();
    expect(Array.from(back)).toEqual(BITS);
    const vals = await f.toArray();
    BITS.forEach((b, i) => expect(same(vals[i], asF32(b)) || (Number.isNaN(vals[i]) && Number.isNaN(asF32(b)))).toBe(true));
  });

  test("f32 <-> i32 <-> u32 reinterpret the bits", async () => {
    const xs = [1, -1, 0.5, -0, 1e-40, 3e38].map(Math.fround);
    const x = await tensor(xs);
    const i = await x.bitcast("i32").toArray();
    const u = await x.bitcast("i32").bitcast("u32").toArray();
    xs.forEach((v, k) => {
      dv.setFloat32(0, v);
      expect(i[k]).toBe(dv.getInt32(0));
      expect(u[k]).toBe(dv.getUint32(0));
    });
  });

  test("only between f32, i32 and u32", () => {
    const b = Tensor.input(0, "b", [3], "bool");
    expect(() => b.bitcast("u32")).toThrow(DslError);
    expect(() => b.bitcast("u32")).toThrow("Tensor.bitcast: only between f32, i32 and u32, not bool -> u32");
  });
});

describe("NaN and finiteness tests", () => {
  // x.ne(x) cannot find NaN on Dawn's Vulkan path (an ordered !=): isnan and isfinite look at the bits.
  test("isnan and isfinite, on the GPU and with odd tails", async () => {
    const xs = [NaN, 1, Infinity, -Infinity, -0, 3e38, 1e-40, -NaN, 7];
    const x = await tensor(xs);
    expect(Array.from(await x.isnan().toArray())).toEqual(xs.map((v) => +Number.isNaN(v)));
    expect(Array.from(await x.isfinite().toArray())).toEqual(xs.map((v) => +Number.isFinite(v)));
    const i = await tensor(Int32Array.from([0, -1, 2147483647]));
    expect(Array.from(await i.isnan().toArray())).toEqual([0, 0, 0]);
  });
});
