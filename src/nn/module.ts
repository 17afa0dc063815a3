// Module: a named tree of parameters and submodules, as in PyTorch. Attributes holding a Parameter or a
// Module are discovered by walking the object's own fields in insertion order, so `namedParameters()` is
// deterministic and mirrors the model's structure ("blocks.0.attn.qkv.weight").
import { Parameter } from "./parameter.ts";

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
