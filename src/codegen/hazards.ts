// In-place hazards: a program that overwrites an input (an optimizer's p, its states) must read every old
// value it needs before the write lands. Within one kernel that holds by construction (all stores come after
// all loads, codegen/wgsl.ts); across kernels it holds when every kernel that reads a slot's old value runs
// before (or is) the kernel that writes it. The scheduler orders the targets of a kernel group it has to split
// by that rule; checkHazards is the final guard.
import { toposort, type Node } from "../dsl/node.ts";
import type { ScheduledKernel, SlotInfo } from "./kernel.ts";

export interface GroupTarget {
  node: Node;
  name: string;
  slot: number;
}

/** The input slots a target's graph reads (through everything it computes, temporaries included). */
export function inputsRead(n: Node): Set<number> {
  return new Set(toposort([n]).filter((x) => x.op === "input").map((x) => (x.arg as { slot: number }).slot));
}

/**
 * Items (targets, or groups of them) as components in an order that is safe to run one after another: an
 * item that writes input slot X comes after every item that reads X. Items that depend on each other both
 * ways (a state's codes and absmax: each one's new value reads the other's old one) form one component,
 * which must stay in one kernel or go through temporaries. Components keep the items' order where free.
 */
export function hazardOrder<T>(items: T[], reads: (t: T) => Set<number>, writes: (t: T) => number[]): T[][] {
  const n = items.length;
  const r = items.map(reads);
  const w = items.map(writes);
  // before[u][t]: u must run before t (t overwrites something u reads), then closed transitively.
  const before = items.map((_, u) => items.map((_, t) => u !== t && w[t].some((x) => r[u].has(x))));
  for (let k = 0; k < n; k++) for (let u = 0; u < n; u++) if (before[u][k]) for (let t = 0; t < n; t++) if (before[k][t]) before[u][t] = true;
  const comp = new Array<number>(n).fill(-1);
  const comps: number[][] = [];
  for (let i = 0; i < n; i++) {
    if (comp[i] >= 0) continue;
    const c = [i];
    comp[i] = comps.length;
    for (let j = i + 1; j < n; j++) if (comp[j] < 0 && before[i][j] && before[j][i]) (comp[j] = comps.length), c.push(j);
    comps.push(c);
  }
  // Kahn's order over the components (a DAG: mutual dependencies were merged), lowest first index first.
  const done = new Set<number>();
  const order: T[][] = [];
  while (order.length < comps.length) {
    const next = comps.findIndex((c, ci) => !done.has(ci) && comps.every((d, di) => di === ci || done.has(di) || !d.some((u) => c.some((t) => before[u][t]))));
    done.add(next);
    order.push(comps[next].map((i) => items[i]));
  }
  return order;
}

/** hazardOrder of one group's targets. */
export function targetOrder(group: GroupTarget[], slots: SlotInfo[]): GroupTarget[][] {
  return hazardOrder(group, (t) => inputsRead(t.node), (t) => (slots[t.slot].kind === "input" ? [t.slot] : []));
}

/** Whether any target of the group overwrites an input slot. */
export const writesInPlace = (group: GroupTarget[], slots: SlotInfo[]): boolean => group.some((t) => slots[t.slot].kind === "input");

/** A kernel that writes an input must not be followed by a kernel that reads that input's old value. */
export function checkHazards(ks: ScheduledKernel[], slots: SlotInfo[]): void {
  const written = new Map<number, string>();
  for (const { kernel } of ks) {
    for (const b of kernel.bindings) {
      const w = written.get(b.slot);
      if (b.read && w && slots[b.slot].kind === "input")
        throw new Error(`octet: ${kernel.name} reads ${b.name} after ${w} overwrote it in place (a scheduler bug: in-place writes are ordered after every read of the old value)`);
    }
    for (const b of kernel.bindings) if (b.write) written.set(b.slot, kernel.name);
  }
}
