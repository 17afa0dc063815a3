// Training-run configuration: one zod schema shared by `bun run train`, `bun run compare` and checkpoints.
import { z } from "zod";
import { HF_OPTIMIZERS } from "../optim/names.ts";

export const TrainConfig = z
  .object({
    optim: z.string().superRefine((s, ctx) => {
      if (!(s in HF_OPTIMIZERS)) ctx.addIssue({ code: "custom", message: `unknown optimizer "${s}"; valid: ${Object.keys(HF_OPTIMIZERS).join(", ")}` });
    }),
    /** 8-bit state storage: bnb's dynamic map or the linear map (the paper's ablation). */
    stateFormat: z.enum(["dynamic8", "linear8"]).default("dynamic8"),
    embedding: z.enum(["plain", "stable", "adanorm"]).default("stable"),
    steps: z.number().int().positive().default(300),
    lr: z.number().positive().default(3e-3),
    batch: z.number().int().positive().default(16),
    seq: z.number().int().min(2).max(512).default(64),
    seed: z.number().int().nonnegative().default(0),
    layers: z.number().int().positive().default(2),
    heads: z.number().int().positive().default(4),
    width: z.number().int().positive().default(64),
    evalEvery: z.number().int().positive().default(100),
    evalBatches: z.number().int().positive().default(4),
    checkpointEvery: z.number().int().nonnegative().default(0),
    out: z.string().optional(),
    /**
     * true: continue the checkpoint in `out` (an error when there is none); false: start fresh (an error when `out`
     * already holds a checkpoint, which would be overwritten); unset (library callers): resume when one is there.
     */
    resume: z.boolean().optional(),
  })
  .strict();

export type TrainConfig = z.infer<typeof TrainConfig>;
