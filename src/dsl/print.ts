// Prints a graph as a typed let-list (like a jaxpr), sources before users:
//   %3:f32[256] = mul %1 %2
import { nodeName } from "./names.ts";
import { toposort, shapeStr, type Node } from "./node.ts";

function argText(n: Node): string {
  const a = n.arg;
  if (a === undefined) return "";
  if (typeof a === "number" || typeof a === "string") return ` ${typeof a === "number" ? String(a) : a}`;
  if ("slot" in a) return ` #${a.slot}`;
  if ("binding" in a) return ` b${a.binding}.${a.mode}`;
  if ("ta" in a) return `${a.ta ? " A^T" : ""}${a.tb ? " B^T" : ""}`;
  if ("attention" in a) return ` ${a.attention} T=${a.T} H=${a.H}`;
  return " <buffer>";
}

function literalOf(n: Node): string | undefined {
  let x = n;
  while (x.op === "reshape" || x.op === "expand") x = x.src[0];
  if (x.op === "uniform" && x !== n) return `$${x.arg as string}`; // a broadcast runtime scalar reads as $lr
  if (x.op !== "const") return undefined;
  const v = x.arg as number;
  return x.dtype === "f32" ? shortF32(v) : x.dtype === "bool" ? String(!!v) : `${v}${x.dtype === "u32" ? "u" : x.dtype === "i32" ? "i" : ""}`;
}

/** The shortest decimal that reads back as the same f32 (1e-5, not 0.000009999999747378752). */
function shortF32(v: number): string {
  if (!Number.isFinite(v) || Object.is(v, -0)) return Object.is(v, -0) ? "-0" : String(v);
  for (let p = 1; p < 9; p++) {
    const s = String(Number(v.toPrecision(p)));
    if (Math.fround(Number(s)) === v) return s;
  }
  return String(v);
}

export function printGraph(roots: readonly Node[], outNames: string[] = []): string {
  const order = toposort(roots);
  const ids = new Map<number, string>();
  const lines: string[] = [];
  let next = 0; // numbers only the printed lines (literals take none), so the listing counts %0, %1, %2, ...
  for (const n of order) {
    // Literals and their broadcasts print inline (`mul %3 2`), keeping the listing about the computation.
    const lit = literalOf(n);
    if (lit !== undefined) {
      ids.set(n.id, lit);
      continue;
    }
    const nm = nodeName(n);
    const id = `%${next++}${nm ? `_${nm}` : ""}`;
    ids.set(n.id, id);
    const srcs = n.src.map((s) => ids.get(s.id)).join(" ");
    lines.push(`  ${id}:${n.dtype}${shapeStr(n.shape)} = ${n.op}${argText(n)}${srcs ? " " + srcs : ""}`);
  }
  const outs = roots.map((r, i) => `${outNames[i] ?? `out${i}`}=${ids.get(r.id)}`).join(", ");
  return `{\n${lines.join("\n")}\n  return ${outs}\n}`;
}
