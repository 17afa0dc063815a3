// GlobalOptimManager (issue #11): it holds modules and parameters weakly (it used to keep every nn.Embedding a
// model ever registered alive), and a module override that replaces keys the user set on that parameter with
// overrideConfig says so, once (bitsandbytes' rule, kept: the module override wins whole).
import { afterEach, beforeEach, expect, test } from "bun:test";
import { octet, param } from "./helpers.ts";

const manager = () => octet.optim.GlobalOptimManager.getInstance();
let warnings: string[] = [];
beforeEach(() => {
  manager().initialize();
  warnings = [];
  manager().warn = (m) => warnings.push(m);
});
afterEach(() => {
  manager().initialize();
  manager().warn = (m) => console.warn(m);
});

class TinyEmbedding extends octet.nn.Module {
  constructor(public weight: octet.nn.Parameter) {
    super();
  }
}

test("a module override that drops overrideConfig's keys warns once, naming the keys; the module override wins", async () => {
  const emb = new TinyEmbedding(await param(new Float32Array(5000).fill(0.25)));
  const other = await param(new Float32Array(5000).fill(0.25));
  manager().overrideConfig(emb.weight, "lr", 1e-5);
  manager().overrideConfig(other, "lr", 1e-5); // no module override on it: no warning
  manager().registerModuleOverride(emb, "weight", { optimBits: 32 });
  const opt = new octet.optim.AdamW8bit([emb.weight, other], { lr: 1e-3 });
  for (const p of [emb.weight, other]) p.grad = await octet.tensor(new Float32Array(5000).fill(0.5));
  await opt.step();
  await opt.step();
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toContain("module override of TinyEmbedding.weight ({ optimBits: 32 })");
  expect(warnings[0]).toContain('dropping { lr: 0.00001 }');
  // bitsandbytes' rule still holds: the parameter steps with the optimizer's lr, with 32-bit state.
  expect(manager().overridesFor(emb.weight, 0, 0)).toEqual({ optimBits: 32 });
  const sd = await opt.stateDict();
  expect(sd.state[0].state1).toBeInstanceOf(Float32Array);
  expect(sd.state[1].state1).toBeInstanceOf(Uint8Array);
});

test("no warning when the module override keeps the user's keys or there were none", async () => {
  const a = new TinyEmbedding(await param(new Float32Array(300).fill(0.25)));
  const b = new TinyEmbedding(await param(new Float32Array(300).fill(0.25)));
  manager().overrideConfig(a.weight, { optimBits: 32 });
  manager().registerModuleOverride(a, "weight", { optimBits: 32 });
  manager().registerModuleOverride(b, "weight", { optimBits: 32 });
  const opt = new octet.optim.AdamW8bit([a.weight, b.weight]);
  for (const p of [a.weight, b.weight]) p.grad = await octet.tensor(new Float32Array(300).fill(0.5));
  await opt.step();
  expect(warnings).toEqual([]);
});

test("the manager does not keep a registered module or its parameter alive", async () => {
  // Built in a function so that nothing on this stack refers to them afterwards.
  const register = async () => {
    const emb = new octet.nn.Embedding(8, 4);
    manager().registerParameters([emb.weight]);
    manager().overrideConfig(emb.weight, "lr", 1e-4);
    expect(octet.optim.useFp32EmbeddingStates(emb)).toBe(1);
    return { module: new WeakRef(emb), weight: new WeakRef(emb.weight) };
  };
  const refs = await register();
  for (let i = 0; i < 10 && (refs.module.deref() || refs.weight.deref()); i++) {
    Bun.gc(true);
    await Bun.sleep(10);
  }
  expect(refs.module.deref()).toBeUndefined();
  expect(refs.weight.deref()).toBeUndefined();
});
