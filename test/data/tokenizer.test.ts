import { describe, expect, test } from "bun:test";
import { byteTokenizer, charTokenizer, normalizeText } from "../../src/data/tokenizer.ts";

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
