// Option schemas (zod, strict: an unknown key is an error that names it) shared by the optimizer families.
import { z } from "zod";
import { BLOCK_SIZES } from "./formats.ts";

/** paramDtype / gradDtype values (optim/paramstorage.ts) and compensation buffers (optim/compensation.ts). */
export const PARAM_DTYPES = ["f32", "bf16", "f16"] as const;
export const COMPENSATION_NAMES = ["none", "kahan", "errorbits8"] as const;

const positive = z.number().finite().positive();
const nonneg = z.number().finite().nonnegative();
// One check per bound, so a bad beta is reported once (a max() plus a refine() both fired for 1.5).
const beta = z.number().finite().min(0).lt(1, "must be < 1");

/** Keys every optimizer accepts, with bnb's meaning. */
export const common = {
  lr: nonneg,
  eps: nonneg,
  weightDecay: nonneg,
  optimBits: z.union([z.literal(8), z.literal(32)]),
  min8bitSize: z.number().int().nonnegative(),
  /**
   * Storage of quantized states (optimBits 8): bnb's dynamic map, the linear map (ablation), FP8 E4M3 with a
   * per-block scale (torchao AdamWFp8), FlashOptim's companded bytes (softsign / square root, decoded without a table), or 4-bit codes (Li et al. 2023; torchao AdamW4bit). src/optim/formats.ts.
   */
  stateFormat: z.enum(["dynamic8", "linear8", "fp8e4m3", "companded8", "fourbit"]),
  /** Elements per quantization block (one scale each); unset: the format's own (256; 128 for fourbit). */
  blockSize: z.number().refine((v) => (BLOCK_SIZES as readonly number[]).includes(v), `must be one of ${BLOCK_SIZES.join(", ")}`).optional(),
  maxUnorm: nonneg,
  /**
   * bnb's percentile clipping (before 0.50): a history of each parameter's last 100 squared gradient norms;
   * a gradient whose norm is above the `percentileClipping`-th smallest of them is scaled down to it. 100 = off.
   */
  percentileClipping: z.number().int().min(0).max(100),
  /** bnb's blockwise 8-bit state: octet's quantized state is always blockwise (blockSize). */
  blockWise: z.literal(true, { error: "must be true: bnb's non-blockwise (static) 8-bit state was removed in bitsandbytes 0.50.0, and octet's quantized state is always blockwise (one absmax per blockSize elements, 256 by default)" }),
  /**
   * How the optimizer stores the parameters and their gradients (optim/paramstorage.ts): f32, or bf16 / f16
   * without an f32 master copy; gradDtype defaults to paramDtype (a torch .grad has its parameter's dtype).
   */
  paramDtype: z.enum(PARAM_DTYPES, { error: `must be one of ${PARAM_DTYPES.map((d) => `"${d}"`).join(", ")}` }).optional(),
  gradDtype: z.enum(PARAM_DTYPES, { error: `must be one of ${PARAM_DTYPES.map((d) => `"${d}"`).join(", ")}` }).optional(),
  /** bf16 parameters: round each update stochastically (unbiased) instead of to nearest. */
  bf16StochasticRound: z.boolean().optional(),
  /** bf16 parameters: a compensation buffer keeping what rounding drops (optim/compensation.ts). */
  compensation: z.enum(COMPENSATION_NAMES, { error: `must be one of ${COMPENSATION_NAMES.map((d) => `"${d}"`).join(", ")}` }).optional(),
  /** bnb's skip_zeros: ignored by its 2-state 8-bit kernel, broken in the 1-state one (bnb-algorithms §3.10). */
  skipZeros: z.literal(false, { error: "must be false: bnb ignores skip_zeros in its 2-state 8-bit kernel and re-quantizes an uninitialized value in the 1-state one, so octet does not implement it" }),
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
