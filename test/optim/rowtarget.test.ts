// The 8-bit update kernels under every row geometry the targets give (codegen/kernel.ts rowGeometry): 64 threads
// per 256-element block with tree reductions (GPUs), 8 threads per block with tree reductions (a CPU adapter
// without subgroups) and 8 threads with subgroupMax (lavapipe). bnb's dynamic8 format must stay BIT-IDENTICAL
// to the oracle (test/reference/optimizers.ts) on each: parameters, codes and absmax compared exactly.
import { describe, expect, test } from "bun:test";
import { deviceTarget } from "../../src/runtime/target.ts";
import type { DeviceTarget } from "../../src/codegen/kernel.ts";
import { classOf, familyOf, filled, gaussian, octet, param, read, ref } from "./helpers.ts";

const N = 4096 + 2 * 256 + 37; // 18 blocks, an odd tail
const STEPS = 3;

describe("8-bit steps are bit-identical to the oracle under every row geometry", async () => {
  await octet.device();
  const here = deviceTarget();
  const targets: [string, DeviceTarget][] = [
    ["64 threads/block, tree", { ...here, rowThreads: 256, subgroupMinSize: 0 }],
    ["8 threads/block, tree", { ...here, rowThreads: 8, subgroupMinSize: 0 }],
  ];
  if (here.subgroupMinSize > 0 && here.subgroupMinSize <= 8) targets.push(["8 threads/block, subgroupMax", { ...here, rowThreads: 8 }]);
  for (const name of ["AdamW", "Lion", "SGD"])
    for (const [label, target] of targets)
      test(`${name}8bit, ${label}`, async () => {
        const fam = familyOf(name);
        const normal = gaussian(3);
        const p0 = filled(N, () => normal() * 0.2);
        const p = await param(p0);
        const opt = new (classOf(`${name}8bit`))([p], { ...fam.opts, target });
        const rp = p0.slice();
        const rs = ref.createState(fam.refName, N, 8);
        for (let t = 1; t <= STEPS; t++) {
          const g = filled(N, () => normal() * 0.02);
          p.grad = await octet.tensor(g);
          await opt.step();
          fam.rule({ p: rp, g, state: rs, step: t, hp: fam.hp, bits: 8 });
        }
        const wgsl = opt.kernels().map((k) => k.wgsl).join("\n");
        expect(wgsl.includes("subgroupMax")).toBe(label.includes("subgroupMax"));
        expect(wgsl).toContain(`@workgroup_size(${target.rowThreads === 8 ? 8 : 64})`);
        const sd = await opt.stateDict();
        const st = sd.state[0] as Record<string, unknown>;
        const want = rs as unknown as Record<string, Float32Array | Uint8Array | undefined>;
        expect(Array.from(await read(p))).toEqual(Array.from(rp));
        for (const k of ["state1", "state2", "absmax1", "absmax2"]) {
          if (!want[k]) continue;
          expect(Array.from(st[k] as ArrayLike<number>), `${name}8bit ${label}: ${k}`).toEqual(Array.from(want[k]!));
        }
      });
});
