import { describe, expect, test } from "bun:test";
import { evalBatches, mulberry32, mulberry32At, sampleBatch } from "../../src/data/batches.ts";

/** mulberry32 as it is usually published (bryc's JS form), returning u32 instead of a float. */
function referenceMulberry32(a: number): () => number {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const ramp = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251);

describe("mulberry32", () => {
  test("random access matches the sequential reference stream", () => {
    for (const seed of [0, 1, -1, 42, 0x7fffffff, -0x80000000, 123456789]) {
      const ref = referenceMulberry32(seed);
      const seq = mulberry32(seed);
      for (let i = 0; i < 2000; i++) {
        const want = ref();
        expect(mulberry32At(seed, i)).toBe(want);
        expect(seq()).toBe(want);
      }
    }
  });

  test("indices past 2^32 wrap like the 32-bit counter", () => {
    expect(mulberry32At(5, 2 ** 32 + 17)).toBe(mulberry32At(5, 17));
  });
});

describe("sampleBatch", () => {
  const spec = { batchSize: 4, seqLen: 8, seed: 1 };

  test("frozen values: changing the stream would break resuming old runs", () => {
    expect(sampleBatch(new Uint8Array(1000), 0, spec).starts).toEqual([622, 523, 960, 607]);
    expect(sampleBatch(new Uint8Array(1000), 3, spec).starts).toEqual([585, 292, 652, 752]);
  });

  test("a pure function of (seed, step): resuming at step k replays the same batches", () => {
    const tokens = ramp(5000);
    const run = Array.from({ length: 10 }, (_, step) => sampleBatch(tokens, step, spec));
    sampleBatch(tokens, 99, { ...spec, seed: 7 }); // unrelated calls in between change nothing
    for (let step = 6; step < 10; step++) expect(sampleBatch(tokens, step, spec)).toEqual(run[step]!);
    expect(run[0]!.starts).not.toEqual(run[1]!.starts);
    expect(sampleBatch(tokens, 0, { ...spec, seed: 2 }).starts).not.toEqual(run[0]!.starts);
  });

  test("inputs are windows of the tokens and targets the next token", () => {
    const tokens = ramp(3000);
    const b = sampleBatch(tokens, 5, { batchSize: 3, seqLen: 16, seed: 9 });
    expect(b.rows).toBe(3);
    expect(b.inputs).toBeInstanceOf(Uint32Array);
    expect(b.inputs.length).toBe(3 * 16);
    for (let r = 0; r < 3; r++) {
      const s = b.starts[r]!;
      expect(Array.from(b.inputs.subarray(r * 16, r * 16 + 16))).toEqual(Array.from(tokens.subarray(s, s + 16)));
      expect(Array.from(b.targets.subarray(r * 16, r * 16 + 16))).toEqual(Array.from(tokens.subarray(s + 1, s + 17)));
    }
  });

  test("starts are uniform over every valid offset, the last one included", () => {
    // 12 tokens, seqLen 8: windows of 9 tokens start at 0..3.
    const counts = [0, 0, 0, 0];
    for (let step = 0; step < 2000; step++) {
      for (const s of sampleBatch(ramp(12), step, { batchSize: 4, seqLen: 8, seed: 3 }).starts) counts[s]!++;
    }
    // 8000 draws, 2000 expected each; 4 standard deviations is ~155.
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(160);
  });

  test("the smallest corpus that fits one window works; smaller is refused", () => {
    expect(sampleBatch(ramp(9), 0, { batchSize: 2, seqLen: 8, seed: 0 }).starts).toEqual([0, 0]);
    expect(() => sampleBatch(ramp(8), 0, spec)).toThrow(/8 tokens cannot fill one window of seqLen \+ 1 = 9/);
    expect(() => sampleBatch(ramp(100), -1, spec)).toThrow(/step -1/);
    expect(() => sampleBatch(ramp(100), 0, { ...spec, batchSize: 0 })).toThrow(/batchSize 0/);
    expect(() => sampleBatch(ramp(100), 0, { ...spec, seed: 0.5 })).toThrow(/seed 0.5/);
  });
});

describe("evalBatches", () => {
  test("covers every non-overlapping window in order, last batch partial", () => {
    const tokens = ramp(42); // (42 - 1) / 8 -> 5 windows at 0, 8, 16, 24, 32
    const batches = [...evalBatches(tokens, 2, 8)];
    expect(batches.map((b) => b.starts)).toEqual([[0, 8], [16, 24], [32]]);
    const targets = batches.flatMap((b) => Array.from(b.targets));
    expect(targets).toEqual(Array.from(tokens.subarray(1, 41)));
  });
});
