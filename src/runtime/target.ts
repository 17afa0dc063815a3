// The device target (codegen/kernel.ts DeviceTarget) of the acquired device: what schedule() and the WGSL
// emitter are told about it. Built from deviceInfo() each time it is asked for, so a lowered binding limit
// (OCTET_MAX_BINDING, setStorageBindingCap) is seen by the next schedule.
import { DEFAULT_TARGET, MAX_ROW_WORKGROUP, type DeviceTarget } from "../codegen/kernel.ts";
import { BROADCAST_LANES } from "../codegen/matmul-broadcast.ts";
import { deviceInfo, storageBindingLimit } from "./device.ts";

/** The acquired device's target; call after `await device()`. */
export function deviceTarget(): DeviceTarget {
  const info = deviceInfo();
  return {
    maxStorageBuffers: info.maxStorageBuffersPerStage,
    maxStorageBindingBytes: storageBindingLimit(),
    // CPU adapters: the direct kernel, or with subgroups of 8 lanes or more the broadcast one (codegen/matmul.ts,
    // matmul-broadcast.ts: 1.9-3.5x the direct kernel's GFLOP per CPU-second on lavapipe at the GPT's shapes).
    matmulVariant: info.cpu ? (info.hasSubgroups && info.subgroupMinSize >= BROADCAST_LANES ? "broadcast" : "direct") : "tiled",
    f16: info.hasF16,
    maxWorkgroupStorageBytes: info.maxWorkgroupStorageBytes,
    maxWorkgroupInvocations: info.maxWorkgroupInvocations,
    subgroupMinSize: info.subgroupMinSize,
    // CPU adapters: one SIMD group per row (the subgroup, 8 lanes on lavapipe's AVX2; 8 where it is unknown).
    rowThreads: info.cpu ? info.subgroupMinSize || 8 : MAX_ROW_WORKGROUP,
  };
}

/** The acquired device's target, or DEFAULT_TARGET when no device has been acquired (tracing only). */
export function currentTarget(): DeviceTarget {
  try {
    return deviceTarget();
  } catch {
    return DEFAULT_TARGET;
  }
}

/** Refuses to run a schedule built for more than the device gives (a jit traced before the device existed). */
export function checkTargetFits(t: DeviceTarget, what: string): void {
  const dev = deviceTarget();
  if (t.maxStorageBuffers > dev.maxStorageBuffers)
    throw new Error(`octet: ${what} was scheduled for ${t.maxStorageBuffers} storage buffers per kernel, but this device allows ${dev.maxStorageBuffers}; pass { target: deviceTarget() } or build it after \`await octet.device()\``);
}
