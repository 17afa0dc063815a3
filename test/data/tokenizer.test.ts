import { describe, expect, test } from "bun:test";
import { GPT2_END_OF_TEXT } from "../../src/data/bpe.ts";
import { byteTokenizer, charTokenizer, loadTokenizer, normalizeText, tokenizerChoice, tokenizerFromRecord, tokenizerRecord } from "../../src/data/tokenizer.ts";

describe("charTokenizer", () => {
  test("96 ids: newline is 0, then printable ASCII in order", () => {
    expect(charTokenizer.vocabSize).toBe(96);
    expect(Array.from(charTokenizer.encode("\n A~"))).toEqual([0, 1, 0x41 - 0x20 + 1, 95]);
    const all = "\n" + Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join("");
    expect(Array.from(charTokenizer.encode(all))).toEqual(Array.from({ length: 96 }, (_, i) => i));
    expect(charTokenizer.decode(charTokenizer.encode(all))).toBe(all);
  });

  test("normalises the non-ASCII characters found in the corpus", () => {
    expect(normalizeText("\u201cWe\u2019re\u201d \u2014 well\u2011being \u2013 54\u00b0 40'")).toBe(
      "\"We're\" -- well-being - 54 degrees 40'",
    );
    expect(normalizeText("caf\u00e9 na\u00efve Bogot\u00e1")).toBe("cafe naive Bogota");
    expect(normalizeText("41\u0002 per cent\r\nnext\rline\tend")).toBe("41 per cent\nnext\nline end");
    expect(normalizeText("\u2026 \u2022 \u00a0")).toBe("... *  ");
    expect(normalizeText("\u4e2d \u{1f600}")).toBe("? ?");
  });

  test("every encoded id is below the vocabulary size", () => {
    const ids = charTokenizer.encode("Ünïcödé — “quotes” \u0007 \u{1f600}\n");
    expect(Math.max(...ids)).toBeLessThan(96);
  });

  test("decode refuses ids outside the vocabulary", () => {
    expect(() => charTokenizer.decode([3, 96])).toThrow(/id 96 at 1 is outside 0..95/);
    expect(() => byteTokenizer.decode([65, 256])).toThrow(/id 256 at 1 is outside 0..255/);
  });
});

describe("byteTokenizer", () => {
  test("lossless UTF-8", () => {
    const text = "déjà vu — “quotes” \u{1f600}\n";
    const ids = byteTokenizer.encode(text);
    expect(ids.length).toBe(new TextEncoder().encode(text).length);
    expect(byteTokenizer.decode(ids)).toBe(text);
    expect(byteTokenizer.vocabSize).toBe(256);
  });
});

describe("gpt2Tokenizer (GPT-2's byte-level BPE from js-tiktoken)", () => {
  test("50257 ids; GPT-2's ids for well-known strings; lossless on any text", async () => {
    const gpt2 = await loadTokenizer("gpt2");
    expect(gpt2.name).toBe("gpt2");
    expect(gpt2.vocabSize).toBe(50257);
    // The ids GPT-2's own encoder.json gives these words (" world" with its leading space is one token).
    expect(Array.from(gpt2.encode("Hello world"))).toEqual([15496, 995]);
    expect(Array.from(gpt2.encode("hello world"))).toEqual([31373, 995]);
    const ids = gpt2.encode("déjà vu — “quotes” \u{1f600}\n\nFellow-Citizens");
    expect(ids).toBeInstanceOf(Uint32Array);
    expect(gpt2.decode(ids)).toBe("déjà vu — “quotes” \u{1f600}\n\nFellow-Citizens");
    expect(Math.max(...ids)).toBeLessThan(50257);
  });

  test("<|endoftext|> inside a text is text, not the special id; decode refuses ids outside the vocabulary", async () => {
    const gpt2 = await loadTokenizer("gpt2");
    const ids = gpt2.encode("a<|endoftext|>b");
    expect(Array.from(ids)).not.toContain(GPT2_END_OF_TEXT);
    expect(gpt2.decode(ids)).toBe("a<|endoftext|>b");
    expect(gpt2.decode([GPT2_END_OF_TEXT])).toBe("<|endoftext|>");
    expect(() => gpt2.decode([995, 50257])).toThrow(/id 50257 at 1 is outside 0..50256/);
  });
});

describe("tokenizers by name", () => {
  test("command-line and recorded names find the same tokenizer; unknown names are refused", async () => {
    expect(await loadTokenizer("char")).toBe(charTokenizer);
    expect(await loadTokenizer("char96")).toBe(charTokenizer);
    expect(await loadTokenizer("byte256")).toBe(byteTokenizer);
    expect((await loadTokenizer("gpt2")).name).toBe("gpt2");
    expect(tokenizerChoice(charTokenizer)).toBe("char");
    await expect(loadTokenizer("gpt4")).rejects.toThrow(/unknown tokenizer "gpt4"; valid: char, gpt2, byte/);
  });

  test("a checkpoint's record restores its tokenizer; a record whose vocabulary differs is refused", async () => {
    expect(await tokenizerFromRecord(tokenizerRecord(charTokenizer), "here")).toBe(charTokenizer);
    expect((await tokenizerFromRecord({ name: "gpt2", vocabSize: 50257 }, "here")).vocabSize).toBe(50257);
    await expect(tokenizerFromRecord({ name: "gpt2", vocabSize: 50000 }, "here")).rejects.toThrow(/here: .*gpt2 with 50000 ids, but gpt2 has 50257/);
    await expect(tokenizerFromRecord({ name: "sentencepiece", vocabSize: 32000 }, "here")).rejects.toThrow(/here: the checkpoint's tokenizer "sentencepiece"/);
  });

  test("every tokenizer returns u32 ids", async () => {
    for (const name of ["char", "byte", "gpt2"]) expect((await loadTokenizer(name)).encode("abc\n")).toBeInstanceOf(Uint32Array);
  });
});
