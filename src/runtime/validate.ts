// OCTET_VALIDATE=1: after a program runs, evaluate it again with the kernel-IR interpreter and throw at the
// first element where the GPU disagrees (beyond float tolerance), naming the kernel's output and index.
import { interpretSchedule, type HostArray } from "../codegen/interpret.ts";
import type { Schedule } from "../codegen/schedule.ts";
import { DTYPES } from "../dsl/dtype.ts";
import { download, type Storage } from "./storage.ts";

export async function validateRun(s: Schedule, inputs: (ArrayLike<number> | undefined)[], storages: Storage[], uniforms: Record<string, number>): Promise<void> {
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
}
