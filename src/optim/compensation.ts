// Compensation buffers (the `compensation` option, with paramDtype "bf16"): a storage format of their own, one
// more buffer beside the bf16 parameter arena that keeps what rounding to bf16 drops, so the update reads an
// (almost) f32 weight without an f32 master copy. The optimizer's math does not change: it reads
// read(p, c) as its f32 parameter and returns an f32 value v, which write(v) splits into the new (p, c).
//   kahan       a bf16 error term, 2 bytes per parameter: p = bf16(v), c = bf16(v - p). v - p is exact in f32
//               (Sterbenz: p is v rounded), and p + c is exact too (c < ulp(p)/2 has 8 significant bits), so
//               the weight carries ~16 significant bits. With lr·wd = 1e-5 a weight of 1 decays as in f32.
//   errorbits8  FlashOptim's master-weight split (Gonzalez Ortiz et al. 2026, arXiv 2602.23349 §3): an 8-bit
//               code of the rounding error in units of p's ulp, 1 byte per parameter. FlashOptim stores
//               rho = round(127 · clip(e / (ulp/2), -1, 1)); octet's step is a power of two, ulp/256
//               (rho = clamp(round(e · 256 / ulp), -128, 127)), so both directions are exact in f32 on every GPU
//               (no division, and p + rho · ulp/256 fits 24 bits, whatever a compiler contracts). 8 extra
//               bits: an update as small as ulp/512 (1e-5 of a weight near 1 is 2.6e-3 ulp) is still lost.
// Non-finite weights keep a zero error term (Inf - Inf would be NaN). test/reference/compensation.ts is the
// plain-TS oracle of both.
import { Tensor } from "../dsl/tensor.ts";
import { bf16ToF32, f32ToBf16 } from "../ops/bf16.ts";

export type CompensationName = "none" | "kahan" | "errorbits8";

export interface Compensation {
  name: Exclude<CompensationName, "none">;
  /** dtype of the compensation buffer's elements (and of its state-dict bytes: 2 per element for u16, 1 for u8). */
  storage: "u16" | "u8";
  /** The f32 weight the update reads: p, the stored bf16 weight as f32, plus the stored error c. */
  read(p: Tensor, c: Tensor): Tensor;
  /** The new bf16 codes and error term of f32 value v. */
  write(v: Tensor): { p: Tensor; c: Tensor };
}

/** ulp / 256 of a bf16 value from its f32 bits, exact: its ulp is 2^(exp - 127 - 7), so the exponent field is exp - 15 (at least 2^-126). */
function ulpOver256(pBits: Tensor): Tensor {
  const exp = pBits.shr(23).and(0xff).maximum(16);
  return exp.sub(15).shl(23).bitcast("f32");
}
/** 256 / ulp of the same value, exact: 2^(127 + 15 - exp), whose exponent field is 269 - exp. */
function invUlpOver256(pBits: Tensor): Tensor {
  const exp = pBits.shr(23).and(0xff).maximum(16);
  return Tensor.const(269, "u32").sub(exp).shl(23).bitcast("f32");
}

export const COMPENSATIONS: Record<Exclude<CompensationName, "none">, Compensation> = {
  kahan: {
    name: "kahan",
    storage: "u16",
    read: (p, c) => p.add(bf16ToF32(c)),
    write: (v) => {
      const p = f32ToBf16(v);
      const pf = bf16ToF32(p);
      return { p, c: f32ToBf16(pf.isfinite().where(v.sub(pf), 0)) };
    },
  },
  errorbits8: {
    name: "errorbits8",
    storage: "u8",
    read: (p, c) => p.add(c.cast("f32").sub(128).mul(ulpOver256(p.bitcast("u32")))),
    write: (v) => {
      const p = f32ToBf16(v);
      const pf = bf16ToF32(p);
      const units = v.sub(pf).mul(invUlpOver256(pf.bitcast("u32"))).round().clamp(-128, 127);
      const rho = pf.isfinite().and(v.isfinite()).where(units, 0);
      return { p, c: rho.add(128).cast("u8") };
    },
  },
};

/** Bytes per element of a compensation buffer as a checkpoint holds it. */
export const compensationBytes = (c: Compensation): number => (c.storage === "u16" ? 2 : 1);
