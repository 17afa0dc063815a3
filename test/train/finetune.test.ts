// `--init DIR`: fine-tuning a Hugging Face GPT-2 folder (a tiny fixture the test writes, with the character
// tokenizer's 96-id vocabulary). The run takes the folder's shape, trains, keeps the bitsandbytes recipe's state
// formats (8-bit for the weights, 32-bit for wte and wpe) and writes a folder that loads back; --embedding
// stable warns why it hurts; mismatches are errors naming the flag and the field.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runTraining } from "../../src/train/trainer.ts";
import { GPT } from "../../src/nn/gpt.ts";
import { tmp, writeFixture } from "../nn/hf-fixture.ts";

// Sizes chosen so the recipe is visible: wte 96x64, wpe 128x64 and every matrix are over min8bitSize (4096),
// the biases and layer norms (64..256 elements) under it.
const FIXTURE = { vocab: 96, positions: 128, width: 64, heads: 2, layers: 1, seed: 7 };
const RUN = { optim: "adamw_8bit", tokenizer: "char" as const, steps: 4, batch: 2, seq: 16, evalEvery: 4, evalBatches: 1, lr: 1e-3 };
const EIGHT_BIT = /^blocks\.0\.(qkv|proj|fc|fcProj)\.weight$/;

describe("fine-tuning a pretrained folder (--init)", () => {
  test("trains with the folder's shape, the recipe's state formats, and --save-pretrained loads back", async () => {
    const fx = writeFixture(FIXTURE);
    const out = join(tmp("hf-ft"), "tuned");
    let formats: Record<string, string> = {};
    let stateCount = -1;
    let trained: [string, Float32Array][] = [];
    const r = await runTraining({ ...RUN, init: fx.dir, savePretrained: out }, {
      onFinish: async (model, _tok, opt) => {
        const sd = await opt.stateDict();
        const names = model.namedParameters();
        stateCount = Object.keys(sd.state).length;
        formats = Object.fromEntries(names.map(([n], i) => [n, sd.state[i].state1 instanceof Uint8Array ? "8-bit" : sd.state[i].state1 instanceof Float32Array ? "32-bit" : "?"]));
        trained = await Promise.all(names.map(async ([n, p]) => [n, Float32Array.from((await p.data.toArray()) as Float32Array)] as [string, Float32Array]));
      },
    });
    expect(r.config).toMatchObject({ layers: 1, heads: 2, width: 64, context: 128, embedding: "plain", init: fx.dir });
    expect(r.history.length).toBe(4);
    for (const h of r.history) expect(Number.isFinite(h.trainLoss)).toBe(true);
    expect(Number.isFinite(r.finalEval)).toBe(true);
    // From random weights the first steps fall fast: the mean of the last two below the first.
    expect((r.history[2].trainLoss + r.history[3].trainLoss) / 2).toBeLessThan(r.history[0].trainLoss);

    // The recipe: one state per Parameter (the tied table once), 32-bit for wte and wpe, 8-bit for the matrices,
    // 32-bit for what is under min8bitSize.
    expect(stateCount).toBe(2 + 12 + 2);
    expect(formats["tokens.weight"]).toBe("32-bit");
    expect(formats["positions"]).toBe("32-bit");
    for (const [name, f] of Object.entries(formats)) if (name !== "tokens.weight" && name !== "positions") expect(`${name}: ${f}`).toBe(`${name}: ${EIGHT_BIT.test(name) ? "8-bit" : "32-bit"}`);

    // The saved folder is the trained model, in HF's layout with the source config's other fields kept.
    const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    expect(config).toMatchObject({ model_type: "gpt2", n_embd: 64, n_layer: 1, vocab_size: 96, tie_word_embeddings: true, resid_pdrop: 0.1 });
    const back = await GPT.fromPretrained(out);
    const got = back.namedParameters();
    expect(got.map(([n]) => n)).toEqual(trained.map(([n]) => n));
    for (let i = 0; i < got.length; i++) expect(Buffer.from(((await got[i][1].data.toArray()) as Float32Array).buffer).equals(Buffer.from(trained[i][1].buffer))).toBe(true);
    // Training moved the weights away from the folder's.
    expect(Array.from(trained[0][1])).not.toEqual(Array.from(fx.weights.get("wte.weight")!));
  }, 180_000);

  test("a fine-tuning run with --out resumes from its checkpoint (the --init folder recorded with it)", async () => {
    const fx = writeFixture(FIXTURE);
    const out = join(tmp("hf-ft"), "ckpt");
    const part = await runTraining({ ...RUN, init: fx.dir, out }, { stopAfter: 2 });
    expect(part.history.length).toBe(2);
    const rest = await runTraining({ ...RUN, init: fx.dir, out, resume: true });
    expect(rest.resumedFrom).toBe(2);
    expect(rest.history.map((h) => h.step)).toEqual([3, 4]);
    const other = writeFixture({ ...FIXTURE, seed: 8 });
    await expect(runTraining({ ...RUN, init: other.dir, out, resume: true, steps: 6 })).rejects.toThrow(/--resume: checkpoint in .* was trained with init=/);
  }, 120_000);

  test("--embedding stable warns why; --save-pretrained of a normed embedding is refused before training", async () => {
    const fx = writeFixture(FIXTURE);
    const warnings: string[] = [];
    const out = join(tmp("hf-ft"), "never");
    await expect(runTraining({ ...RUN, init: fx.dir, embedding: "stable", savePretrained: out }, { warn: (l) => warnings.push(l) })).rejects.toThrow(
      /--save-pretrained .*StableEmbedding.*which GPT-2 does not have/,
    );
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/--embedding stable with --init .* pretrained without one.*changes them, which makes fine-tuning worse.*StableEmbedding is for pretraining from scratch/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  test("the command line prints the warning on stderr", () => {
    const fx = writeFixture(FIXTURE);
    const out = join(tmp("hf-ft"), "never");
    const p = Bun.spawnSync(["./node_modules/.bin/bun", "src/cli/train.ts", "--init", fx.dir, "--tokenizer", "char", "--embedding", "stable", "--save-pretrained", out], {
      cwd: join(import.meta.dir, "../.."),
      env: { ...process.env },
    });
    const err = p.stderr.toString();
    expect(p.exitCode).toBe(1);
    expect(err).toMatch(/warning: --embedding stable with --init .*makes fine-tuning worse/);
    expect(err).toMatch(/train: --save-pretrained/);
  }, 60_000);

  test("a vocabulary that is not the tokenizer's, and shape flags that contradict the folder, are errors", async () => {
    const small = writeFixture({ ...FIXTURE, vocab: 11 });
    await expect(runTraining({ ...RUN, init: small.dir })).rejects.toThrow(/--init .*vocabulary has 11 ids \(config\.json vocab_size\) but the tokenizer char96 has 96/);
    const fx = writeFixture(FIXTURE);
    await expect(runTraining({ ...RUN, init: fx.dir, layers: 3 })).rejects.toThrow(/--layers 3 conflicts with --init .*n_layer 1/);
    await expect(runTraining({ ...RUN, init: fx.dir, arch: "gpt2-mini" })).rejects.toThrow(/--arch gpt2-mini conflicts with --init/);
    await expect(runTraining({ ...RUN, init: fx.dir, seq: 256 })).rejects.toThrow(/--seq: 256 exceeds the model's context of 128/);
    await expect(runTraining({ ...RUN, init: "/nonexistent/gpt2" })).rejects.toThrow(/fromPretrained\(\/nonexistent\/gpt2\): no such directory/);
  }, 60_000);
});

