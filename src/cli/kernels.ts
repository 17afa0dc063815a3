// `bun run kernels <name>`: prints the WGSL octet generates for a built-in graph. Generating WGSL needs no
// GPU, so this works on any machine. `--graph` prints the traced graph instead; `--list` the names;
// `--knobs` the environment knobs.
import { parseArgs } from "node:util";
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
  const m = name.match(/^([a-z]+?)(8bit_linear|8bit|32bit|4bit|fp8)(_multi)?$/);
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
  if (!g) throw new Error(`unknown kernel "${name}". Try: ${names().join(", ")}`);
  const fn = g();
  return { graph: fn.graph, wgsl: fn.wgsl() };
}

function names(): string[] {
  const opt = Object.keys(FAMILIES).flatMap((d) => [`${d}8bit`, `${d}32bit`, `${d}8bit_linear`]);
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
  if (!added.size) throw new Error(`kernels --module ${path}: the module exports no optimizer class (export the result of optimizerClasses(def, defaults, "Name"))`);
  return [...added].flatMap((d) => [`${d}8bit`, `${d}32bit`, `${d}8bit_linear`]);
}

const { values, positionals } = parseArgs({ args: process.argv.slice(2), allowPositionals: true, strict: true, options: { graph: { type: "boolean" }, list: { type: "boolean" }, knobs: { type: "boolean" }, module: { type: "string" } } });
if (values.module) {
  try {
    const added = await addModule(values.module);
    if (!positionals.length && !values.list && !values.knobs) positionals.push(...added.filter((n) => !n.endsWith("_linear")));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
if (values.list || (!positionals.length && !values.knobs)) console.log(names().join("\n"));
else if (values.knobs) for (const k of Object.values(KNOBS)) console.log(`${k.name.padEnd(20)} ${k.doc}`);
else
  for (const name of positionals) {
    try {
      const { graph, wgsl } = builtin(name);
      console.log(values.graph ? graph : wgsl.join("\n"));
    } catch (e) {
      console.error((e as Error).message);
      process.exit(1);
    }
  }
