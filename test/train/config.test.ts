// --arch presets and the run config: an arch fills the shape that was not given, --seq is limited by the
// model's context only, and the GPT-2 shapes have GPT-2's parameter counts.
import { describe, expect, test } from "bun:test";
import { ARCHS, TrainConfig } from "../../src/train/config.ts";

import { buildModel } from "../../src/train/trainer.ts";
import * as octet from "../../src/index.ts";

/** Parameters of a GPT-2 with a tied head: wte, wpe, blocks, final norm. */
function gpt2Params(V: number, T: number, L: number, C: number): number {
  const block = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C);
  return V * C + T * C + L * block + 2 * C;
}

describe("TrainConfig", () => {
  test("the default arch is the README's character model, context = --seq", () => {
    const c = TrainConfig.parse({ optim: "adamw_8bit" });
    expect(c).toMatchObject({ arch: "default", tokenizer: "char", layers: 2, heads: 4, width: 64, seq: 64, context: 64 });
    expect(TrainConfig.parse({ optim: "adamw_8bit", seq: 2048 }).context).toBe(2048); // no 512 cap any more
  });

  test("gpt2-small: 12 x 12 x 768, 1024 positions, the gpt2 tokenizer; flags override the preset", () => {
    const c = TrainConfig.parse({ optim: "adamw_bnb_8bit", arch: "gpt2-small" });
    expect(c).toMatchObject({ tokenizer: "gpt2", layers: 12, heads: 12, width: 768, context: 1024 });
    expect(TrainConfig.parse({ optim: "adamw_8bit", arch: "gpt2-small", layers: 2, tokenizer: "char" })).toMatchObject({ layers: 2, heads: 12, tokenizer: "char" });
    expect(TrainConfig.parse({ optim: "adamw_8bit", arch: "gpt2-mini" })).toMatchObject({ layers: 6, heads: 6, width: 384, context: 1024, tokenizer: "gpt2" });
  });

  test("GPT-2 small's 124M parameters: 124,439,808, HF's GPT2LMHeadModel count for \"gpt2\" (tied head)", () => {
    const a = ARCHS["gpt2-small"];
    expect(gpt2Params(50257, a.context, a.layers, a.width)).toBe(124_439_808);
  });

  test("the GPT-2 presets build a tied head; the default arch an untied one", async () => {
    await octet.device();
    // gpt2-mini's own shape with a tiny vocabulary and context: the tie comes from the preset.
    const mini = buildModel(TrainConfig.parse({ optim: "adamw_8bit", arch: "gpt2-mini", embedding: "plain", width: 12, heads: 2, layers: 1, context: 8, seq: 8 }), 50);
    expect(mini.head).toBeNull();
    expect(mini.parameters().reduce((n, p) => n + p.numel, 0)).toBe(gpt2Params(50, 8, 1, 12));
    expect(buildModel(TrainConfig.parse({ optim: "adamw_8bit", layers: 1, width: 8, heads: 2, seq: 8 }), 50).head).not.toBeNull();
  });

  test("--seq is limited by the context only, and says so", () => {
    expect(TrainConfig.parse({ optim: "adamw_8bit", arch: "gpt2-small", seq: 1024 }).seq).toBe(1024);
    const r = TrainConfig.safeParse({ optim: "adamw_8bit", arch: "gpt2-small", seq: 1025 });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.message).toMatch(/1025 exceeds the model's context of 1024 positions \(--arch gpt2-small\)/);
    expect(TrainConfig.safeParse({ optim: "adamw_8bit", seq: 64, context: 32 }).success).toBe(false);
  });

  test("unknown arch and tokenizer names, and a width the heads do not divide, are refused", () => {
    expect(TrainConfig.safeParse({ optim: "adamw_8bit", arch: "gpt3" }).success).toBe(false);
    expect(TrainConfig.safeParse({ optim: "adamw_8bit", tokenizer: "sentencepiece" }).success).toBe(false);
    const r = TrainConfig.safeParse({ optim: "adamw_8bit", heads: 5 });
    expect(r.error!.issues[0]!.message).toMatch(/64 is not divisible by --heads 5/);
  });

  test("--state-format with an --optim that keeps no 8-bit state would be ignored, so it is refused", () => {
    const torch = TrainConfig.safeParse({ optim: "adamw_torch", stateFormat: "fourbit" });
    expect(torch.error!.issues[0]!.message).toMatch(/fourbit applies to an 8-bit --optim .*--optim adamw_torch keeps 32-bit state/);
    const muon = TrainConfig.safeParse({ optim: "muon_8bit", stateFormat: "companded8" });
    expect(muon.error!.issues[0]!.message).toMatch(/--optim muon_8bit keeps its momentum in bitsandbytes' dynamic8 map/);
    expect(TrainConfig.safeParse({ optim: "adamw_8bit", stateFormat: "companded8" }).success).toBe(true);
    expect(TrainConfig.safeParse({ optim: "adamw_torch" }).success).toBe(true); // the default dynamic8 is not "given"
  });
});
