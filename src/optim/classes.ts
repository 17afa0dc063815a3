// Turns an optimizer definition into the classes bitsandbytes users know: `Adam` (optimBits 32 unless told),
// `Adam8bit` (8-bit states), `Adam32bit` (32-bit states). Paged variants have no WebGPU equivalent.
import { withSharedDefaults, withSharedOptions, type OptimizerDef, type Hyper } from "./define.ts";
import { Optimizer, type ParamsArg } from "./optimizer.ts";
import type { Options } from "./config.ts";

export type OptimizerClass = (new (params: ParamsArg, options?: Options) => Optimizer) & {
  /** The update definition and the class's default options (what `bun run kernels` traces). */
  readonly def?: OptimizerDef<Hyper>;
  readonly defaults?: Hyper;
};

/** A maker of named classes over one definition; `forced` are the options the class name fixes (optimBits, stateFormat). */
function classMaker<H extends Hyper>(def: OptimizerDef<H>, defaults: H): (name: string, forced: Options) => OptimizerClass {
  return (name, forced) => {
    const C = class extends Optimizer<H> {
      static readonly def = def;
      static readonly defaults = defaults;
      constructor(params: ParamsArg, options: Options = {}) {
        super(def, name, defaults, params, options, forced);
      }
    };
    Object.defineProperty(C, "name", { value: name });
    return C as unknown as OptimizerClass;
  };
}

/**
 * `defaults` needs only the family's own keys: the shared ones (optimBits, min8bitSize, stateFormat,
 * percentileClipping, blockWise, skipZeros) get bitsandbytes' defaults.
 */
export function optimizerClasses<H extends Hyper>(definition: OptimizerDef<H>, familyDefaults: Partial<H> & Hyper, base: string): Record<string, OptimizerClass> {
  const def = withSharedOptions(definition);
  const defaults = withSharedDefaults(def, familyDefaults) as H;
  const make = classMaker(def, defaults);
  return { [base]: make(base, {}), [`${base}8bit`]: make(`${base}8bit`, { optimBits: 8 }), [`${base}32bit`]: make(`${base}32bit`, { optimBits: 32 }) };
}

/**
 * The classes of the low-bit formats beyond bitsandbytes: `Adam4bit` (4-bit states, Li et al. 2023; torchao's
 * AdamW4bit) and `AdamFp8` (FP8 E4M3 states; torchao's AdamWFp8). Only the storage differs from `${base}8bit`.
 */
export function lowBitClasses<H extends Hyper>(definition: OptimizerDef<H>, familyDefaults: Partial<H> & Hyper, base: string): Record<string, OptimizerClass> {
  const def = withSharedOptions(definition);
  const defaults = withSharedDefaults(def, familyDefaults) as H;
  const make = classMaker(def, defaults);
  return { [`${base}4bit`]: make(`${base}4bit`, { optimBits: 8, stateFormat: "fourbit" }), [`${base}Fp8`]: make(`${base}Fp8`, { optimBits: 8, stateFormat: "fp8e4m3" }) };
}

/** `PagedAdamW8bit` & co.: bitsandbytes pages state to host memory with CUDA unified memory. */
export function pagedUnsupported(name: string): OptimizerClass {
  const C = class {
    constructor() {
      throw new Error(
        `octet.optim.${name}: paged optimizers rely on CUDA unified memory (cudaMallocManaged), which WebGPU does not have. ` +
          `Use ${name.replace(/^Paged/, "")}: the math is identical (bnb-algorithms.md §3.9).`,
      );
    }
  };
  Object.defineProperty(C, "name", { value: name });
  return C as unknown as OptimizerClass;
}
