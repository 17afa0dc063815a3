// Training batches as a pure function of (tokens, seed, step): resuming at step k replays exactly
// the batches an uninterrupted run would have drawn, with no generator state to checkpoint.
//
// Random numbers come from mulberry32 (Tommy Ettinger, 2017; the common JS form is bryc's). Its
// state is a 32-bit counter advanced by a fixed odd constant and each output is a hash of the
// counter, so output i is hash(seed + (i + 1) * 0x6D2B79F5): we can jump to any position in O(1).
// Step k of a run reads outputs [k * 2B, (k + 1) * 2B) of one stream (two per row), so steps
// never share numbers. Period 2^32 outputs: 2^31 / B steps before the stream repeats (~33 M steps
// at B = 64). Not cryptographic; fine for sampling windows.

const MULBERRY_INCREMENT = 0x6d2b79f5;

/** The mulberry32 hash of one counter value: a u32. */
function mulberryHash(counter: number): number {
  let t = Math.imul(counter ^ (counter >>> 15), counter | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/** Output `index` (0-based) of the mulberry32 stream for `seed`, as a u32. */
export function mulberry32At(seed: number, index: number): number {
  // Math.imul wraps (index + 1) * increment modulo 2^32, as the 32-bit counter does.
  return mulberryHash((seed + Math.imul(index + 1, MULBERRY_INCREMENT)) | 0);
}

/** Sequential mulberry32: each call returns the next u32 of the stream for `seed`. */
export function mulberry32(seed: number): () => number {
  let index = 0;
  return () => mulberry32At(seed, index++);
}

export interface BatchSpec {
  batchSize: number;
  /** Tokens per row fed to the model; each row reads seqLen + 1 tokens (inputs plus shifted targets). */
  seqLen: number;
  /** Any 32-bit integer; use different seeds for training and validation sampling. */
  seed: number;
}

export interface Batch {
  /** [rows, seqLen] row-major: inputs[r * seqLen + t] = tokens[starts[r] + t] (u32 token ids). */
  inputs: Uint32Array;
  /** [rows, seqLen] row-major: the next token, tokens[starts[r] + t + 1]. */
  targets: Uint32Array;
  rows: number;
  seqLen: number;
  /** Offset of each row's window in `tokens`. */
  starts: number[];
}

function checkSpec(where: string, tokens: ArrayLike<number>, batchSize: number, seqLen: number): void {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`${where}: batchSize ${batchSize} must be a positive integer`);
  if (!Number.isSafeInteger(seqLen) || seqLen < 1) throw new RangeError(`${where}: seqLen ${seqLen} must be a positive integer`);
  if (tokens.length < seqLen + 1) {
    throw new RangeError(`${where}: ${tokens.length} tokens cannot fill one window of seqLen + 1 = ${seqLen + 1}`);
  }
}

function gather(tokens: ArrayLike<number>, starts: number[], seqLen: number): Batch {
  const inputs = new Uint32Array(starts.length * seqLen);
  const targets = new Uint32Array(starts.length * seqLen);
  starts.forEach((start, r) => {
    for (let t = 0; t < seqLen; t++) {
      inputs[r * seqLen + t] = tokens[start + t]!;
      targets[r * seqLen + t] = tokens[start + t + 1]!;
    }
  });
  return { inputs, targets, rows: starts.length, seqLen, starts };
}

/**
 * The batch for training step `step` (0-based): batchSize windows of seqLen + 1 tokens, starts
 * uniform over every valid offset, drawn independently (with replacement).
 */
export function sampleBatch(tokens: ArrayLike<number>, step: number, spec: BatchSpec): Batch {
  const { batchSize, seqLen, seed } = spec;
  checkSpec("sampleBatch", tokens, batchSize, seqLen);
  if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`sampleBatch: step ${step} must be a non-negative integer`);
  if (!Number.isInteger(seed)) throw new RangeError(`sampleBatch: seed ${seed} must be an integer`);
  const windows = tokens.length - seqLen; // valid starts: 0 .. length - seqLen - 1
  const starts: number[] = [];
  for (let r = 0; r < batchSize; r++) {
    const index = (step * batchSize + r) * 2;
    // 53 random bits from two outputs: floor(u * windows) is then uniform to within 2^-53 * windows.
    const hi = mulberry32At(seed, index) >>> 5; // 27 bits
    const lo = mulberry32At(seed, index + 1) >>> 6; // 26 bits
    const u = (hi * 2 ** 26 + lo) / 2 ** 53;
    starts.push(Math.floor(u * windows));
  }
  return gather(tokens, starts, seqLen);
}

/**
 * Every non-overlapping window of seqLen + 1 tokens (consecutive windows share their boundary
 * token), in order, batchSize rows at a time; the last batch may have fewer rows. For an exact
 * validation loss over the held-out text.
 */
export function* evalBatches(tokens: ArrayLike<number>, batchSize: number, seqLen: number): Generator<Batch> {
  checkSpec("evalBatches", tokens, batchSize, seqLen);
  const windows = Math.floor((tokens.length - 1) / seqLen);
  for (let first = 0; first < windows; first += batchSize) {
    const starts: number[] = [];
    for (let w = first; w < Math.min(first + batchSize, windows); w++) starts.push(w * seqLen);
    yield gather(tokens, starts, seqLen);
  }
}
