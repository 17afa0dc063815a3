// Exits 0 when Dawn finds a WebGPU adapter, 1 (with the fix) when it does not. Used by .ci/install-lavapipe.sh.
import { create, globals } from "webgpu";
import { NO_ADAPTER_HELP } from "../runtime/device.ts";

process.env.XDG_RUNTIME_DIR ??= "/tmp";
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error(NO_ADAPTER_HELP);
  process.exit(1);
}
console.log(`webgpu adapter: ${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`.trim());
process.exit(0);
