// Plain-TS oracle of the compensation buffers (src/optim/compensation.ts), from their definitions:
//   kahan       p = bf16(v) to nearest even, c = bf16(v - p) (0 when p is not finite); the weight read is p + c.
//   errorbits8  p = bf16(v); rho = round_half_even((v - p) / (ulp(p) / 256)) clamped to [-128, 127] (0 when v or p
//               is not finite), stored as rho + 128; the weight read is p + rho · ulp(p) / 256. ulp(p) is
//               2^(e - 127 - 7) for p's biased exponent e, taken as at least 16 (ulp / 256 >= 2^-126).
// Binary32 arithmetic (Math.fround) where the GPU rounds.
import { bf16Nearest, bf16Value, f32Bits } from "./bf16.ts";

const fl = Math.fround;

export function kahanWrite(v: number): { p: number; c: number } {
  const p = bf16Nearest(v);
  const pf = bf16Value(p);
  return { p, c: Number.isFinite(pf) ? bf16Nearest(fl(fl(v) - pf)) : 0 };
}
export const kahanRead = (p: number, c: number): number => fl(bf16Value(p) + bf16Value(c));

/** ulp(p) / 256 of a bf16 value p (as f32), a power of two. */
function ulpOver256(pf: number): number {
  const e = Math.max((f32Bits(pf) >>> 23) & 0xff, 16);
  return 2 ** (e - 127 - 15);
}
const roundHalfEven = (x: number): number => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

export function errorBits8Write(v: number): { p: number; c: number } {
  v = fl(v);
  const p = bf16Nearest(v);
  const pf = bf16Value(p);
  if (!Number.isFinite(pf) || !Number.isFinite(v)) return { p, c: 128 };
  const rho = Math.min(127, Math.max(-128, roundHalfEven(fl(v - pf) / ulpOver256(pf))));
  return { p, c: rho + 128 };
}
export const errorBits8Read = (p: number, c: number): number => {
  const pf = bf16Value(p);
  return fl(pf + (c - 128) * ulpOver256(pf));
};

export const COMPENSATION_ORACLES = {
  kahan: { write: kahanWrite, read: kahanRead, bytes: 2 },
  errorbits8: { write: errorBits8Write, read: errorBits8Read, bytes: 1 },
} as const;
