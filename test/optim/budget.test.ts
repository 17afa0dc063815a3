// Binding budget (issue #7 item 6): every optimizer class keeps one fused update kernel per bucket within 8
// storage buffers, WebGPU's guaranteed minimum. A kernel binds the parameters, the gradients and each state
// (codes + absmax, or the f32 value); every lookup table, the block -> tensor map and the per-tensor
// scalars share one packed buffer (optim/trace.ts). Checked at 8, 10 and 12 buffers for every class and
// format, both kernel variants (uniform scalars, per-tensor table), and run on the GPU at 8 against the
// plain-TS oracle: bit-identical for a 2-state 8-bit family and for the 3-state one, whose codes share one
// packed buffer at 8 (saved, loaded into a fresh optimizer and stepped again, still bit-identical).
import { describe, expect, test } from "bun:test";
import { DEFAULT_TARGET } from "../../src/codegen/kernel.ts";
import { formatTables, updateScalarNames } from "../../src/optim/buckets.ts";
import { FORMATS, type FormatName } from "../../src/optim/formats.ts";
import { traceUpdate } from "../../src/optim/trace.ts";
import { deviceTarget } from "../../src/runtime/target.ts";
import { FAMILIES, classOf, filled, gaussian, octet, param, read, ref } from "./helpers.ts";

interface Traceable {
  def: Parameters<typeof traceUpdate>[0];
  defaults: Record<string, unknown>;
}

/**
 * Where one kernel per bucket is not reachable, and why (everything else must be exactly one kernel):
 * - LAMB32bit, LARS32bit: the trust ratio needs whole-tensor norms of the parameter and the update, which are
 *   reductions that must finish before the update reads them: 5 kernels at every budget (not a binding limit).
 * AdEMAMix8bit's three 8-bit states would bind 2 + 3 x 2 + 1 = 9 buffers; at 8 its states share one packed
 * codes buffer (a byte each of a u32 word, trace.ts), 7 buffers, one kernel.
 */
const NORM_KERNELS: Record<string, number> = { LAMB32bit: 5, LARS32bit: 5 };

describe("every optimizer class fits 8, 10 and 12 storage buffers", () => {
  for (const fam of FAMILIES)
    for (const variant of ["8bit", "32bit"]) {
      const name = fam.base + variant;
      const C = classOf(name) as unknown as Traceable;
      const formats: FormatName[] = variant === "8bit" ? ["dynamic8", "linear8", "companded8"] : ["f32"];
      for (const f of formats)
        test(`${name} (${f})`, () => {
          const format = FORMATS[f];
          for (const maxStorageBuffers of [8, 10, 12])
            for (const uniform of [true, false]) {
              // LAMB/LARS 32-bit buckets hold one tensor (their trust ratio is on by default): traced as such
              const kind = NORM_KERNELS[name] ? { own: true } : {};
              const fn = traceUpdate(C.def, format, 5, NORM_KERNELS[name] ? 1 : 3, updateScalarNames(C.def, C.defaults), Object.keys(formatTables(C.def, format)), uniform, { ...DEFAULT_TARGET, maxStorageBuffers }, undefined, kind);
              // percentile clipping binds the gradient-norm history too: still within the budget
              const clipped = traceUpdate(C.def, format, 5, 1, updateScalarNames(C.def, C.defaults, true), Object.keys(formatTables(C.def, format)), uniform, { ...DEFAULT_TARGET, maxStorageBuffers }, undefined, { own: true, clip: true });
              for (const k of clipped.schedule.kernels) expect(k.kernel.bindings.length, `${name} ${f} at ${maxStorageBuffers}, percentile clipping`).toBeLessThanOrEqual(maxStorageBuffers);
              const kernels = fn.schedule.kernels;
              const where = `${name} ${f} at ${maxStorageBuffers} (${uniform ? "uniform" : "per-tensor"} scalars)`;
              for (const k of kernels) expect(k.kernel.bindings.length, where).toBeLessThanOrEqual(maxStorageBuffers);
              if (NORM_KERNELS[name]) expect(kernels.length, where).toBe(NORM_KERNELS[name]);
              else {
                expect(kernels.length, where).toBe(1);
                expect(fn.schedule.slots.filter((s) => s.kind === "temp").length, `${where}: no temporaries`).toBe(0);
              }
            }
        });
    }
});

describe("at 8 storage buffers, steps stay bit-identical to the oracle", () => {
  const SIZES = [12305, 5000, 1000, 300]; // an 8-bit bucket and a 32-bit one (small tensors, below min8bitSize)
  for (const name of ["AdamW8bit", "AdEMAMix8bit"])
    test(`${name}: 6 steps (tensors skipped, so both kernel variants run), params and states exact`, async () => {
      await octet.device();
      const fam = FAMILIES.find((f) => name.startsWith(f.base) && name === `${f.base}8bit`)!;
      const normal = gaussian(5);
      const p0 = SIZES.map((n) => filled(n, () => normal() * 0.2));
      const params = await Promise.all(p0.map(param));
      const opt = new (classOf(name))(params, { ...fam.opts, target: { ...deviceTarget(), maxStorageBuffers: 8 } });
      const bits = SIZES.map((n) => (n >= 4096 ? 8 : 32) as 8 | 32);
      const refP = p0.map((x) => x.slice());
      const refS = SIZES.map((n, i) => ref.createState(fam.refName, n, bits[i]));
      const stepOf = SIZES.map(() => 0);
      for (let t = 1; t <= 6; t++) {
        const grads = SIZES.map((n) => filled(n, () => normal() * 0.02));
        // One tensor of each bucket sits out a step: the bucket runs its per-tensor-scalars kernel.
        const skip = t === 4 ? 1 : t === 5 ? 3 : -1;
        for (let i = 0; i < SIZES.length; i++) params[i].grad = i === skip ? null : await octet.tensor(grads[i]);
        await opt.step();
        for (let i = 0; i < SIZES.length; i++) if (i !== skip) fam.rule({ p: refP[i], g: grads[i], state: refS[i], step: ++stepOf[i], hp: fam.hp, bits: bits[i] });
      }
      // at 8 buffers every kernel really is within 8, and each update is one kernel a bucket
      for (const k of opt.kernels()) expect((k.bindings as unknown[]).length).toBeLessThanOrEqual(8);
      expect(opt.kernels().length).toBeLessThanOrEqual(4); // 2 buckets x (uniform, per-tensor)
      let sd = await opt.stateDict();
      // The state dict round-trips through a fresh optimizer on the same budget, which then steps like the oracle.
      const again = await Promise.all(params.map(async (p) => param((await read(p)) as Float32Array)));
      const opt2 = new (classOf(name))(again, { ...fam.opts, target: { ...deviceTarget(), maxStorageBuffers: 8 } });
      await opt2.loadStateDict(sd);
      const grads = SIZES.map((n) => filled(n, () => normal() * 0.02));
      for (let i = 0; i < SIZES.length; i++) again[i].grad = await octet.tensor(grads[i]);
      await opt2.step();
      for (let i = 0; i < SIZES.length; i++) fam.rule({ p: refP[i], g: grads[i], state: refS[i], step: ++stepOf[i], hp: fam.hp, bits: bits[i] });
      params.splice(0, params.length, ...again);
      sd = await opt2.stateDict();
      for (let i = 0; i < SIZES.length; i++) {
        expect(Array.from(await read(params[i])), `${name} param ${i}`).toEqual(Array.from(refP[i]));
        const rs = refS[i] as unknown as Record<string, ArrayLike<number> | undefined>;
        for (const k of ["state1", "state2", "absmax1", "absmax2"]) {
          if (!rs[k]) continue;
          expect(Array.from(sd.state[i][k] as ArrayLike<number>), `${name} param ${i} ${k}`).toEqual(Array.from(rs[k]!));
        }
      }
    }, 60_000);
});
