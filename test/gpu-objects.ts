// Counts the GPU objects a piece of work creates, by wrapping the device's factory methods while it runs: the
// steady-state tests assert a training or optimizer step creates none.
import * as octet from "../src/index.ts";

export interface GpuObjectCounts {
  buffers: number;
  bindGroups: number;
}

export async function countGpuObjects(fn: () => Promise<unknown>): Promise<GpuObjectCounts> {
  const dev = (await octet.device()) as GPUDevice & Record<string, unknown>;
  const counts = { buffers: 0, bindGroups: 0 };
  const { createBuffer, createBindGroup } = dev;
  dev.createBuffer = function (this: GPUDevice, d: GPUBufferDescriptor) {
    counts.buffers++;
    return createBuffer.call(this, d);
  };
  dev.createBindGroup = function (this: GPUDevice, d: GPUBindGroupDescriptor) {
    counts.bindGroups++;
    return createBindGroup.call(this, d);
  };
  try {
    await fn();
  } finally {
    dev.createBuffer = createBuffer;
    dev.createBindGroup = createBindGroup;
  }
  return counts;
}
