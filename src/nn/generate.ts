// Text generation for the GPT: one token at a time over a KV cache of fixed shape.
//
// Every decoding step runs the same graph: the new token's forward at a position held in a 1-element
// buffer, attention over all `contextLength` cached rows with the rows past that position masked out. So
// the graph, its schedule and its kernels are the same at every step and for any prompt: generating N
// tokens compiles a fixed set of kernels, independent of N (the realized program is cached by its graph).
// A step costs O(contextLength * width) per layer for attention, against O(width^2) for the weights.
//
// Sampling happens on the host from the read-back logits (V floats a token), with a counter-based RNG:
// token i draws the uniforms at counters 2i, 2i + 1 of mulberry32(seed), so a seed replays exactly.
import { Tensor } from "../dsl/tensor.ts";
import { constant, type Var } from "../autograd/var.ts";
import { mulberry32At } from "../data/batches.ts";
import { realize, storageOf, tensor } from "../runtime/realize.ts";
import { upload } from "../runtime/storage.ts";
import type { GPT } from "./gpt.ts";

export interface GenerateOptions {
  /** How many tokens to sample (prompt + maxNewTokens must fit the model's context). */
  maxNewTokens: number;
  /** Divides the logits before the softmax; 0 = greedy (argmax, the lowest id on ties). Default 1. */
  temperature?: number;
  /** Sample among the k largest logits only (ties with the k-th are kept, as nanoGPT's filter does). */
  topK?: number;
  /** Seed of the sampling stream (default 0). */
  seed?: number;
  /** Called with each new id as soon as it is sampled (to stream text). */
  onToken?: (id: number, index: number) => void;
}

/** Masked scores: exp(-1e30 - max) is exactly 0 in f32, as the training attention's mask. */
const MASKED = -1e30;

/**
 * One query row attending over a cache: q, k, v [1, C] of the new token; K, V [Tc, C] the cache (row t =
 * position t). Returns the attention output [1, C] and the caches with row `pos` replaced by k, v.
 */
export function cachedAttention(qkv: Tensor, K: Tensor, V: Tensor, pos: Tensor, heads: number): { out: Tensor; K: Tensor; V: Tensor } {
  const [Tc, C] = K.shape;
  const hd = C / heads;
  const part = (p: number) => qkv.reshape([3 * C]).gather(Tensor.iota([1, C], 1).add(p * C)); // [1, C]
  const at = pos.reshape([1, 1]);
  const isNew = Tensor.iota([Tc, C], 0, pos.dtype).eq(at);
  const K1 = isNew.where(part(1), K);
  const V1 = isNew.where(part(2), V);
  // head[c, h] = 1 where column c belongs to head h: sums over each head's columns are matmuls with it.
  const head = Tensor.iota([C, heads], 0).div(hd).eq(Tensor.iota([C, heads], 1)).cast("f32");
  // scores[t, h] = q_h . K1[t]_h / sqrt(hd)
  const scores = K1.mul(part(0)).contiguous().matmul(head).mul(1 / Math.sqrt(hd)); // [Tc, H]
  const masked = Tensor.iota([Tc, heads], 0, pos.dtype).gt(at).where(MASKED, scores).contiguous();
  // Softmax over positions (axis 0), one column per head.
  const e = masked.sub(masked.max(0)).exp();
  const P = e.div(e.sum(0)).contiguous(); // [Tc, H]
  // out[c] = sum_t P[t, head(c)] V1[t, c]
  const perColumn = P.matmul(head, { transB: true }); // [Tc, C]
  return { out: perColumn.mul(V1).sum(0), K: K1, V: V1 };
}

/**
 * A GPT's decoding state: the KV cache of every layer and the next position. `step(id)` feeds one token and
 * returns the logits for the token after it.
 */
export class Decoder {
  /** Position the next fed token takes. */
  position = 0;
  private constructor(
    readonly model: GPT,
    private K: Tensor[],
    private V: Tensor[],
    private readonly token: Tensor,
    private readonly at: Tensor,
  ) {}

  static async create(model: GPT): Promise<Decoder> {
    const { contextLength: Tc, width: C, layers } = model.config;
    const zeros = () => tensor(new Float32Array(Tc * C), [Tc, C]);
    const K = await Promise.all(Array.from({ length: layers }, zeros));
    const V = await Promise.all(Array.from({ length: layers }, zeros));
    return new Decoder(model, K, V, await tensor(new Uint32Array(1), [1, 1], { dtype: "u32" }), await tensor(new Int32Array(1), [1], { dtype: "i32" }));
  }

  /** Feeds token `id` at `position`; returns the next token's logits [V] (or nothing, with read = false). */
  async step(id: number, read = true): Promise<Float32Array | undefined> {
    const { contextLength, vocabSize, heads } = this.model.config;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new RangeError(`GPT.generate: token id ${id} is outside 0..${vocabSize - 1}`);
    if (this.position >= contextLength) throw new RangeError(`GPT.generate: position ${this.position} is past the context length ${contextLength}`);
    // In place: the uploads bump the buffers' versions, and the graph below is built after them.
    await upload(storageOf(this.token), Uint32Array.of(id));
    await upload(storageOf(this.at), Int32Array.of(this.position));
    const K: Tensor[] = [], V: Tensor[] = [];
    const attention = (qkv: Var, layer: number): Var => {
      const r = cachedAttention(qkv.value, this.K[layer]!, this.V[layer]!, this.at, heads);
      K.push(r.K);
      V.push(r.V);
      return constant(r.out);
    };
    const logits = this.model.forward(this.token, 1, 1, { positions: this.at, attention }).value;
    await realize([logits, ...K, ...V]);
    for (const t of [...this.K, ...this.V]) t.dispose();
    this.K = K;
    this.V = V;
    this.position++;
    const out = read ? Float32Array.from(await logits.toArray()) : undefined;
    logits.dispose();
    return out;
  }

  /** Releases the caches now (they are also released when the decoder is collected). */
  dispose(): void {
    for (const t of [...this.K, ...this.V, this.token, this.at]) t.dispose();
  }
}

/** A uniform in [0, 1) with 53 random bits: outputs 2i and 2i + 1 of mulberry32(seed). */
export function uniformAt(seed: number, i: number): number {
  const hi = mulberry32At(seed, 2 * i) >>> 5; // 27 bits
  const lo = mulberry32At(seed, 2 * i + 1) >>> 6; // 26 bits
  return (hi * 2 ** 26 + lo) / 2 ** 53;
}

/**
 * The id drawn from softmax(logits / temperature), restricted to the topK largest logits, by inverting the
 * CDF (in id order) at u in [0, 1). temperature 0: the argmax.
 */
export function sampleToken(logits: ArrayLike<number>, temperature: number, topK: number | undefined, u: number): number {
  const n = logits.length;
  let best = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(logits[i]!)) throw new Error(`GPT.generate: logit ${i} is ${logits[i]}; the model's output is not finite`);
    if (logits[i]! > logits[best]!) best = i;
  }
  if (temperature === 0) return best;
  let floor = -Infinity;
  if (topK !== undefined && topK < n) floor = Float64Array.from(logits).sort()[n - topK]!; // the k-th largest
  const max = logits[best]!;
  const w = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) if (logits[i]! >= floor) total += w[i] = Math.exp((logits[i]! - max) / temperature);
  let target = u * total;
  for (let i = 0; i < n; i++) {
    if (w[i] === 0) continue;
    target -= w[i]!;
    if (target < 0) return i;
  }
  return best; // u * total rounded up to the sum: the last candidate in id order is the same limit
}

function check(model: GPT, promptIds: ArrayLike<number>, o: GenerateOptions): void {
  const { contextLength, vocabSize } = model.config;
  const fail = (m: string): never => {
    throw new RangeError(`GPT.generate: ${m}`);
  };
  if (!Number.isSafeInteger(o.maxNewTokens) || o.maxNewTokens < 1) fail(`maxNewTokens ${o.maxNewTokens} must be a positive integer`);
  const t = o.temperature ?? 1;
  if (!(Number.isFinite(t) && t >= 0)) fail(`temperature ${o.temperature} must be a finite number >= 0 (0 = greedy)`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 1)) fail(`topK ${o.topK} must be a positive integer`);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) fail(`seed ${o.seed} must be an integer`);
  if (promptIds.length < 1) fail("the prompt is empty; it needs at least one token (GPT-2 models start from <|endoftext|>, id 50256)");
  for (let i = 0; i < promptIds.length; i++) {
    const id = promptIds[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) fail(`prompt token ${i} is ${id}, outside 0..${vocabSize - 1}`);
  }
  if (promptIds.length + o.maxNewTokens > contextLength)
    fail(`a prompt of ${promptIds.length} tokens plus ${o.maxNewTokens} new ones exceeds the context length ${contextLength}`);
}

/** `model.generate`: the new ids (not the prompt's). */
export async function generate(model: GPT, promptIds: ArrayLike<number>, opts: GenerateOptions): Promise<Uint32Array> {
  check(model, promptIds, opts);
  const temperature = opts.temperature ?? 1, seed = opts.seed ?? 0;
  const dec = await Decoder.create(model);
  try {
    for (let i = 0; i < promptIds.length - 1; i++) await dec.step(promptIds[i]!, false);
    let logits = (await dec.step(promptIds[promptIds.length - 1]!))!;
    const out = new Uint32Array(opts.maxNewTokens);
    for (let i = 0; i < opts.maxNewTokens; i++) {
      out[i] = sampleToken(logits, temperature, opts.topK, uniformAt(seed, i));
      opts.onToken?.(out[i]!, i);
      if (i + 1 < opts.maxNewTokens) logits = (await dec.step(out[i]!))!;
    }
    return out;
  } finally {
    dec.dispose();
  }
}
