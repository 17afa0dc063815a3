// Exits 0 when Dawn finds a WebGPU adapter, 1 (with what is wrong and the fix) when it does not. Used by
// .ci/install-lavapipe.sh, which shows this message instead of installing again when lavapipe is already there.
import { existsSync } from "node:fs";
import { create, globals } from "webgpu";
import { noAdapterHelp } from "../runtime/adapter-help.ts";

process.env.XDG_RUNTIME_DIR ??= "/tmp";
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error(noAdapterHelp(process.env, existsSync));
  process.exit(1);
}
console.log(`webgpu adapter: ${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`.trim());
process.exit(0);
