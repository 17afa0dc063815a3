// A fast, exact encoder for the dynamic maps, written so that every line is one cheap WGSL operation.
//
// It returns the same code as bnb's search (bnb-algorithms.md §1.3): the nearest code as decided by the f32 midpoints
// fl(fl(c[k] + c[k+1]) · 0.5), an exact tie going to the even index, NaN -> 0, above 1 -> 255, below c[0] -> 0.
// The sign fix is separate (signFixFast below). The reference it is tested against is a brute-force scan
// (test/reference/quant.ts).
//
// Why it works. Positive codes come in 7 decades (§1.1): decade d (d = 0..6) holds K_d = 2^(d+r) codes, r = 0 signed,
// r = 1 unsigned, linearly spaced: code j = 10^(d-6) · (0.1 + 0.9·(j + 1/2)/K_d), j = 0..K_d-1. So with
//     y = a · A_d - K_d/9,   A_d = K_d / (0.9 · 10^(d-6)),
// code j owns y in [j, j+1), except at the edges: a decade's first code starts at y = 0.2 (the gap from the decade
// below), its last ends at y = K_d + 1, and code 254 ends at y = K_6 - 1/4 (code 255 is 1.0). The map's f32 rounding
// moves these boundaries by under 2e-5 in y, so
//     j = clamp(floor(y - 1/2), -1, K_d - 1)
// is, for every a, either the code or the code just below it, with a margin of at least 1/4 in y. One comparison of
// bits(a) against a tie-aware threshold table then decides between j and j+1 exactly. Exactness comes from that
// comparison against the real map; the arithmetic only has to be good to 1/4 of a code (an FMA, or WGSL's
// imprecise float ops, change nothing). test/optim/encoder.test.ts checks the "code or one below" claim at every
// point where either side changes, and a one-off run over all 2^30 f32 in [0, 2] (both maps; the signed negatives
// through the mirror identity) agreed with brute force everywhere.
//
// 1. |x| is handled on its bit pattern: non-negative f32 values order like their u32 bits, so the decade test and
//    the final decision are integer compares. WGSL lets implementations assume no NaN/Inf and flush subnormals in
//    float math, so NaN is detected on the bits, |x| is clamped to 2.0 (any value above 1 encodes as 255 anyway),
//    and a subnormal that the multiply flushes to 0 still meets its exact integer comparison.
// 2. The decade is exact: 6 compares of bits(a) with the thresholds at the decade boundaries (WGSL literals).
// 3. Negative inputs of the signed map use the mirror image: code[126 - i] = -code[128 + i] and the midpoints mirror
//    too, so q(-a) = 254 - min(q(a), 254); 254 - k keeps k's parity, so ties still go to the even index.
//    The unsigned map sends every negative input (and -0) to code 0.
//
// Cost per element (WGSL ops; the two maps are two specialised functions): 2 for |x| and the clamp, 24 for the
// decade (6 x compare, select-to-u32, add, select of A), 4 for K and y (shift, convert, 2 fma), 3 for the
// floor/clamp, 4 for the index, then 1 table load + compare + select + add for the decision, 5 for the signed mirror
// (2 for unsigned), 2 for NaN: about 48 branch-free ALU ops and ONE lookup, versus bnb's 8 dependent shared-memory
// loads of the binary search.

import { SIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_MAP } from "./maps.ts";

/** The constants one specialised encoder needs; the GPU kernel binds `thresholdBits` and inlines the rest. */
export interface DynamicEncoder {
  readonly map: Float32Array;
  /**
   * thresholdBits[k] holds, as f32 bits, the largest input that still encodes to code k or below: the f32 midpoint
   * mid[k] = fl(fl(c[k] + c[k+1]) · 0.5) for even k, the f32 just below it for odd k (a tie goes to the even index).
   * Entry 255 is +Inf. For an input a >= 0 the float compare is a u32 compare: a encodes above k iff
   * bits(a) > thresholdBits[k]. The signed map's entries below its zero code (negative midpoints) are never read.
   */
  readonly thresholdBits: Uint32Array;
  /** thresholdBits at the 6 decade boundaries: the decade of a is the number of these that bits(a) exceeds. */
  readonly decadeBits: Uint32Array;
  /** A_d = K_d / (0.9 · 10^(d-6)) in f32, d = 0..6. */
  readonly decadeScale: Float32Array;
  /** r: decade d holds 2^(d+r) codes (0 signed, 1 unsigned). */
  readonly shift: number;
  /** Index of the zero code (127 signed, 0 unsigned); decade d starts at zeroCode + 2^(d+r) - r. */
  readonly zeroCode: number;
}

const bitsView = new DataView(new ArrayBuffer(4));
const bitsOf = (x: number): number => (bitsView.setFloat32(0, x), bitsView.getUint32(0));
const floatOf = (u: number): number => (bitsView.setUint32(0, u), bitsView.getFloat32(0));
const fl = Math.fround;

function buildEncoder(map: Float32Array, signed: boolean): DynamicEncoder {
  const shift = signed ? 0 : 1;
  const zeroCode = signed ? 127 : 0;
  const thresholdBits = new Uint32Array(256);
  for (let k = 0; k < 255; k++) {
    const mid = fl(fl(map[k] + map[k + 1]) * 0.5);
    // Odd k: the f32 just below mid (bits - 1 when positive, bits + 1 when negative), so a tie stays with k + 1.
    thresholdBits[k] = (k & 1) === 0 ? bitsOf(mid) : mid > 0 ? bitsOf(mid) - 1 : bitsOf(mid) + 1;
  }
  thresholdBits[255] = 0x7f800000;
  const decadeStart = (d: number) => zeroCode + 2 ** (d + shift) - shift;
  const decadeBits = Uint32Array.from({ length: 6 }, (_, i) => thresholdBits[decadeStart(i + 1) - 1]);
  const decadeScale = Float32Array.from({ length: 7 }, (_, d) => 2 ** (d + shift) / (0.9 * 10 ** (d - 6)));
  return { map, thresholdBits, decadeBits, decadeScale, shift, zeroCode };
}

export const SIGNED_ENCODER: DynamicEncoder = buildEncoder(SIGNED_DYNAMIC_MAP, true);
export const UNSIGNED_ENCODER: DynamicEncoder = buildEncoder(UNSIGNED_DYNAMIC_MAP, false);

/**
 * The code bnb's search gives x (already divided by absmax) in the signed or unsigned dynamic map, without a search.
 * Each statement is one WGSL operation, shown beside it (`signed` is a compile-time specialisation there).
 */
export function encodeDynamicFast(x: number, signed: boolean): number {
  const e = signed ? SIGNED_ENCODER : UNSIGNED_ENCODER;
  const bits = bitsOf(x); //                                  let bits = bitcast<u32>(x);
  const mag = (bits & 0x7fffffff) >>> 0; //                   let mag = bits & 0x7fffffffu;
  const u = Math.min(mag, 0x40000000); //                     let u = min(mag, 0x40000000u);      // |x| <= 2.0
  const g = guessCode(u, e); //                               let g = guess_code(u);              // true code or one below
  const up = u > e.thresholdBits[g] ? 1 : 0; //               let up = select(0u, 1u, u > TH[g]); // the one lookup
  const q = g + up; //                                        let q = g + up;
  const negative = bits >>> 31 === 1; //                      let neg = (bits >> 31u) == 1u;
  const mirrored = signed ? 254 - Math.min(q, 254) : 0; //    let m = 254u - min(q, 254u);        // unsigned: 0u
  const r = negative ? mirrored : q; //                       let r = select(q, m, neg);
  return mag > 0x7f800000 ? 0 : r; //                         return select(r, 0u, mag > 0x7f800000u);  // NaN
}

/**
 * The arithmetic half: for the bits u <= bits(2.0) of a non-negative input, the code just below the decision
 * boundary nearest to it, which is the true code or the one below (exported so the test can check that claim at
 * every point where this function or the true code changes).
 */
export function guessCode(u: number, e: DynamicEncoder): number {
  const a = floatOf(u); //                                    let a = bitcast<f32>(u);
  // Decade: count the boundaries below a, picking that decade's scale as we go (unrolled; T1..T6, A0..A6 literals).
  let d = 0; //                                               var d = 0u;
  let scale = e.decadeScale[0]; //                            var A = A0;
  for (let i = 0; i < 6; i++) {
    const above = u > e.decadeBits[i]; //                     let c1 = u > T1;
    d += above ? 1 : 0; //                                    d += select(0u, 1u, c1);
    scale = above ? e.decadeScale[i + 1] : scale; //          A = select(A, A1, c1);
  }
  const k = 2 ** (d + e.shift); //                            let K = 1u << (d + R);
  const kf = fl(k); //                                        let Kf = f32(K);
  const offset = fl(fl(kf * fl(1 / 9)) + 0.5); //             let B = fma(Kf, 1.0 / 9.0, 0.5);    // K/9 + 1/2
  const y = fl(fl(a * scale) - offset); //                    let y = fma(a, A, -B);
  const j = Math.min(Math.max(Math.floor(y), -1), kf - 1); // let j = clamp(floor(y), -1.0, Kf - 1.0);
  return e.zeroCode - e.shift + k + j; //                     return u32(i32(j) + i32(K) + (Z - R));
}

/**
 * The optimizers' sign fix (§1.3) for the signed dynamic map, without reading the map: signbit(c[q]) is q < 127
 * (c[127] is +0). If it differs from the state's sign bit, step one code towards the state (+1 if s > 0, else -1),
 * wrapping in uint8. A NaN state counts as positive-signed but not > 0, like CUDA's 0x7fffffff.
 */
export function signFixFast(q: number, s: number): number {
  const sBits = bitsOf(s); //                                 let sb = bitcast<u32>(s);
  const sNeg = sBits >>> 31 === 1; //                         let sNeg = (sb >> 31u) == 1u;
  const codeNeg = q < 127; //                                 let cNeg = q < 127u;
  const sMag = (sBits & 0x7fffffff) >>> 0; //                 let sMag = sb & 0x7fffffffu;
  const sPositive = !sNeg && sMag !== 0 && sMag <= 0x7f800000; // let pos = !sNeg && sMag != 0u && sMag <= 0x7f800000u;
  const stepped = (q + (sPositive ? 1 : 255)) & 0xff; //      let s2 = (q + select(255u, 1u, pos)) & 0xffu;
  return codeNeg === sNeg ? q : stepped; //                   return select(s2, q, cNeg == sNeg);
}
