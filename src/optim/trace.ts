// Tracing: an optimizer definition and a state format become one fused update kernel over the bucket's
// [blocks, 256] arenas. States are read as f32 through the format and written back through it in place.
import { Tensor } from "../dsl/tensor.ts";
import { JitFunction } from "../runtime/jit.ts";
import type { DeviceTarget } from "../codegen/kernel.ts";
import type { OptimizerDef } from "./define.ts";
import { BLOCK, type StateFormat } from "./formats.ts";

/** Traces an update definition once into one fused kernel over [blocks, 256]. */
/**
 * `uniformScalars`: the variant for the common step where every tensor of the bucket steps with the same
 * scalars: they arrive as uniforms (no per-block table lookups) and no tensor is skipped.
 */
export function traceUpdate(def: OptimizerDef<any>, format: StateFormat, blocks: number, tensors: number, scalarNames: string[], tableNames: string[], uniformScalars = false, target?: DeviceTarget): JitFunction<string, string> {
  const shape = [blocks, BLOCK];
  const specs: Record<string, { shape: number[]; dtype?: "f32" | "u8" | "u32" }> = { p: { shape }, g: { shape } };
  for (const st of def.states) {
    if (format.quantized) {
      specs[`${st.name}_codes`] = { shape, dtype: "u8" };
      specs[`${st.name}_absmax`] = { shape: [blocks, 1] };
    } else specs[st.name] = { shape };
  }
  for (const t of tableNames) specs[t] = { shape: [256], dtype: t.startsWith("thresholds") ? "u32" : "f32" };
  specs.block_tensor = { shape: [blocks, 1], dtype: "u32" };
  specs.hyper = { shape: [tensors * scalarNames.length] };
  const inPlace: Record<string, string> = { p: "p" };
  const name = `${def.name}${format.quantized ? (format.name === "linear8" ? "8bit_linear" : "8bit") : "32bit"}${uniformScalars ? "" : "_multi"}`;
  return new JitFunction(
    name,
    specs,
    (x) => {
      const tid = x.block_tensor;
      const s: Record<string, Tensor> = {};
      if (uniformScalars) scalarNames.forEach((nm) => (s[nm] = nm === "is_active" ? Tensor.const(1) : Tensor.uniform(nm)));
      else scalarNames.forEach((nm, k) => (s[nm] = x.hyper.gather(tid.mul(scalarNames.length).add(k)).named(nm)));
      const active = s.is_active.gt(0).named("is_active");
      const tablesFor = (signed: boolean) => {
        const suffix = signed ? "_signed" : "_unsigned";
        const t: Record<string, Tensor> = {};
        for (const nm of tableNames) if (nm.endsWith(suffix)) t[nm.slice(0, -suffix.length)] = x[nm];
        return t;
      };
      const cur: Record<string, Tensor> = { p: x.p.named("p"), g: x.g.named("g") };
      for (const st of def.states) {
        const t = { ...tablesFor(st.signed), value: x[st.name], codes: x[`${st.name}_codes`], absmax: x[`${st.name}_absmax`] };
        cur[st.name] = format.read(t, st.signed).named(st.name);
      }
      const next = def.update(cur, s, { quantized: format.quantized });
      const out: Record<string, Tensor> = { p: active.where(next.p, x.p) };
      for (const st of def.states) {
        const written = format.write(next[st.name].named(`${st.name}_new`), tablesFor(st.signed), st.signed);
        for (const [k, v] of Object.entries(written)) {
          const inName = k === "value" ? st.name : `${st.name}_${k}`;
          out[inName] = active.where(v, x[inName]);
          inPlace[inName] = inName;
        }
      }
      return out;
    },
    { inPlace, target },
  );
}

