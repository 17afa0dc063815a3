// Training with GPT-2's BPE: u32 ids end to end through the corpus, the batches and the model; the
// checkpoint records the tokenizer, and resuming with another one is refused, naming both.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCorpus, type TextDocument } from "../../src/data/corpus.ts";
import { loadTokenizer } from "../../src/data/tokenizer.ts";
import { readCheckpointInfo } from "../../src/io/checkpoint.ts";
import { runTraining } from "../../src/train/trainer.ts";

const DOCS: TextDocument[] = Array.from({ length: 6 }, (_, i) => ({
  name: `doc${i}`,
  text: `Fellow-Citizens of the Senate and House of Representatives: address number ${i}. `.repeat(12),
}));
const tiny = { optim: "adamw_8bit", layers: 1, heads: 2, width: 16, seq: 16, batch: 2, steps: 3, evalEvery: 3, evalBatches: 1, lr: 1e-2 };

describe("training with --tokenizer gpt2", () => {
  test("trains a 50257-id model; the checkpoint records the tokenizer; resume with char is refused", async () => {
    const gpt2 = await loadTokenizer("gpt2");
    const corpus = buildCorpus(DOCS, { tokenizer: gpt2, valFraction: 0.2 });
    expect(corpus.train).toBeInstanceOf(Uint32Array);
    expect(Math.max(...corpus.train)).toBeGreaterThan(255); // ids past a byte: a Uint8Array would have wrapped them
    const dir = mkdtempSync(join(tmpdir(), "octet-bpe-"));
    const r = await runTraining({ ...tiny, tokenizer: "gpt2", out: dir }, { corpus });
    expect(r.parameterCount).toBeGreaterThan(2 * 50257 * 16);
    // A uniform guess over 50257 ids is ln 50257 = 10.82 nats; a 3-step model is near it, and finite.
    expect(r.history[0]!.trainLoss).toBeGreaterThan(10);
    expect(r.history[0]!.trainLoss).toBeLessThan(11.5);
    expect(JSON.parse(readFileSync(join(dir, "trainer.json"), "utf8")).tokenizer).toEqual({ name: "gpt2", vocabSize: 50257 });
    expect((await readCheckpointInfo(dir)).tokenizer).toEqual({ name: "gpt2", vocabSize: 50257 });

    const chars = buildCorpus(DOCS, { valFraction: 0.2 });
    await expect(runTraining({ ...tiny, steps: 4, out: dir, resume: true }, { corpus: chars })).rejects.toThrow(
      /trained with tokenizer gpt2 \(50257 ids\), not char96 \(96 ids\)/,
    );
    // A corpus tokenized with something else than --tokenizer is refused before anything runs.
    await expect(runTraining({ ...tiny, tokenizer: "gpt2" }, { corpus: chars })).rejects.toThrow(/--tokenizer gpt2: the corpus given was tokenized with char96/);
  }, 120_000);
});
