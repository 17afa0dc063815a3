// `bun run bench attention`: causal self-attention alone, forward and forward + backward, at the shapes that
// matter for training throughput (issue #9): the default GPT's (B=16, T=64, H=4, head 16), the 3.2M model's
// (width 256: B=16, T=64, H=4, head 64) and GPT-2 124M's at seq 256 (B=1, H=12, head 64). In interleaved
// rounds in one process, so all see the same machine drift (the ratio is the figure to read on a busy
// machine):
//   fused          the fused kernels (codegen/lowerings/attention.ts) for this device: on lavapipe the
//                  forward is the subgroup kernel;
//   fused-staged   the same with the forward that stages key tiles in workgroup memory (what a device
//                  without subgroups gets; scheduled for this device's target with subgroupMinSize 0);
//   matmul         the baseline (impl "matmul": scores and probabilities as batched matmuls, a [B*H, T, T] buffer).
// The fused cases run as octet.jit programs, the matmul one through autograd (its graph is built per run).
// GFLOP/s counts the causal half of the score matrix: 4 T(T+1)/2 d flops per head forward (q.k and p.v),
// 2.5x that forward + backward.
import * as octet from "../src/index.ts";
import { backward, leaf } from "../src/autograd/var.ts";
import * as F from "../src/nn/functional.ts";
import { attention, attentionBackward } from "../src/dsl/attention.ts";
import { jit } from "../src/runtime/jit.ts";
import { deviceTarget } from "../src/runtime/target.ts";
import { flag } from "../src/cli/args.ts";
import { benchArgs, environment, pinLavapipeThreads, report, repsAndWarmup, settleCollection, timeInterleaved, type Stats } from "./harness.ts";

const USAGE = "bun run bench attention [--shapes default,3.2M,gpt2] [--reps N] [--warmup N] [--json] [--out FILE]";

const SHAPES = {
  default: { B: 16, T: 64, H: 4, d: 16 },
  "3.2M": { B: 16, T: 64, H: 4, d: 64 },
  gpt2: { B: 1, T: 256, H: 12, d: 64 },
} as const;
type ShapeName = keyof typeof SHAPES;
type Impl = "fused" | "fused-staged" | "matmul";

interface Row {
  shape: string;
  impl: Impl;
  pass: "forward" | "forward+backward";
  ms: number;
  spread: number;
  gflops: number;
  /** This row's time over the fused implementation's for the same shape and pass. */
  vsFused: number;
  stats: Stats;
}

/** One run per case: the forward (read back O) or forward + backward (read back d qkv). */
async function setUp(s: (typeof SHAPES)[ShapeName]) {
  const C = s.H * s.d;
  const rnd = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(0.37 * i + k) * 1.5);
  const x = await octet.tensor(rnd(s.B * s.T * 3 * C, 1), [s.B * s.T, 3 * C]);
  const dO = await octet.tensor(rnd(s.B * s.T * C, 2), [s.B * s.T, C]);
  const p = new octet.nn.Parameter(x);
  const specs = { qkv: { shape: [s.B * s.T, 3 * C] }, d_o: { shape: [s.B * s.T, C] } };
  const staged = { ...deviceTarget(), subgroupMinSize: 0 };
  const programs = (target?: typeof staged) => ({
    forward: jit("attention_fwd", { qkv: specs.qkv }, ({ qkv }) => ({ o: attention(qkv, s.T, s.H) }), { target }),
    both: jit("attention_fwd_bwd", specs, ({ qkv, d_o }) => ({ dqkv: attentionBackward(qkv, attention(qkv, s.T, s.H), d_o, s.T, s.H) }), { target }),
  });
  const fused = { fused: programs(), "fused-staged": programs(staged) };
  return (impl: Impl, withBackward: boolean) => async () => {
    if (impl !== "matmul") {
      const f = fused[impl];
      return withBackward ? (await f.both.run({ qkv: x, d_o: dO })).dqkv.toArray() : (await f.forward.run({ qkv: x })).o.toArray();
    }
    const o = F.causalSelfAttention(leaf(p), s.B, s.T, s.H, { impl });
    if (!withBackward) return o.value.toArray();
    backward(o, dO);
    const g = await p.grad!.toArray();
    p.grad = null;
    return g;
  };
}

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, { shapes: flag.string(`shapes to run (${Object.keys(SHAPES).join(", ")})`, { placeholder: "LIST", defaultText: "all" }) }, USAGE);
  const names = (v.shapes ? String(v.shapes).split(",") : Object.keys(SHAPES)) as ShapeName[];
  for (const n of names) if (!(n in SHAPES)) throw new Error(`bench attention: unknown shape "${n}"; known: ${Object.keys(SHAPES).join(", ")}`);
  const { reps, warmup } = repsAndWarmup(v, { reps: 5, warmup: 1 });
  const env = await environment();
  const rows: Row[] = [];
  for (const name of names) {
    const s = SHAPES[name];
    await settleCollection();
    const run = await setUp(s);
    const cases = (["forward", "forward+backward"] as const).flatMap((pass) => (["fused", "fused-staged", "matmul"] as const).map((impl) => ({ impl, pass })));
    const stats = await timeInterleaved(cases.map((c) => run(c.impl, c.pass !== "forward")), { reps, warmup });
    const fwdFlops = s.B * s.H * 4 * ((s.T * (s.T + 1)) / 2) * s.d;
    cases.forEach((c, i) => {
      const fused = stats[cases.findIndex((x) => x.impl === "fused" && x.pass === c.pass)];
      const flops = c.pass === "forward" ? fwdFlops : 2.5 * fwdFlops;
      rows.push({ shape: `${name} B=${s.B} T=${s.T} H=${s.H} d=${s.d}`, impl: c.impl, pass: c.pass, ms: stats[i].medianMs, spread: stats[i].spread, gflops: flops / stats[i].medianMs / 1e6, vsFused: stats[i].medianMs / fused.medianMs, stats: stats[i] });
    });
  }
  await report({
    bench: "attention",
    env,
    config: { shapes: names.join(","), reps, warmup },
    rows,
    columns: [
      { label: "shape", value: (r) => r.shape },
      { label: "impl", value: (r) => r.impl },
      { label: "pass", value: (r) => r.pass },
      { label: "ms (median)", value: (r) => r.ms, digits: 1 },
      { label: "spread", value: (r) => r.spread, digits: 3 },
      { label: "GFLOP/s", value: (r) => r.gflops, digits: 2 },
      { label: "x fused", value: (r) => r.vsFused, digits: 2 },
    ],
    notes: ["each run includes dispatch and the read-back of its result (matmul: also building its graph); GFLOP/s counts the causal half only"],
    json: v.json,
    out: v.out,
    rowsLine: true,
  });
}

if (import.meta.main) {
  pinLavapipeThreads();
  await main(process.argv.slice(2));
}
