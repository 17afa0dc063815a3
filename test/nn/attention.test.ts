// Fused causal attention (dsl/attention.ts, codegen/lowerings/attention*.ts) against the float64 oracle of
// test/reference/nn.ts: the forward against attentionRef, the backward (autograd seeded with a fixed random
// R, so the "loss" is sum(O ⊙ R)) against central differences of sum(attentionRef(qkv) ⊙ R). Shapes cover
// head sizes 3 (scalar kernels), 4, 16 (the default GPT's), 32, 64 (GPT-2's), T = 1, T not a multiple of the
// tiles or of a forward workgroup's rows, and T = 1024 (on lavapipe, whose subgroups have 8 lanes, the forward
// is the subgroup kernel); the schedule is checked for its kernel count and for having no [T, T] buffer.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { backward, leaf } from "../../src/autograd/var.ts";
import * as F from "../../src/nn/functional.ts";
import { attention, attentionBackward } from "../../src/dsl/attention.ts";
import { schedule } from "../../src/codegen/schedule.ts";
import { attentionGeometry } from "../../src/codegen/lowerings/attention.ts";
import { emitWgsl } from "../../src/codegen/wgsl.ts";
import { interpretSchedule } from "../../src/codegen/interpret.ts";
import { DEFAULT_TARGET } from "../../src/codegen/kernel.ts";
import { deviceTarget } from "../../src/runtime/target.ts";
import { numel } from "../../src/dsl/node.ts";
import { setStorageBindingCap } from "../../src/runtime/device.ts";
import * as ref from "../reference/nn.ts";
import { attentionGrad64 } from "../reference/attention.ts";
import { seededRandom } from "../reference/quant.ts";

await octet.device();
setDefaultTimeout(60_000);

const FWD_RTOL = 2e-6;
const GRAD_RTOL = 1e-3;

function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

/**
 * GPU forward and d qkv for one shape against the float64 references: the forward against attentionRef, the
 * gradient against the hand-written float64 backward (test/reference/attention.ts), and, for small inputs,
 * both the GPU gradient and that backward against central differences of attentionRef.
 */
async function checkShape(B: number, T: number, H: number, d: number, seed: number) {
  const C = H * d;
  const x = randn(B * T * 3 * C, seed, 1.5);
  const p = new octet.nn.Parameter(await octet.tensor(x.slice(), [B * T, 3 * C]));
  const out = F.causalSelfAttention(leaf(p), B, T, H);
  const X = Float64Array.from(x);
  const R = randn(B * T * C, seed + 1);
  const want = attentionGrad64(X, B, T, C, H, R);
  const got = (await out.value.toArray()) as Float32Array;
  expect(ref.maxRelErr(got, want.o), `forward B=${B} T=${T} H=${H} d=${d}`).toBeLessThan(FWD_RTOL);
  if (T <= 64) expect(ref.maxRelErr(got, ref.attentionRef(X, B, T, C, H))).toBeLessThan(FWD_RTOL);
  backward(out, await octet.tensor(R, [B * T, C]));
  const g = (await p.grad!.toArray()) as Float32Array;
  expect(ref.maxRelErr(g, want.dqkv!), `d qkv B=${B} T=${T} H=${H} d=${d}`).toBeLessThan(GRAD_RTOL);
  if (x.length <= 1000) {
    const fd = ref.finiteDiff((v) => ref.dot(ref.attentionRef(v, B, T, C, H), R), X);
    expect(ref.maxRelErr(g, fd), `d qkv vs central differences`).toBeLessThan(GRAD_RTOL);
    expect(ref.maxRelErr(want.dqkv!, fd), `the float64 backward vs central differences`).toBeLessThan(1e-6);
  }
}

describe("fused causal attention vs the float64 reference", () => {
  const geo = attentionGeometry("forward", 16, deviceTarget());
  const bwd = attentionGeometry("dq", 64, deviceTarget());
  const shapes: [number, number, number, number][] = [
    [1, 1, 1, 4], // T = 1: one key, softmax weight exactly 1
    [2, 3, 2, 3], // head size 3: scalar (non-vec4) kernels
    [2, 5, 3, 4],
    [1, geo.tile + 3, 2, 16], // past one tile, not a multiple of it
    [2, geo.wg * geo.rows + 3, 2, 8], // past one forward workgroup's rows, not a multiple of them
    [3, 9, 1, 32],
    [1, 2 * bwd.wg + 5, 1, 64], // several backward workgroups (three staged, two with subgroups), several forward ones, many key tiles, GPT-2's head size
  ];
  for (const [B, T, H, d] of shapes)
    test(`B=${B} T=${T} H=${H} d=${d}: forward and d qkv`, async () => {
      await checkShape(B, T, H, d, 7 * B + T + 13 * d);
    });

  test("T = 1024 (B=1, H=2, d=16): forward and d qkv", async () => {
    await checkShape(1, 1024, 2, 16, 5);
  });
});

describe("fused attention schedule", () => {
  const B = 1, T = 1024, H = 2, d = 16, C = H * d;
  const qkv = octet.Tensor.input(0, "qkv", [B * T, 3 * C]);
  const dO = octet.Tensor.input(1, "d_o", [B * T, C]);
  const o = attention(qkv, T, H);
  const dx = attentionBackward(qkv, o, dO, T, H);

  test("forward is one kernel, forward + backward three; no buffer holds T*T elements", () => {
    const fwd = schedule([{ node: o.node, name: "o" }], "attn");
    expect(fwd.kernels.length).toBe(1);
    // (the backward reads O, so the forward runs inside its program)
    const both = schedule([{ node: dx.node, name: "dqkv" }], "attn_bwd");
    expect(both.kernels.map((k) => k.kernel.attention?.pass)).toEqual(["forward", "dq", "dkv"]);
    for (const s of both.slots) expect(numel(s.shape), `${s.name}`).toBeLessThan(T * T / 8);
  });

  test("O realized beside its backward is computed once, in either order", () => {
    for (const order of [[0, 1], [1, 0]]) {
      const targets = [{ node: o.node, name: "o" }, { node: dx.node, name: "dqkv" }];
      const s = schedule(order.map((i) => targets[i]), "attn_both");
      const passes = s.kernels.map((k) => k.kernel.attention?.pass).filter((p) => p);
      expect(passes.filter((p) => p === "forward")).toHaveLength(1);
      expect(passes).toHaveLength(3);
    }
  });

  test("tiles follow the target's workgroup limits; WGSL names its bindings and says what it is", () => {
    const small = { ...DEFAULT_TARGET, maxWorkgroupStorageBytes: 16384, maxWorkgroupInvocations: 32 };
    const g = attentionGeometry("dkv", 64, small);
    expect(g.wg).toBe(32);
    expect(g.tile * (2 * 64 + 2) * 4).toBeLessThanOrEqual(16384);
    expect(attentionGeometry("forward", 64, { ...DEFAULT_TARGET, maxWorkgroupStorageBytes: 32768 }).tile).toBe(64);
    expect(() => attentionGeometry("forward", 4096, small)).toThrow(/head size 4096/);
    const s = schedule([{ node: dx.node, name: "dqkv" }], "attn_bwd", [], small);
    const wgsl = s.kernels.map((k) => emitWgsl(k.kernel));
    expect(wgsl[0]).toContain("fused causal attention, forward");
    expect(wgsl[2]).toContain("dK/dV pass");
    expect(wgsl[2]).toContain("var<storage, read> qkv: array<vec4<f32>>");
    expect(wgsl[2]).toContain("@workgroup_size(WG)");
    expect(wgsl[2]).toContain("const WG = 32u;");
  });

  test("with subgroups of 8 or more lanes every pass is one subgroup, broadcasting tile rows; without, they stage tiles", () => {
    const sg = { ...DEFAULT_TARGET, subgroupMinSize: 8 };
    const g = attentionGeometry("forward", 64, sg);
    expect([g.subgroup, g.wg, g.rows, g.tile]).toEqual([true, 8, 2, 8]);
    expect(attentionGeometry("forward", 64, { ...sg, subgroupMinSize: 4 }).subgroup).toBe(false);
    expect(attentionGeometry("dkv", 64, sg).subgroup).toBe(true);
    const wgsl = (target: typeof sg) => schedule([{ node: dx.node, name: "dqkv" }], "attn", [], target).kernels.map((k) => emitWgsl(k.kernel));
    const [fwd, dq, dkv] = wgsl(sg);
    for (const text of [fwd, dq, dkv]) {
      expect(text).toContain("enable subgroups;");
      expect(text).not.toContain("workgroupBarrier");
    }
    expect(fwd).toContain("subgroupBroadcast(k_row[0], 7u)");
    expect(dq).toContain("subgroupBroadcast(v_row[3], 7u)");
    expect(dkv).toContain("subgroupBroadcast(lse_l, 7u)");
    for (const text of wgsl(DEFAULT_TARGET)) expect(text).not.toContain("subgroup");
  });

  test("the interpreter agrees with the GPU and the reference (small shape)", async () => {
    const [b, t, h, dd] = [2, 7, 2, 4];
    const c = h * dd;
    const X = randn(b * t * 3 * c, 3);
    const G = randn(b * t * c, 4);
    const q = octet.Tensor.input(0, "qkv", [b * t, 3 * c]);
    const g = octet.Tensor.input(1, "d_o", [b * t, c]);
    const oo = attention(q, t, h);
    const s = schedule([{ node: attentionBackward(q, oo, g, t, h).node, name: "dqkv" }], "attn");
    const slots = interpretSchedule(s, [X, G], {});
    const want = ref.attentionRef(Float64Array.from(X), b, t, c, h);
    const oSlot = s.kernels[0].kernel.bindings[1].slot; // the forward's output, a temporary of this program
    expect(ref.maxRelErr(slots[oSlot], want)).toBeLessThan(FWD_RTOL);
    // the GPU's d qkv for the same inputs
    const p = new octet.nn.Parameter(await octet.tensor(X.slice(), [b * t, 3 * c]));
    backward(F.causalSelfAttention(leaf(p), b, t, h), await octet.tensor(G, [b * t, c]));
    expect(ref.maxRelErr((await p.grad!.toArray()) as Float32Array, slots[s.results[0]])).toBeLessThan(1e-5);
  });
});

describe("fused attention past the binding limit", () => {
  test("B=100, T=8, H=2, d=4 under a 24 KiB cap: dispatches of whole sequences, same numbers", async () => {
    // qkv [800, 24] is 77 KB; one sequence's rows (768 B) fit a 24 KiB window 31 at a time (the cap is what
    // the program's row kernels need: 256 rows of d qkv per window).
    const [B, T, H, d] = [100, 8, 2, 4];
    const C = H * d;
    const x = randn(B * T * 3 * C, 21);
    const R = randn(B * T * C, 22);
    const want = attentionGrad64(Float64Array.from(x), B, T, C, H, R);
    try {
      setStorageBindingCap(24576);
      const p = new octet.nn.Parameter(await octet.tensor(x.slice(), [B * T, 3 * C]));
      const out = F.causalSelfAttention(leaf(p), B, T, H);
      expect(ref.maxRelErr((await out.value.toArray()) as Float32Array, want.o)).toBeLessThan(FWD_RTOL);
      backward(out, await octet.tensor(R, [B * T, C]));
      expect(ref.maxRelErr((await p.grad!.toArray()) as Float32Array, want.dqkv!)).toBeLessThan(GRAD_RTOL);
      // one sequence larger than the cap (64 rows of 576 B) is refused, naming the binding
      const wide = await octet.tensor(randn(64 * 3 * 48, 23), [64, 3 * 48]);
      const err = await F.causalSelfAttention(leaf(new octet.nn.Parameter(wide)), 1, 64, 1).value.toArray().then(() => undefined, (e: Error) => e);
      expect(err?.message).toMatch(/attention.*one sequence of .* does not fit one storage binding of 24576 bytes/);
    } finally {
      setStorageBindingCap(undefined);
    }
  });
});

describe("F.causalSelfAttention options", () => {
  test('impl: "matmul" (the baseline) agrees with the fused default; an unknown impl is refused', async () => {
    const [B, T, H, d] = [2, 6, 2, 4];
    const C = H * d;
    const x = randn(B * T * 3 * C, 11);
    const qkv = leaf(new octet.nn.Parameter(await octet.tensor(x, [B * T, 3 * C])));
    const want = ref.attentionRef(Float64Array.from(x), B, T, C, H);
    const base = F.causalSelfAttention(qkv, B, T, H, { impl: "matmul" });
    expect(ref.maxRelErr((await base.value.toArray()) as Float32Array, want)).toBeLessThan(1e-5);
    const viaDefault = F.withImplementations({ attention: "matmul" }, () => F.causalSelfAttention(qkv, B, T, H));
    expect(viaDefault.value.node.op).not.toBe("attention");
    expect(F.causalSelfAttention(qkv, B, T, H).value.node.op).toBe("attention");
    expect(() => F.causalSelfAttention(qkv, B, T, H, { impl: "flash" as "fused" })).toThrow(/impl "flash"/);
    expect(() => F.causalSelfAttention(qkv, B, T + 1, H)).toThrow(/B\*T/);
  });
});
