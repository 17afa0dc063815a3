// `bun run kernels <name>`: prints the WGSL octet generates for a built-in graph. Generating WGSL needs no
// GPU, so this works on any machine. `--graph` prints the traced graph instead; `--list` the names;
// `--knobs` the environment knobs.
import { parseArgs } from "node:util";
import { Tensor } from "../dsl/tensor.ts";
import { jit } from "../runtime/jit.ts";
import { KNOBS } from "../runtime/env.ts";
import { layerNorm } from "../ops/layernorm.ts";
import { FORMATS } from "../optim/formats.ts";
import { formatTables, traceUpdate } from "../optim/optimizer.ts";
import { adam, lamb } from "../optim/adam.ts";
import { lars, momentum } from "../optim/momentum.ts";
import { adagrad, rmsprop } from "../optim/rmsprop.ts";
import { lion } from "../optim/lion.ts";
import { ademamix } from "../optim/ademamix.ts";
import type { OptimizerDef } from "../optim/define.ts";

const DEFS: Record<string, { def: OptimizerDef<any>; defaults: Record<string, unknown> }> = {
  adam: { def: adam, defaults: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maxUnorm: 0 } },
  adamw: { def: adam, defaults: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, maxUnorm: 0 } },
  lamb: { def: lamb, defaults: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maxUnorm: 1 } },
  sgd: { def: momentum, defaults: { lr: 1e-3, momentum: 0.9, weightDecay: 0, maxUnorm: 0, eps: 0 } },
  lars: { def: lars, defaults: { lr: 1e-3, momentum: 0.9, weightDecay: 0, maxUnorm: 0.02, eps: 0 } },
  rmsprop: { def: rmsprop, defaults: { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0 } },
  adagrad: { def: adagrad, defaults: { lr: 1e-2, eps: 1e-10, weightDecay: 0 } },
  lion: { def: lion, defaults: { lr: 1e-4, betas: [0.9, 0.99], weightDecay: 0 } },
  ademamix: { def: ademamix, defaults: { lr: 1e-3, betas: [0.9, 0.999, 0.9999], alpha: 5, eps: 1e-8, weightDecay: 1e-2, tAlpha: null, tBeta3: null } },
};

function builtin(name: string): { graph: string; wgsl: string[] } {
  const m = name.match(/^([a-z]+?)(8bit_linear|8bit|32bit)(_multi)?$/);
  const multi = !!m?.[3]; // the variant with per-tensor scalars from a table (tensors stepping differently)
  if (m && DEFS[m[1]]) {
    const { def, defaults } = DEFS[m[1]];
    const format = FORMATS[m[2] === "32bit" ? "f32" : m[2] === "8bit" ? "dynamic8" : "linear8"];
    const scalarNames = ["is_active", ...Object.keys(def.scalars(defaults, 1))];
    const fn = traceUpdate(def, format, 64, 4, scalarNames, Object.keys(formatTables(def, format)), !multi);
    return { graph: fn.graph, wgsl: fn.wgsl() };
  }
  const graphs: Record<string, () => ReturnType<typeof jit>> = {
    layernorm: () => jit("layernorm", { x: { shape: [64, 768] }, weight: { shape: [768] }, bias: { shape: [768] } }, ({ x, weight, bias }) => ({ y: layerNorm(x, weight, bias) })),
    axpy: () => jit("axpy", { x: { shape: [1 << 20] }, y: { shape: [1 << 20] } }, ({ x, y }) => ({ y: x.mul(Tensor.uniform("a")).add(y) }), { inPlace: { y: "y" } }),
    copy: () => jit("copy", { x: { shape: [1 << 20] } }, ({ x }) => ({ y: x.add(0) })),
  };
  const g = graphs[name];
  if (!g) throw new Error(`unknown kernel "${name}". Try: ${names().join(", ")}`);
  const fn = g();
  return { graph: fn.graph, wgsl: fn.wgsl() };
}

function names(): string[] {
  const opt = Object.keys(DEFS).flatMap((d) => [`${d}8bit`, `${d}32bit`, `${d}8bit_linear`]);
  return ["layernorm", "axpy", "copy", ...opt];
}

const { values, positionals } = parseArgs({ args: process.argv.slice(2), allowPositionals: true, strict: true, options: { graph: { type: "boolean" }, list: { type: "boolean" }, knobs: { type: "boolean" } } });
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
