// Module: a named tree of parameters and submodules, as in PyTorch. Attributes holding a Parameter or a
// Module are discovered by walking the object's own fields in insertion order, so `namedParameters()` is
// deterministic and mirrors the model's structure ("blocks.0.attn.qkv.weight").
import { Parameter } from "./parameter.ts";
import { Tensor } from "../dsl/tensor.ts";
import { shapeStr } from "../dsl/node.ts";
import { tensorNow } from "../runtime/realize.ts";

/** Values for Module.loadStateDict: a Tensor (taken as the parameter's new data, not copied) or host values. */
export type StateDictValue = Tensor | Float32Array | number[];

export class Module {
  /** Name -> Parameter of this module and all submodules, depth first, in field order. */
  namedParameters(prefix = ""): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    const walk = (obj: unknown, pre: string) => {
      for (const [k, v] of Object.entries(obj as object)) {
        const name = pre ? `${pre}.${k}` : k;
        if (v instanceof Parameter) {
          if (!seen.has(v)) {
            seen.add(v);
            // Errors (stale reads, optimizer state checks) name a Parameter by its name: give an unnamed
            // one the path it is found under, so users see "blocks.0.qkv.weight" rather than "#17".
            if (!v.name) v.name = name;
            out.push([name, v]);
          }
        } else if (v instanceof Module) walk(v, name);
        else if (Array.isArray(v)) v.forEach((x, i) => (x instanceof Module ? walk(x, `${name}.${i}`) : x instanceof Parameter && !seen.has(x) ? (seen.add(x), (x.name ||= `${name}.${i}`), out.push([`${name}.${i}`, x])) : undefined));
      }
    };
    walk(this, prefix);
    return out;
  }

  /**
   * Name -> parameter tensor (PyTorch's state_dict, parameters only), in namedParameters order. The tensors are
   * the parameters' own (`p.data`), not copies: read them with `await t.toArray()`; `octet.save` writes them as
   * safetensors. Weight layouts are octet's: Linear.weight is [in, out] (HF GPT-2 Conv1D's), not torch.nn.Linear's [out, in].
   */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters().map(([n, p]) => [n, p.data]));
  }

  /**
   * Loads parameters by name: every name, shape and dtype is checked first (all problems in one error), and only
   * then are the parameters set, so a refused dict changes nothing. `strict` (default, as PyTorch) refuses missing
   * and unexpected names. Host values are uploaded (needs the device: `await octet.device()`); a Tensor becomes
   * the parameter's data as it is. A parameter an optimizer steps takes the new values at its next step.
   */
  loadStateDict(sd: Record<string, StateDictValue>, opts: { strict?: boolean } = {}): void {
    const strict = opts.strict ?? true;
    if (sd === null || typeof sd !== "object") throw new TypeError(`Module.loadStateDict: expected an object of name -> Tensor or Float32Array, got ${sd === null ? "null" : typeof sd}`);
    const params = new Map(this.namedParameters());
    const problems: string[] = [];
    for (const [name, p] of params) {
      const v = sd[name];
      if (v === undefined) {
        if (strict) problems.push(`'${name}' is missing`);
        continue;
      }
      if (v instanceof Tensor) {
        if (v.shape.length !== p.shape.length || v.shape.some((d, i) => d !== p.shape[i])) problems.push(`'${name}' has shape ${shapeStr(v.shape)}, the parameter's is ${shapeStr(p.shape)}`);
        else if (v.dtype !== p.dtype) problems.push(`'${name}' is ${v.dtype}, the parameter is ${p.dtype}`);
      } else if (v instanceof Float32Array || Array.isArray(v)) {
        if (p.dtype !== "f32") problems.push(`'${name}': host values load into f32 parameters, this one is ${p.dtype} (give a Tensor)`);
        else if (v.length !== p.numel) problems.push(`'${name}' has ${v.length} values, the parameter ${shapeStr(p.shape)} has ${p.numel}`);
      } else {
        const what = v === null ? "null" : (v as object).constructor?.name ?? typeof v;
        problems.push(`'${name}' is ${what}, not a Tensor or Float32Array${what === "Object" ? " (a dict that went through JSON loses its typed arrays: use octet.save / octet.load, which write safetensors)" : ""}`);
      }
    }
    if (strict) for (const name of Object.keys(sd)) if (!params.has(name)) problems.push(`'${name}' is not a parameter of this module`);
    if (problems.length) throw new Error(`Module.loadStateDict: ${problems.slice(0, 8).join("; ")}${problems.length > 8 ? `; and ${problems.length - 8} more` : ""}; nothing was loaded`);
    for (const [name, p] of params) {
      const v = sd[name];
      if (v === undefined) continue;
      p.data = v instanceof Tensor ? v : tensorNow(Float32Array.from(v), [...p.shape], { category: "parameters" });
    }
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every submodule (including this one), depth first. */
  modules(): Module[] {
    const out: Module[] = [this];
    for (const v of Object.values(this)) {
      if (v instanceof Module) out.push(...v.modules());
      else if (Array.isArray(v)) for (const x of v) if (x instanceof Module) out.push(...x.modules());
    }
    return out;
  }
}
