// OCTET_VALIDATE=1: after a program runs, evaluate it again with the kernel-IR interpreter and throw at the
// first element where the GPU disagrees (beyond float tolerance), naming the kernel's output and index.
import { interpretSchedule, type HostArray } from "../codegen/interpret.ts";
import type { Schedule } from "../codegen/schedule.ts";
import { DTYPES } from "../dsl/dtype.ts";
import { download, type Storage } from "./storage.ts";

/** Programs whose first validated run has been reported as passing (later passes are silent; a failure throws). */
const reported = new Set<string>();

export async function validateRun(s: Schedule, inputs: (ArrayLike<number> | undefined)[], storages: Storage[], uniforms: Record<string, number>, program = "program"): Promise<void> {
  const want = interpretSchedule(s, inputs as (HostArray | undefined)[], uniforms);
  for (const slot of s.results) {
    const got = await download(storages[slot]);
    const ref = want[slot];
    const float = DTYPES[s.slots[slot].dtype].float;
    for (let i = 0; i < ref.length; i++) {
      const a = Number(got[i]);
      const b = ref[i];
      const same = float ? (Number.isNaN(a) && Number.isNaN(b)) || a === b || Math.abs(a - b) <= 1e-6 + 1e-5 * Math.abs(b) : a === b;
      if (!same) throw new Error(`octet validate: ${s.slots[slot].name}[${i}]: GPU ${a}, interpreter ${b}`);
    }
  }
  // Said once per program: OCTET_VALIDATE=1 with no output at all could as well be a knob that does nothing.
  if (!reported.has(program)) {
    reported.add(program);
    const values = s.results.reduce((a, slot) => a + want[slot].length, 0);
    console.error(`octet validate: ${program} matches the kernel-IR interpreter (${s.results.length} output${s.results.length === 1 ? "" : "s"}, ${values} values; later runs are checked silently)`);
  }
}
