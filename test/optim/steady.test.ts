// A cheap step (issue #7 item 7) and gradients realized into the arena (item 2): resolved configs are cached
// per parameter and re-resolved only when a param group or an override changes; a steady-state step creates
// no GPU buffers and no bind groups. Results are checked against the plain-TS oracle, not the GPU itself.
import { afterEach, describe, expect, test } from "bun:test";
import { storageOf } from "../../src/runtime/realize.ts";
import { upload } from "../../src/runtime/storage.ts";
import { classOf, compare32, compareClose, familyOf, filled, gaussian, octet, param, read, ref } from "./helpers.ts";
import { countGpuObjects } from "../gpu-objects.ts";

const SIZES = [12305, 1000, 300]; // an 8-bit bucket and a 32-bit one (below min8bitSize) in the *8bit classes

/** Counts createBuffer / createBindGroup calls on the device while `fn` runs. */

afterEach(() => octet.optim.GlobalOptimManager.getInstance().initialize());

describe("a steady-state step creates no GPU objects", () => {
  for (const name of ["AdamW8bit", "AdamW32bit", "Lion8bit", "AdEMAMix8bit"]) {
    for (const lazy of [false, true]) {
      test(`${name}, ${lazy ? "lazy gradients (realized into the arena)" : "uploaded gradients"}: 0 buffers, 0 bind groups over steps 3-10`, async () => {
        const fam = familyOf(name.replace(/(8|32)bit$/, ""));
        const normal = gaussian(3);
        const params = await Promise.all(SIZES.map((n) => param(filled(n, () => normal() * 0.2))));
        const opt = new (classOf(name))(params, fam.opts);
        const scale = await octet.tensor([0.5]);
        // Lazy gradients are computed from buffers a training loop keeps (as its batch buffers): new values
        // are uploaded into the same buffers, so the gradient program binds the same buffers every step.
        const sources = await Promise.all(SIZES.map((n) => octet.zeros([n])));
        let total = { buffers: 0, bindGroups: 0 };
        for (let t = 1; t <= 10; t++) {
          // Fresh gradients every step (their upload is not part of the step).
          const fresh = SIZES.map((n) => filled(n, () => normal() * 0.02));
          const gs = lazy ? sources : await Promise.all(fresh.map((g) => octet.tensor(g)));
          if (lazy) for (let i = 0; i < SIZES.length; i++) await upload(storageOf(sources[i]), fresh[i]);
          params.forEach((p, i) => (p.grad = lazy ? gs[i].mul(scale.expand(gs[i].shape)) : gs[i]));
          const c = await countGpuObjects(() => opt.step());
          if (t >= 3) total = { buffers: total.buffers + c.buffers, bindGroups: total.bindGroups + c.bindGroups };
        }
        expect(total).toEqual({ buffers: 0, bindGroups: 0 });
      });
    }
  }
});

describe("skipNonFinite in the steady state", () => {
  test("AdamW8bit with skipNonFinite: 0 buffers, 0 bind groups over steps 3-10, an Inf step among them skipped", async () => {
    const fam = familyOf("AdamW");
    const normal = gaussian(4);
    const p0 = SIZES.map((n) => filled(n, () => normal() * 0.2));
    const params = await Promise.all(p0.map(param));
    const opt = new (classOf("AdamW8bit"))(params, { ...fam.opts, skipNonFinite: true });
    const bits = SIZES.map((n) => (n >= 4096 ? 8 : 32) as 8 | 32);
    const refP = p0.map((x) => x.slice());
    const refS = SIZES.map((n, i) => ref.createState("adamw", n, bits[i]));
    let stepped = 0;
    let total = { buffers: 0, bindGroups: 0 };
    for (let t = 1; t <= 10; t++) {
      const grads = SIZES.map((n) => filled(n, () => normal() * 0.02));
      if (t === 6) grads[1][17] = Infinity; // this step is skipped whole
      const gs = await Promise.all(grads.map((g) => octet.tensor(g)));
      params.forEach((p, i) => (p.grad = gs[i]));
      const c = await countGpuObjects(() => opt.step());
      if (t >= 3) total = { buffers: total.buffers + c.buffers, bindGroups: total.bindGroups + c.bindGroups };
      if (t === 6) continue;
      stepped++;
      for (let i = 0; i < SIZES.length; i++) fam.rule({ p: refP[i], g: grads[i], state: refS[i], step: stepped, hp: fam.hp, bits: bits[i] });
    }
    expect(total).toEqual({ buffers: 0, bindGroups: 0 });
    expect(opt.skippedSteps).toBe(1);
    // and the steps it did take are the oracle's (the 8-bit bucket to bnb's tolerance, the 32-bit one exactly)
    for (let i = 0; i < SIZES.length; i++) {
      const got = await read(params[i]);
      const w = bits[i] === 32 ? compare32(got, refP[i]) : compareClose(got, refP[i]);
      expect(w.bad, `param ${i}: ${w.first}`).toBe(0);
    }
  });
});

describe("resolved configs are cached", () => {
  test("a steady step resolves no config; a group change or an override re-resolves and is honoured (oracle, bit-exact)", async () => {
    const fam = familyOf("AdamW");
    const normal = gaussian(11);
    const sizes = [700, 300];
    const p0 = sizes.map((n) => filled(n, () => normal() * 0.2));
    const params = await Promise.all(p0.map(param));
    const opt = new (classOf("AdamW32bit"))(params, { lr: 1e-3 });
    let resolved = 0;
    const orig = opt.resolvedConfig.bind(opt);
    opt.resolvedConfig = (...a: Parameters<typeof orig>) => (resolved++, orig(...a));
    const refP = p0.map((x) => x.slice());
    const refS = sizes.map((n) => ref.createState("adamw", n, 32));
    const hp = sizes.map(() => ({ ...fam.hp, lr: 1e-3 }));
    const perStep: number[] = [];
    for (let t = 1; t <= 6; t++) {
      if (t === 3) {
        opt.paramGroups[0].lr = 5e-3; // a group change: every parameter re-resolves
        hp.forEach((h) => (h.lr = 5e-3));
      }
      if (t === 4) (opt.paramGroups[0].betas as number[])[1] = 0.99; // an in-place edit of an array option
      if (t === 4) hp.forEach((h) => (h.betas = [h.betas[0], 0.99]));
      if (t === 5) {
        octet.optim.GlobalOptimManager.getInstance().overrideConfig(params[1], "lr", 2e-3); // an override
        hp[1] = { ...hp[1], lr: 2e-3 };
      }
      const grads = sizes.map((n) => filled(n, () => normal() * 0.02));
      for (let i = 0; i < sizes.length; i++) params[i].grad = await octet.tensor(grads[i]);
      const before = resolved;
      await opt.step();
      perStep.push(resolved - before);
      for (let i = 0; i < sizes.length; i++) fam.rule({ p: refP[i], g: grads[i], state: refS[i], step: t, hp: hp[i], bits: 32 });
    }
    // step 1 resolves every parameter (building the buckets); 2 and 6 are steady; 3, 4, 5 changed something.
    expect(perStep).toEqual([2, 0, 2, 2, 2, 0]);
    for (let i = 0; i < sizes.length; i++) expect(Array.from(await read(params[i]))).toEqual(Array.from(refP[i]));
  });
});

describe("realize into", () => {
  test("results land in the given storages; a wrong size is refused; an aliased target is still correct", async () => {
    const a = await octet.tensor([1, 2, 3, 4]);
    const dst = await octet.zeros([4]);
    const t = a.mul(2);
    await octet.realize([t], { into: [dst] });
    expect(Array.from(await dst.toArray())).toEqual([2, 4, 6, 8]);
    expect(Array.from(await t.toArray())).toEqual([2, 4, 6, 8]);
    expect(octet.realize([a.add(1)], { into: [await octet.zeros([3])] })).rejects.toThrow(/cannot write .* into a f32\[3\] storage/);
    // into its own input (an elementwise in-place update)
    const b = await octet.tensor([1, 2, 3, 4]);
    await octet.realize([b.add(b)], { into: [b] });
    expect(Array.from(await b.toArray())).toEqual([2, 4, 6, 8]);
    // a target aliasing another view of a buffer the graph reads (reversed copy through a reshape chain)
    const c = await octet.tensor([5, 6, 7, 8]);
    await octet.realize([c.reshape([2, 2]).reshape([4]).add(1)], { into: [c] });
    expect(Array.from(await c.toArray())).toEqual([6, 7, 8, 9]);
  });

});
