// Temporaries of a program share physical buffers by liveness. A temp slot lives from the first kernel that
// touches it to the last (the schedule's kernel order is the execution order: one command buffer, one queue);
// two temps whose lifetimes do not overlap can use the same bytes. Greedy interval colouring in order of
// first use, each buffer sized to its largest tenant: optimal for interval graphs in the number of buffers.
import { numel } from "../dsl/node.ts";
import type { Schedule } from "../codegen/schedule.ts";
import { paddedBytes } from "./storage.ts";

export interface TempPlan {
  /** Physical buffer index of each temp slot (undefined for other slots). */
  bufferOf: (number | undefined)[];
  /** Bytes of each physical buffer. */
  bytes: number[];
}

export function planTemps(s: Schedule): TempPlan {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  s.kernels.forEach(({ kernel }, k) => {
    for (const b of kernel.bindings) {
      if (s.slots[b.slot]?.kind !== "temp") continue;
      if (!first.has(b.slot)) first.set(b.slot, k);
      last.set(b.slot, k);
    }
  });
  const bufferOf: (number | undefined)[] = [];
  const bytes: number[] = [];
  const freeAfter: number[] = []; // last kernel using each buffer's current tenant
  const order = [...first.keys()].sort((a, b) => first.get(a)! - first.get(b)! || a - b);
  for (const slot of order) {
    const sl = s.slots[slot];
    const need = paddedBytes(sl.dtype, numel(sl.shape));
    // A buffer is free once its tenant's last kernel is strictly before this temp's first one (a kernel that
    // reads one temp while writing another needs both).
    let pick = freeAfter.findIndex((end) => end < first.get(slot)!);
    if (pick < 0) pick = bytes.push(0) - 1;
    bytes[pick] = Math.max(bytes[pick], need);
    freeAfter[pick] = last.get(slot)!;
    bufferOf[slot] = pick;
  }
  return { bufferOf, bytes };
}
