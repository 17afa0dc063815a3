// Human names for nodes, kept beside the IR (not in the hash-cons key, so naming a value never splits a
// shared subexpression). The first name given to a node wins. Used by the graph printer and WGSL emitter.
import type { Node } from "./node.ts";

const names = new WeakMap<Node, string>();

export function nameNode(node: Node, name: string): void {
  const clean = name.replace(/[^A-Za-z0-9_]/g, "_").replace(/^(\d)/, "_$1");
  if (!names.has(node)) names.set(node, clean);
}

export function nodeName(node: Node): string | undefined {
  if (node.op === "input" && typeof node.arg === "object" && "slot" in node.arg) return node.arg.name;
  if (node.op === "uniform") return node.arg as string;
  return names.get(node);
}
