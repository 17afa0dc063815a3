// Checkpoints (src/io/checkpoint.ts): a bit-exact round trip of parameters and 8-bit optimizer state, files any
// safetensors reader can parse, refusals that name the problem and change nothing, and whole-directory atomicity.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as octet from "../../src/index.ts";
import {
  CHECKPOINT_FILES,
  decodeOptimizerState,
  encodeOptimizerState,
  loadCheckpoint,
  saveCheckpoint,
} from "../../src/io/checkpoint.ts";
import { decodeSafetensors, encodeSafetensors } from "../../src/io/safetensors.ts";

const { Module, Parameter } = octet.nn;
type Parameter = octet.nn.Parameter;
type Module = octet.nn.Module;
type SD = octet.optim.OptimizerStateDict;

class Head extends Module {
  constructor(public weight: Parameter, public bias: Parameter) {
    super();
  }
}
class Tiny extends Module {
  constructor(public embed: Parameter, public head: Head) {
    super();
  }
}

const SHAPES: Record<string, number[]> = { embed: [20, 16], "head.weight": [16, 5], "head.bias": [5] };

/** mulberry32: seeded values so every model differs from every other. */
function rand(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}
const values = (n: number, r: () => number) => Float32Array.from({ length: n }, r);
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

async function tiny(seed: number, shapes = SHAPES): Promise<Tiny> {
  const r = rand(seed);
  const p = async (s: number[]) => new Parameter(await octet.tensor(values(numel(s), r), s));
  return new Tiny(await p(shapes.embed), new Head(await p(shapes["head.weight"]), await p(shapes["head.bias"])));
}

async function stepWithFakeGrads(model: Module, opt: octet.optim.Optimizer, seed: number): Promise<void> {
  const r = rand(seed);
  for (const p of model.parameters()) p.grad = await octet.tensor(values(p.numel, () => r() * 0.1), [...p.shape]);
  await opt.step();
}

/** A model + AdamW8bit (8-bit state for every tensor) stepped twice. */
async function trained(seed: number) {
  const model = await tiny(seed);
  const opt = new octet.optim.AdamW8bit(model.parameters(), { lr: 1e-2, min8bitSize: 0 });
  await stepWithFakeGrads(model, opt, seed + 100);
  await stepWithFakeGrads(model, opt, seed + 200);
  return { model, opt };
}

const bytesOf = (v: ArrayBufferView) => Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));

/** Parameter values as raw bytes, by name (so -0 and NaN payloads count). */
async function paramBits(model: Module): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, p] of model.namedParameters()) out[name] = bytesOf((await p.data.toArray()) as Float32Array);
  return out;
}

/** A state dict as plain data, typed arrays as bytes. */
function sdBits(sd: SD): unknown {
  const state: Record<string, Record<string, unknown>> = {};
  for (const [k, e] of Object.entries(sd.state)) {
    state[k] = {};
    for (const [key, v] of Object.entries(e)) state[k][key] = typeof v === "number" ? v : { type: v.constructor.name, bytes: bytesOf(v) };
  }
  return { state, paramGroups: JSON.parse(JSON.stringify(sd.paramGroups)), format: JSON.parse(JSON.stringify(sd.format)) };
}

const root = mkdtempSync(join(tmpdir(), "octet-ckpt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshDir = () => join(root, `ck${counter++}`);

const CONFIG = { optim: "adamw_8bit", lr: 0.01, betas: [0.9, 0.999], nested: { seq: 128, name: "tiny" } };
const RNG = { seed: 7, state: [1, 2, 3, 4] };

/** Replace one file of a checkpoint and re-record its checksum, so only the content check can catch it. */
function rewrite(dir: string, file: string, bytes: Uint8Array): void {
  writeFileSync(join(dir, file), bytes);
  const trainer = JSON.parse(readFileSync(join(dir, CHECKPOINT_FILES.trainer), "utf8"));
  trainer.files[file] = { bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
  writeFileSync(join(dir, CHECKPOINT_FILES.trainer), JSON.stringify(trainer));
}

describe("saveCheckpoint / loadCheckpoint", () => {
  test("round trip: parameters and 8-bit optimizer state bit-exact; step, config, rng returned; the next step matches", async () => {
    const a = await trained(1);
    const dir = freshDir();
    await saveCheckpoint(dir, { model: a.model, optimizer: a.opt, step: 2, config: CONFIG, rng: RNG });
    expect(readdirSync(dir).sort()).toEqual([CHECKPOINT_FILES.model, CHECKPOINT_FILES.optimizer, CHECKPOINT_FILES.trainer].sort());

    const b = await tiny(2); // different values everywhere
    const optB = new octet.optim.AdamW8bit(b.parameters(), { lr: 1e-2, min8bitSize: 0 });
    const info = await loadCheckpoint(dir, { model: b, optimizer: optB });
    expect(info).toEqual({ step: 2, config: CONFIG, rng: RNG, tokenizer: null });
    expect(await paramBits(b)).toEqual(await paramBits(a.model));
    expect(sdBits(await optB.stateDict())).toEqual(sdBits(await a.opt.stateDict()));

    // The restored optimizer continues exactly as the original would have.
    await stepWithFakeGrads(a.model, a.opt, 300);
    await stepWithFakeGrads(b, optB, 300);
    expect(await paramBits(b)).toEqual(await paramBits(a.model));
  });

  test("model.safetensors is a plain safetensors file: names in namedParameters() order, F32, the model's shapes", async () => {
    const { model, opt } = await trained(3);
    const dir = freshDir();
    await saveCheckpoint(dir, { model, optimizer: opt, step: 2, config: CONFIG });
    const file = decodeSafetensors(new Uint8Array(readFileSync(join(dir, CHECKPOINT_FILES.model))));
    expect(file.names).toEqual(["embed", "head.weight", "head.bias"]);
    for (const [name, p] of model.namedParameters()) {
      expect(file.tensors[name].dtype).toBe("F32");
      expect(file.tensors[name].shape).toEqual(SHAPES[name]);
      expect(bytesOf(file.tensors[name].data)).toEqual(bytesOf((await p.data.toArray()) as Float32Array));
    }
    expect(file.metadata.format).toBe("octet");
    expect(file.metadata.step).toBe("2");
    expect(JSON.parse(file.metadata.config)).toEqual(CONFIG);

    const o = decodeSafetensors(new Uint8Array(readFileSync(join(dir, CHECKPOINT_FILES.optimizer))));
    expect(o.tensors["state.0.state1"].dtype).toBe("U8");
    expect(o.tensors["state.0.state1"].shape).toEqual([320]);
    expect(o.tensors["state.0.absmax1"].dtype).toBe("F32");
    expect(o.tensors["state.0.absmax1"].shape).toEqual([2]); // 320 elements = 2 blocks of 256
    expect(o.tensors["state.2.state2"].shape).toEqual([5]);
    expect(JSON.parse(o.metadata.steps)).toEqual({ "0": 2, "1": 2, "2": 2 });
    expect(JSON.parse(o.metadata.paramGroups)[0].params).toEqual([0, 1, 2]);
    expect(JSON.parse(o.metadata.stateFormat).blockSize).toBe(256);

    const trainer = JSON.parse(readFileSync(join(dir, CHECKPOINT_FILES.trainer), "utf8"));
    expect(trainer).toMatchObject({ format: "octet", step: 2, config: CONFIG, rng: null });
  });

  test("a model-only checkpoint loads without an optimizer; asking for optimizer state from it is refused", async () => {
    const { model } = await trained(4);
    const dir = freshDir();
    await saveCheckpoint(dir, { model, step: 9, config: {} });
    expect(existsSync(join(dir, CHECKPOINT_FILES.optimizer))).toBe(false);
    const b = await tiny(5);
    const optB = new octet.optim.AdamW8bit(b.parameters(), { min8bitSize: 0 });
    const before = await paramBits(b);
    await expect(loadCheckpoint(dir, { model: b, optimizer: optB })).rejects.toThrow(/saved without optimizer state/);
    expect(await paramBits(b)).toEqual(before);
    expect(await loadCheckpoint(dir, { model: b })).toEqual({ step: 9, config: {}, rng: null, tokenizer: null });
    expect(await paramBits(b)).toEqual(await paramBits(model));
  });
});

describe("half-precision parameters", () => {
  test("an f16 parameter is saved as F16 raw bits and restored bit-exact", async () => {
    class Half extends Module {
      constructor(public h: Parameter) {
        super();
      }
    }
    const make = async (v: number[]) => new Half(new Parameter(await octet.tensor(v, [5], { dtype: "f16" })));
    const a = await make([1.5, -2, 0.333, 65504, -0]);
    const dir = freshDir();
    await saveCheckpoint(dir, { model: a, step: 0, config: {} });
    const file = decodeSafetensors(new Uint8Array(readFileSync(join(dir, CHECKPOINT_FILES.model))));
    expect(file.tensors.h.dtype).toBe("F16");
    const b = await make([0, 0, 0, 0, 0]);
    await loadCheckpoint(dir, { model: b });
    const raw = async (m: Half) => bytesOf((await m.h.data.toArray()) as unknown as Uint16Array);
    expect(await raw(b)).toEqual(await raw(a));
    expect((await raw(b)).slice(8)).toEqual([0x00, 0x80]); // -0 kept
  });
});

describe("refused loads change nothing", () => {
  let dir = "";
  let saved: Awaited<ReturnType<typeof trained>>;
  const ready = (async () => {
    saved = await trained(10);
    dir = freshDir();
    await saveCheckpoint(dir, { model: saved.model, optimizer: saved.opt, step: 2, config: CONFIG, rng: RNG });
  })();

  /** A copy of the good checkpoint to damage. */
  function copy(): string {
    const d = freshDir();
    mkdirSync(d);
    for (const f of readdirSync(dir)) writeFileSync(join(d, f), readFileSync(join(dir, f)));
    return d;
  }

  /** Load `from` into a stepped model + optimizer and expect a refusal matching `message`, with nothing changed. */
  async function refused(from: string, message: RegExp, target?: { model: Module; opt?: octet.optim.Optimizer }) {
    const t = target ?? (await (async () => {
      const x = await trained(20);
      return { model: x.model, opt: x.opt as octet.optim.Optimizer };
    })());
    const params = await paramBits(t.model);
    const state = t.opt ? sdBits(await t.opt.stateDict()) : undefined;
    await expect(loadCheckpoint(from, { model: t.model, optimizer: t.opt })).rejects.toThrow(message);
    expect(await paramBits(t.model)).toEqual(params);
    if (t.opt) expect(sdBits(await t.opt.stateDict())).toEqual(state);
  }

  test("a parameter of another shape is named", async () => {
    await ready;
    const model = await tiny(30, { ...SHAPES, "head.weight": [16, 6] });
    await refused(dir, /'head\.weight' has shape \[16,5\] in the checkpoint, the model's is \[16,6\]/, { model });
  });

  test("missing and unexpected parameter names are named", async () => {
    await ready;
    class Other extends Module {
      constructor(public embed: Parameter, public proj: Parameter, public bias: Parameter) {
        super();
      }
    }
    const r = rand(31);
    const p = async (s: number[]) => new Parameter(await octet.tensor(values(numel(s), r), s));
    const model = new Other(await p([20, 16]), await p([16, 5]), await p([5]));
    await refused(dir, /'proj' missing from the checkpoint.*'head\.weight' in the checkpoint is not a parameter of the model/, { model });
  });

  test("a flipped byte in model.safetensors fails its checksum", async () => {
    await ready;
    const d = copy();
    const bytes = new Uint8Array(readFileSync(join(d, CHECKPOINT_FILES.model)));
    bytes[bytes.length - 3] ^= 0x40;
    writeFileSync(join(d, CHECKPOINT_FILES.model), bytes);
    await refused(d, /model\.safetensors is corrupt or from another checkpoint/);
  });

  test("a truncated or missing optimizer.safetensors", async () => {
    await ready;
    const d = copy();
    const bytes = readFileSync(join(d, CHECKPOINT_FILES.optimizer));
    writeFileSync(join(d, CHECKPOINT_FILES.optimizer), bytes.subarray(0, bytes.length - 100));
    await refused(d, /optimizer\.safetensors is corrupt/);
    rmSync(join(d, CHECKPOINT_FILES.optimizer));
    await refused(d, /cannot read optimizer\.safetensors \(ENOENT\)/);
  });

  test("a model file with the right names but the wrong dtype (checksum re-recorded)", async () => {
    await ready;
    const d = copy();
    const file = decodeSafetensors(new Uint8Array(readFileSync(join(d, CHECKPOINT_FILES.model))));
    const t = file.tensors["head.bias"];
    file.tensors["head.bias"] = { dtype: "F64", shape: t.shape, data: Float64Array.from(t.data as Float32Array) };
    rewrite(d, CHECKPOINT_FILES.model, encodeSafetensors(file.tensors, file.metadata));
    await refused(d, /'head\.bias' is F64 in the checkpoint, the model's parameter is f32/);
  });

  test("files of two checkpoints mixed (steps disagree)", async () => {
    await ready;
    const d = copy();
    const file = decodeSafetensors(new Uint8Array(readFileSync(join(d, CHECKPOINT_FILES.model))));
    rewrite(d, CHECKPOINT_FILES.model, encodeSafetensors(file.tensors, { ...file.metadata, step: "7" }));
    await refused(d, /model\.safetensors is from step 7 but trainer\.json says step 2/);
  });

  test("optimizer state the optimizer refuses (another class): parameters are not written either", async () => {
    await ready;
    const model = await tiny(40);
    const opt = new octet.optim.Lion8bit(model.parameters(), { min8bitSize: 0 });
    await stepWithFakeGrads(model, opt, 41);
    await refused(dir, /optimizer\.safetensors: Lion8bit\.loadStateDict: state of a adam optimizer, this is lion/, { model, opt });
  });

  test("optimizer state of a different layout (32-bit state where 8-bit was saved)", async () => {
    await ready;
    const model = await tiny(42);
    const opt = new octet.optim.AdamW8bit(model.parameters(), { min8bitSize: 4096 }); // all three keep f32 state
    await stepWithFakeGrads(model, opt, 43);
    await refused(dir, /optimizer\.safetensors: .*parameter 0 was saved with dynamic8 state/, { model, opt });
  });

  test("bad trainer.json, unknown tensor names in optimizer.safetensors, no directory", async () => {
    await ready;
    const d = copy();
    writeFileSync(join(d, CHECKPOINT_FILES.trainer), "{ not json");
    await refused(d, /trainer\.json is not valid JSON/);

    const e = copy();
    const o = decodeSafetensors(new Uint8Array(readFileSync(join(e, CHECKPOINT_FILES.optimizer))));
    o.tensors["momentum.0"] = { dtype: "F32", shape: [1], data: new Float32Array(1) };
    rewrite(e, CHECKPOINT_FILES.optimizer, encodeSafetensors(o.tensors, o.metadata));
    await refused(e, /tensor 'momentum\.0' is not named state\.<index>\.<key>/);

    await refused(join(root, "nowhere"), /no checkpoint directory there/);
  });
});

describe("atomic as a whole", () => {
  test("saving over a checkpoint replaces it and leaves no temporary siblings", async () => {
    const { model, opt } = await trained(50);
    const dir = freshDir();
    await saveCheckpoint(dir, { model, optimizer: opt, step: 2, config: { run: 1 } });
    await saveCheckpoint(dir, { model, step: 3, config: { run: 2 } }); // no optimizer this time
    expect(readdirSync(dir).sort()).toEqual([CHECKPOINT_FILES.model, CHECKPOINT_FILES.trainer]);
    expect(JSON.parse(readFileSync(join(dir, CHECKPOINT_FILES.trainer), "utf8")).config).toEqual({ run: 2 });
    const name = dir.split("/").pop()!;
    expect(readdirSync(root).filter((n) => n.startsWith(`.${name}.`))).toEqual([]);
  });

  test("a refused save (config not JSON) leaves the existing checkpoint untouched", async () => {
    const { model } = await trained(51);
    const dir = freshDir();
    await saveCheckpoint(dir, { model, step: 1, config: { a: 1 } });
    const before = readFileSync(join(dir, CHECKPOINT_FILES.trainer), "utf8");
    await expect(saveCheckpoint(dir, { model, step: 2, config: { lr: Number.NaN } })).rejects.toThrow(/config\.lr is NaN/);
    await expect(saveCheckpoint(dir, { model, step: 2, config: { when: new Date() } })).rejects.toThrow(/config\.when is a Date/);
    expect(readFileSync(join(dir, CHECKPOINT_FILES.trainer), "utf8")).toBe(before);
  });

  test("a crash between the swap's renames: the set-aside checkpoint is restored, a crashed temp dir is removed", async () => {
    const { model } = await trained(52);
    const dir = freshDir();
    await saveCheckpoint(dir, { model, step: 4, config: { a: 1 } });
    const name = dir.split("/").pop()!;
    const deadPid = 999_999_999; // above any pid_max: no such process
    // The state a crash leaves: the old checkpoint renamed aside, the new one half written, no `dir`.
    renameSync(dir, join(root, `.${name}.old-${deadPid}-aa`));
    mkdirSync(join(root, `.${name}.tmp-${deadPid}-bb`));
    writeFileSync(join(root, `.${name}.tmp-${deadPid}-bb`, CHECKPOINT_FILES.model), "half");
    const b = await tiny(53);
    expect((await loadCheckpoint(dir, { model: b })).step).toBe(4);
    expect(await paramBits(b)).toEqual(await paramBits(model));
    await saveCheckpoint(dir, { model, step: 5, config: { a: 1 } });
    expect(readdirSync(root).filter((n) => n.startsWith(`.${name}.`))).toEqual([]);
  });
});

describe("optimizer state <-> safetensors (no device)", () => {
  const sd: SD = {
    state: {
      0: { step: 3, state1: Uint8Array.from([1, 2, 255]), absmax1: Float32Array.from([0.5]), state2: Uint8Array.from([0, 0, 7]), absmax2: Float32Array.from([-0]) },
      2: { step: 1, state1: Float32Array.from([1.5, Number.NaN]) },
    },
    paramGroups: [{ params: [0, 1, 2], lr: 0.001, betas: [0.9, 0.995] }],
    format: { version: 1, blockSize: 256, mapChecksum: { dynamic8_signed: "abc" }, optimizer: "adamw", stateFormats: { 0: "dynamic8", 2: "f32" } },
  };

  test("encode -> decode is exact (dtypes, bytes, steps, groups, format record)", () => {
    const file = decodeSafetensors(encodeOptimizerState(sd));
    expect(file.names).toEqual(["state.0.state1", "state.0.absmax1", "state.0.state2", "state.0.absmax2", "state.2.state1"]);
    expect(file.tensors["state.0.state1"].dtype).toBe("U8");
    expect(file.tensors["state.2.state1"].dtype).toBe("F32");
    expect(sdBits(decodeOptimizerState(file))).toEqual(sdBits(sd));
  });

  test("refuses what it cannot hold exactly, and malformed files", () => {
    expect(() => encodeOptimizerState({ ...sd, state: { 0: { step: 1, state1: new Int32Array(2) as never } } })).toThrow(/state\.0\.state1 is a Int32Array/);
    expect(() => encodeOptimizerState({ ...sd, paramGroups: [{ params: [0], lr: Infinity }] })).toThrow(/paramGroups\[0\]\.lr is Infinity/);
    const file = decodeSafetensors(encodeOptimizerState(sd));
    expect(() => decodeOptimizerState({ ...file, metadata: { ...file.metadata, steps: "{" } })).toThrow(/__metadata__\.steps is not valid JSON/);
    expect(() => decodeOptimizerState({ ...file, metadata: { ...file.metadata, kind: "model" } })).toThrow(/not an octet optimizer file/);
    const noStep = { ...file, metadata: { ...file.metadata, steps: JSON.stringify({ 0: 3 }) } };
    expect(() => decodeOptimizerState(noStep)).toThrow(/'state\.2\.state1' belongs to parameter 2, which has no step count/);
  });
});
