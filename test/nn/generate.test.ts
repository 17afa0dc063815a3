// Generation (issue #8 item 7): the KV-cached decoding step against an independent float64 forward of the
// whole prefix, greedy decoding against the reference's argmax chain, seeded sampling, and a bounded number
// of compiled kernels whatever the number of tokens.
import { beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { GPT, type GPTConfig } from "../../src/nn/gpt.ts";
import { Decoder, sampleToken, uniformAt } from "../../src/nn/generate.ts";
import type { Parameter } from "../../src/nn/parameter.ts";
import { programCacheSize } from "../../src/runtime/realize.ts";
import * as ref from "../reference/nn.ts";
import { charTokenizer, loadTokenizer } from "../../src/data/tokenizer.ts";
import { continueText, promptIds } from "../../src/cli/textgen.ts";

await octet.device();
setDefaultTimeout(60_000);
beforeEach(() => octet.optim.GlobalOptimManager.getInstance().initialize());

// One shape for every test, so the decoding step's kernels are compiled once for the file (~6 s on lavapipe).
const TINY: GPTConfig = { vocabSize: 96, contextLength: 24, layers: 2, heads: 2, width: 8, embedding: "stable", seed: 3 };
const read = async (p: Parameter) => Float64Array.from((await p.data.toArray()) as Float32Array);

/** The model's weights, read through its fields (not its names), for the reference below. */
async function weightsOf(m: GPT) {
  const ln = async (l: { weight: Parameter; bias: Parameter }) => ({ w: await read(l.weight), b: await read(l.bias) });
  const lin = async (l: { weight: Parameter; bias: Parameter | null }) => ({ w: await read(l.weight), b: l.bias ? await read(l.bias) : undefined });
  const tokens = m.tokens as { weight: Parameter; norm?: { weight: Parameter; bias: Parameter } | null };
  const head = (m as unknown as { head: { weight: Parameter; bias: Parameter | null } | null }).head;
  return {
    wte: await read(tokens.weight),
    norm: tokens.norm ? await ln(tokens.norm) : undefined,
    wpe: await read(m.positions),
    blocks: await Promise.all(m.blocks.map(async (b) => ({ ln1: await ln(b.ln1), qkv: await lin(b.qkv), proj: await lin(b.proj), ln2: await ln(b.ln2), fc: await lin(b.fc), fcProj: await lin(b.fcProj) }))),
    lnF: await ln(m.lnF),
    head: head ? await lin(head) : undefined, // none: tied to wte
  };
}

/** Float64 GPT-2 forward of one sequence (pre-norm blocks, learned positions): the last position's logits. */
function lastLogitsRef(w: Awaited<ReturnType<typeof weightsOf>>, cfg: GPTConfig, ids: number[]): Float64Array {
  const { vocabSize: V, width: C, heads: H } = cfg;
  const T = ids.length;
  const lin = (x: ArrayLike<number>, l: { w: Float64Array; b?: Float64Array }, In: number, Out: number) => ref.linearRef(x, l.w, T, In, Out, l.b);
  const ln = (x: ArrayLike<number>, l: { w: Float64Array; b: Float64Array }) => ref.layerNormRef(x, T, C, l.w, l.b);
  const add = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (v, i) => v + b[i]);
  let x = ref.embeddingRef(w.wte, C, ids);
  if (w.norm) x = ln(x, w.norm);
  x = add(x, ref.embeddingRef(w.wpe, C, ids.map((_, t) => t)));
  for (const b of w.blocks) {
    const h = add(x, lin(ref.attentionRef(lin(ln(x, b.ln1), b.qkv, C, 3 * C), 1, T, C, H), b.proj, C, C));
    x = add(h, lin(ref.geluRef(lin(ln(h, b.ln2), b.fc, C, 4 * C)), b.fcProj, 4 * C, C));
  }
  const y = ln(x, w.lnF).subarray((T - 1) * C);
  const out = new Float64Array(V);
  for (let v = 0; v < V; v++)
    for (let j = 0; j < C; j++) out[v] += y[j] * (w.head ? w.head.w[j * V + v] : w.wte[v * C + j]); // head [C, V] or wte [V, C]
  return out;
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

describe("Decoder: one token at a time over the KV cache", () => {
  test("every step's logits equal the float64 forward of the whole prefix", async () => {
    const model = new GPT(TINY);
    const w = await weightsOf(model);
    // The whole context (24 tokens): the last step has no masked row.
    const ids = [3, 17, 0, 95, 5, 5, 9, 1, 14, 2, 7, 11, 4, 4, 19, 8, 0, 1, 21, 13, 6, 60, 16, 12];
    const dec = await Decoder.create(model);
    for (let t = 0; t < ids.length; t++) {
      const got = (await dec.step(ids[t]!))!;
      expect(ref.maxRelErr(got, lastLogitsRef(w, TINY, ids.slice(0, t + 1)))).toBeLessThan(1e-5);
    }
    await expect(dec.step(1)).rejects.toThrow(/position 24 is past the context length 24/);
    dec.dispose();
  });
});

describe("GPT.generate", () => {
  test("temperature 0 is greedy: the reference's argmax chain", async () => {
    const model = new GPT(TINY);
    const w = await weightsOf(model);
    const prompt = [4, 19, 8];
    const got = Array.from(await model.generate(prompt, { maxNewTokens: 9, temperature: 0 }));
    const seq = [...prompt];
    for (const id of got) {
      const want = lastLogitsRef(w, TINY, seq);
      // The GPU's pick is the reference's argmax, unless the two are within f32 rounding of a tie.
      if (id !== argmax(want)) expect(want[argmax(want)]! - want[id]!).toBeLessThan(1e-6);
      seq.push(id);
    }
    expect(got.length).toBe(9);
  });

  test("sampling is reproducible for a seed, differs across seeds, and stays in the top k", async () => {
    const model = new GPT({ ...TINY, seed: 5 });
    const opts = { maxNewTokens: 8, temperature: 2, seed: 11 };
    const a = Array.from(await model.generate([1, 2], opts));
    expect(Array.from(await model.generate([1, 2], opts))).toEqual(a);
    const others = await Promise.all([12, 13, 14].map(async (seed) => Array.from(await model.generate([1, 2], { ...opts, seed }))));
    expect(others.some((o) => o.join() !== a.join())).toBe(true);
    // topK 1 is greedy whatever the temperature.
    expect(Array.from(await model.generate([1, 2], { ...opts, topK: 1 }))).toEqual(Array.from(await model.generate([1, 2], { maxNewTokens: 8, temperature: 0 })));
  });

  test("generating 5 or 20 tokens compiles the same bounded set of kernels", async () => {
    const model = new GPT({ ...TINY, seed: 7 });
    const c0 = octet.compileStats().compiles, p0 = programCacheSize();
    await model.generate([3], { maxNewTokens: 5, seed: 1 });
    const c5 = octet.compileStats().compiles, p5 = programCacheSize();
    await model.generate([3, 4, 5], { maxNewTokens: 20, seed: 2 });
    expect(octet.compileStats().compiles).toBe(c5); // 20 more tokens, a longer prompt: no new kernel
    expect(programCacheSize()).toBe(p5); // and no new program
    expect(c5 - c0).toBeLessThan(80); // one decoding step's kernels (0 when an earlier test compiled them)
    expect(p5 - p0).toBeLessThanOrEqual(2);
  });

  test("bad options and a prompt past the context are refused, naming the problem", async () => {
    const model = new GPT(TINY);
    await expect(model.generate([1], { maxNewTokens: 0 })).rejects.toThrow(/maxNewTokens 0 must be a positive integer/);
    await expect(model.generate([1], { maxNewTokens: 2, temperature: -1 })).rejects.toThrow(/temperature -1/);
    await expect(model.generate([1], { maxNewTokens: 2, topK: 0 })).rejects.toThrow(/topK 0/);
    await expect(model.generate([], { maxNewTokens: 2 })).rejects.toThrow(/the prompt is empty/);
    await expect(model.generate([1, 96], { maxNewTokens: 2 })).rejects.toThrow(/prompt token 1 is 96, outside 0..95/);
    await expect(model.generate([1, 2, 3], { maxNewTokens: 22 })).rejects.toThrow(/3 tokens plus 22 new ones exceeds the context length 24/);
  });
});

describe("continueText (npm run sample, the end of npm run train)", () => {
  test("streams the continuation's text, and takes only what the context leaves", async () => {
    const model = new GPT(TINY); // 96 ids: the character tokenizer's
    let streamed = "";
    const r = await continueText(model, charTokenizer, "We ", { maxNewTokens: 100, temperature: 0 }, (s) => (streamed += s));
    expect(r.promptTokens).toBe(3);
    expect(r.ids.length).toBe(24 - 3);
    expect(r.text).toBe(charTokenizer.decode(r.ids));
    expect(streamed).toBe(r.text);
    expect(Array.from(r.ids)).toEqual(Array.from(await model.generate(charTokenizer.encode("We "), { maxNewTokens: 21, temperature: 0 })));
    // An empty prompt starts where documents start: GPT-2's <|endoftext|>, a newline for characters.
    expect(Array.from(await promptIds(await loadTokenizer("gpt2"), ""))).toEqual([50256]);
    expect(Array.from(await promptIds(charTokenizer, ""))).toEqual([0]);
  });
});

describe("sampleToken (host side)", () => {
  test("inverse CDF over softmax(logits / T), restricted to the top k", () => {
    const logits = [0, Math.log(3), Math.log(0.5), Math.log(0.5)]; // weights 1, 3, 0.5, 0.5 (sum 5)
    expect(sampleToken(logits, 1, undefined, 0.0)).toBe(0);
    expect(sampleToken(logits, 1, undefined, 0.19)).toBe(0);
    expect(sampleToken(logits, 1, undefined, 0.21)).toBe(1);
    expect(sampleToken(logits, 1, undefined, 0.79)).toBe(1);
    expect(sampleToken(logits, 1, undefined, 0.81)).toBe(2);
    expect(sampleToken(logits, 1, undefined, 0.999)).toBe(3);
    // top 2: ids 0 and 1 only, weights 1 and 3.
    expect(sampleToken(logits, 1, 2, 0.24)).toBe(0);
    expect(sampleToken(logits, 1, 2, 0.26)).toBe(1);
    expect(sampleToken(logits, 1, 2, 0.999)).toBe(1);
    expect(sampleToken(logits, 0, undefined, 0.9)).toBe(1); // greedy
    expect(() => sampleToken([0, NaN], 1, undefined, 0.5)).toThrow(/logit 1 is NaN/);
  });

  test("the sampling stream is a pure function of (seed, index), uniform in [0, 1)", () => {
    expect(uniformAt(7, 3)).toBe(uniformAt(7, 3));
    const u = Array.from({ length: 4000 }, (_, i) => uniformAt(1, i));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(u.reduce((a, b) => a + b, 0) / u.length - 0.5)).toBeLessThan(0.02);
  });
});
