// Option schemas (zod, strict: an unknown key is an error that names it) shared by the optimizer families.
import { z } from "zod";
import { BLOCK_SIZES } from "./formats.ts";

const positive = z.number().finite().positive();
const nonneg = z.number().finite().nonnegative();
const beta = z.number().finite().min(0).max(1, "must be < 1").refine((b) => b < 1, "must be < 1");

/** Keys every optimizer accepts, with bnb's meaning. */
export const common = {
  lr: nonneg,
  eps: nonneg,
  weightDecay: nonneg,
  optimBits: z.union([z.literal(8), z.literal(32)]),
  min8bitSize: z.number().int().nonnegative(),
  /**
   * Storage of quantized states (optimBits 8): bnb's dynamic map, the linear map (ablation), FP8 E4M3 with a
   * per-block scale (torchao AdamWFp8), or 4-bit codes (Li et al. 2023; torchao AdamW4bit). src/optim/formats.ts.
   */
  stateFormat: z.enum(["dynamic8", "linear8", "fp8e4m3", "fourbit"]),
  /** Elements per quantization block (one scale each); unset: the format's own (256; 128 for fourbit). */
  blockSize: z.number().refine((v) => (BLOCK_SIZES as readonly number[]).includes(v), `must be one of ${BLOCK_SIZES.join(", ")}`).optional(),
  maxUnorm: nonneg,
};

export const betas2 = z.tuple([beta, beta]);
export const betas3 = z.tuple([beta, beta, beta]);
export { positive, nonneg, beta };

/** Keys a param group or an override may set (everything but the params themselves). */
export type Options = Record<string, unknown>;

/** Turns a zod error into one line that names the key, e.g. `AdamW8bit: option "lr": must be >= 0`. */
export function formatZodError(who: string, err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const key = i.path.length ? `option "${i.path.join(".")}"` : "options";
      if (i.code === "unrecognized_keys") return `${who}: unknown option${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}`;
      return `${who}: ${key}: ${i.message}`;
    })
    .join("; ");
}
