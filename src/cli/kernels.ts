// `npm run kernels -- <name>`: prints the WGSL octet generates for a built-in graph. Generating WGSL needs no
// GPU, so this works on any machine. `--graph` prints the traced graph instead; `--list` the names;
// `--knobs` the environment knobs; `--module` adds a user module's optimizers; `--help` every flag.
import { defineCommand, runCommand, flag, parseCommand, UsageError } from "./args.ts";
import { Tensor } from "../dsl/tensor.ts";
import { jit } from "../runtime/jit.ts";
import { KNOBS } from "../runtime/env.ts";
import { layerNorm } from "../ops/layernorm.ts";
import { FORMATS } from "../optim/formats.ts";
import { formatTables, updateScalarNames } from "../optim/buckets.ts";
import { traceUpdate } from "../optim/trace.ts";
import * as optim from "../optim/index.ts";
import type { OptimizerClass } from "../optim/classes.ts";
import { DEFAULT_TARGET } from "../codegen/kernel.ts";

// No device is acquired here: kernels are generated for the documented default target (codegen/kernel.ts).
const target = DEFAULT_TARGET;

/** Family name in a kernel name -> the class whose definition and defaults are traced. */
const FAMILIES: Record<string, OptimizerClass> = {
  adam: optim.Adam, adamw: optim.AdamW, lamb: optim.LAMB, sgd: optim.SGD, lars: optim.LARS,
  rmsprop: optim.RMSprop, adagrad: optim.Adagrad, lion: optim.Lion, ademamix: optim.AdEMAMix,
};

function builtin(name: string): { graph: string; wgsl: string[] } {
  const m = name.match(/^([a-z]+?)(8bit_linear|8bit_companded|8bit|32bit|4bit|fp8)(_multi)?$/);
  const multi = !!m?.[3]; // the variant with per-tensor scalars from a table (tensors stepping differently)
  const family = m ? FAMILIES[m[1]] : undefined;
  if (m && family?.def && family.defaults) {
    const { def, defaults } = family;
    const format = Object.values(FORMATS).find((f) => f.kernelTag === m[2])!;
    const fn = traceUpdate(def, format, 64, 4, updateScalarNames(def, defaults), Object.keys(formatTables(def, format)), !multi, target);
    return { graph: fn.graph, wgsl: fn.wgsl() };
  }
  const graphs: Record<string, () => ReturnType<typeof jit>> = {
    layernorm: () => jit("layernorm", { x: { shape: [64, 768] }, weight: { shape: [768] }, bias: { shape: [768] } }, ({ x, weight, bias }) => ({ y: layerNorm(x, weight, bias) }), { target }),
    axpy: () => jit("axpy", { x: { shape: [1 << 20] }, y: { shape: [1 << 20] } }, ({ x, y }) => ({ y: x.mul(Tensor.uniform("a")).add(y) }), { inPlace: { y: "y" }, target }),
    copy: () => jit("copy", { x: { shape: [1 << 20] } }, ({ x }) => ({ y: x.add(0) }), { target }),
  };
  const g = graphs[name];
  if (!g) throw new UsageError(`unknown kernel "${name}". Try: ${names().join(", ")}`);
  const fn = g();
  return { graph: fn.graph, wgsl: fn.wgsl() };
}

function names(): string[] {
  const opt = Object.keys(FAMILIES).flatMap((d) => [`${d}8bit`, `${d}32bit`, `${d}8bit_linear`, `${d}8bit_companded`]);
  return ["layernorm", "axpy", "copy", ...opt];
}

/**
 * `--module ./my-optimizer.ts`: the optimizer classes a user module exports (optimizerClasses' result, each with
 * its def and defaults) join the families under their definition's name: `kernels -- --module ./m.ts signsgd8bit`.
 */
async function addModule(path: string): Promise<string[]> {
  const { pathToFileURL } = await import("node:url");
  const { resolve } = await import("node:path");
  const mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  const added = new Set<string>();
  for (const v of Object.values(mod)) {
    const C = v as OptimizerClass;
    if (typeof C !== "function" || !C.def || !C.defaults) continue;
    FAMILIES[C.def.name] ??= C;
    added.add(C.def.name);
  }
  if (!added.size) throw new UsageError(`--module ${path}: the module exports no optimizer class (export the result of optimizerClasses(def, defaults, "Name"))`);
  return [...added].flatMap((d) => [`${d}8bit`, `${d}32bit`, `${d}8bit_linear`, `${d}8bit_companded`]);
}

export const KERNELS_FLAGS = {
  graph: flag.boolean("print the traced graph instead of the WGSL"),
  list: flag.boolean("list the built-in kernel names"),
  knobs: flag.boolean("list the environment knobs (OCTET_DEBUG, OCTET_VALIDATE, ...) with what each does"),
  module: flag.string("a module whose exported optimizer classes join the families (its kernels print when no name is given)", { placeholder: "FILE" }),
} as const;

export const KERNELS = defineCommand({
  name: "kernels",
  usage: "npm run kernels -- [flags] [name...]",
  summary: "Prints the WGSL (or with --graph the traced graph) octet generates for built-in kernels, without a GPU.",
  flags: KERNELS_FLAGS,
  positionals: { placeholder: "name...", doc: "kernels to print (--list shows them; default: the list)" },
  epilog: "examples: npm run kernels -- adamw8bit\n          npm run kernels -- --module ./my-optimizer.ts",
});

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(KERNELS, argv);
  if (values.module) {
    const added = await addModule(values.module);
    if (!positionals.length && !values.list && !values.knobs) positionals.push(...added.filter((n) => !n.endsWith("_linear")));
  }
  if (values.knobs) {
    for (const k of Object.values(KNOBS)) console.log(`${k.name.padEnd(20)} ${k.doc}`);
    return;
  }
  if (values.list || !positionals.length) {
    console.log(names().join("\n"));
    return;
  }
  for (const name of positionals) {
    const { graph, wgsl } = builtin(name);
    console.log(values.graph ? graph : wgsl.join("\n"));
  }
}

if (import.meta.main) await runCommand(KERNELS, main);
