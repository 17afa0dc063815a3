import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  LINEAR_SIGNED_MAP,
  LINEAR_UNSIGNED_MAP,
  MAPS_CHECKSUM,
  SIGNED_DYNAMIC_MAP,
  UNSIGNED_DYNAMIC_MAP,
  mapChecksum,
} from "../../src/optim/maps.ts";

// bitsandbytes' dynamic maps as hex bit patterns (bnb-algorithms.md §1.2 names these lists as authoritative),
// vendored into test/reference so the check runs on every clone.
const JSON_PATH = path.join(import.meta.dir, "../reference/dynamic-maps.json");

const hexOf = (map: Float32Array): string[] =>
  Array.from(new Uint32Array(map.buffer, map.byteOffset, map.length), (w) => w.toString(16).padStart(8, "0"));

const strictlyAscending = (map: Float32Array): boolean => map.every((v, i) => i === 0 || map[i - 1] < v);

describe("dynamic maps", () => {
  test(
    "hard-coded bits equal bitsandbytes' dynamic maps (test/reference/dynamic-maps.json)",
    () => {
      const ref = JSON.parse(readFileSync(JSON_PATH, "utf8")) as { signed_hex: string[]; unsigned_hex: string[] };
      expect(hexOf(SIGNED_DYNAMIC_MAP)).toEqual(ref.signed_hex);
      expect(hexOf(UNSIGNED_DYNAMIC_MAP)).toEqual(ref.unsigned_hex);
    },
  );

  test("256 strictly ascending codes, 0 and 1 where §1.1 says", () => {
    for (const map of [SIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_MAP]) {
      expect(map.length).toBe(256);
      expect(strictlyAscending(map)).toBe(true);
      expect(map[255]).toBe(1);
    }
    expect(Object.is(SIGNED_DYNAMIC_MAP[127], 0)).toBe(true); // +0, not -0: the sign fix relies on it (§1.3)
    expect(Object.is(UNSIGNED_DYNAMIC_MAP[0], 0)).toBe(true);
    expect(SIGNED_DYNAMIC_MAP[0]).toBe(Math.fround(-0.99296874));
    expect(SIGNED_DYNAMIC_MAP[254]).toBe(Math.fround(0.99296874));
    // §1.1 by hand for decade 0: fl(fl(1e-6) · fl((0.1f + bnd)/2)); signed K = 2 (bnd 0.1, 1), unsigned K = 3 (0.1, 0.55, 1).
    const f = Math.fround;
    expect(SIGNED_DYNAMIC_MAP[128]).toBe(f(f(1e-6) * f((f(0.1) + 1) / 2)));
    expect(UNSIGNED_DYNAMIC_MAP[1]).toBe(f(f(1e-6) * f((f(0.1) + f(0.55)) / 2)));
  });

  test("the signed negative half mirrors the positive half (the fast encoder relies on it)", () => {
    for (let j = 0; j < 127; j++) expect(SIGNED_DYNAMIC_MAP[126 - j]).toBe(-SIGNED_DYNAMIC_MAP[128 + j]);
  });

  test("decade structure: decade i has 2^i (signed) / 2^(i+1) (unsigned) codes in (10^(i-7), 10^(i-6))", () => {
    for (const [map, first, perDecade] of [
      [SIGNED_DYNAMIC_MAP, 128, (i: number) => 2 ** i],
      [UNSIGNED_DYNAMIC_MAP, 1, (i: number) => 2 ** (i + 1)],
    ] as const) {
      let k: number = first;
      for (let i = 0; i < 7; i++) {
        for (let j = 0; j < perDecade(i); j++, k++) {
          expect(map[k]).toBeGreaterThan(10 ** (i - 7));
          expect(map[k]).toBeLessThan(10 ** (i - 6));
        }
      }
      expect(k).toBe(255);
    }
  });
});

describe("linear maps", () => {
  test("evenly spaced, exact 0 and 1", () => {
    expect(strictlyAscending(LINEAR_SIGNED_MAP)).toBe(true);
    expect(strictlyAscending(LINEAR_UNSIGNED_MAP)).toBe(true);
    expect(Object.is(LINEAR_SIGNED_MAP[127], 0)).toBe(true);
    expect(LINEAR_SIGNED_MAP[255]).toBe(1);
    expect(LINEAR_SIGNED_MAP[0]).toBe(-127 / 128);
    for (let k = 1; k < 256; k++) expect(LINEAR_SIGNED_MAP[k] - LINEAR_SIGNED_MAP[k - 1]).toBe(1 / 128);
    expect(LINEAR_UNSIGNED_MAP[0]).toBe(0);
    expect(LINEAR_UNSIGNED_MAP[255]).toBe(1);
    for (let k = 0; k < 256; k++) expect(LINEAR_UNSIGNED_MAP[k]).toBe(Math.fround(k / 255));
  });
});

describe("mapChecksum", () => {
  test("FNV-1a of the little-endian bytes, stable", () => {
    expect(mapChecksum(new Float32Array(0))).toBe("811c9dc5"); // FNV-1a offset basis: no bytes hashed
    expect(mapChecksum(Float32Array.of(1))).toBe(fnv1a([0x00, 0x00, 0x80, 0x3f])); // 1.0f = 0x3f800000, LE bytes
    // Pinned: a change here means the maps (or the checksum) changed and old state dicts will be refused.
    expect(MAPS_CHECKSUM).toBe("6a9f2377");
    expect(mapChecksum(SIGNED_DYNAMIC_MAP)).toBe("6b337d44");
    expect(mapChecksum(UNSIGNED_DYNAMIC_MAP)).toBe("eb71ed1e");
  });

  test("one flipped bit changes it; a subarray view hashes only its own bytes", () => {
    const copy = SIGNED_DYNAMIC_MAP.slice();
    new Uint32Array(copy.buffer)[42] ^= 1;
    expect(mapChecksum(copy)).not.toBe(mapChecksum(SIGNED_DYNAMIC_MAP));
    const both = Float32Array.of(...SIGNED_DYNAMIC_MAP, ...UNSIGNED_DYNAMIC_MAP);
    expect(mapChecksum(both.subarray(256))).toBe(mapChecksum(UNSIGNED_DYNAMIC_MAP));
  });
});

function fnv1a(bytes: number[]): string {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}
