// Dawn's Vulkan backend prints two lines at every start, from native code straight to file descriptor 2:
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
//   Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
// They come from Dawn's limit normalisation while it enumerates adapters (dawn/native/Limits.cpp, an
// unconditional dawn::WarningLog, before any limit is requested: no toggle or requiredLimits avoids them), and
// say only that Dawn caps a limit octet never uses (it binds no dynamic offsets). The command lines acquire the
// device with fd 2 pointed into a pipe for that moment, drop exactly those two lines and write everything else
// back to stderr, in order. OCTET_DEBUG >= 1 keeps them. Library users get Dawn's output untouched.
// Bun on Linux only (bun:ffi over libc's pipe/dup/dup2/read); elsewhere the device is acquired as usual.
import { acquireDevice } from "../runtime/device.ts";
import { debugLevel } from "../runtime/env.ts";

const DAWN_LIMIT_WARNING = /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

/** `text` without Dawn's two limit warnings (every other line kept, in order). */
export function withoutDawnLimitWarnings(text: string): string {
  return text
    .split(/(?<=\n)/)
    .filter((line) => !DAWN_LIMIT_WARNING.test(line.replace(/\r?\n$/, "")))
    .join("");
}

interface Libc {
  pipe(fds: unknown): number;
  dup(fd: number): number;
  dup2(fd: number, to: number): number;
  close(fd: number): number;
  read(fd: number, buf: unknown, n: number): number | bigint;
}

async function libc(): Promise<{ c: Libc; ptr: (a: ArrayBufferView) => unknown } | undefined> {
  if (typeof (globalThis as { Bun?: unknown }).Bun === "undefined" || process.platform !== "linux") return undefined;
  try {
    const ffi = await import("bun:ffi");
    const { FFIType: T } = ffi;
    const lib = ffi.dlopen("libc.so.6", {
      pipe: { args: [T.ptr], returns: T.i32 },
      dup: { args: [T.i32], returns: T.i32 },
      dup2: { args: [T.i32, T.i32], returns: T.i32 },
      close: { args: [T.i32], returns: T.i32 },
      read: { args: [T.i32, T.ptr, T.u64], returns: T.i64 },
    });
    return { c: lib.symbols as unknown as Libc, ptr: ffi.ptr as (a: ArrayBufferView) => unknown };
  } catch {
    return undefined; // not glibc (musl), or no FFI: the warnings are shown, nothing else changes
  }
}

/**
 * octet.device() for a command line: the same device, acquired with Dawn's two limit warnings filtered out of
 * stderr. Everything else written to stderr meanwhile (a driver error, a JS warning) is written back.
 */
export async function acquireDeviceQuietly(): Promise<GPUDevice> {
  const l = debugLevel() >= 1 ? undefined : await libc();
  if (!l) return acquireDevice();
  const { c, ptr } = l;
  const fds = new Int32Array(2);
  if (c.pipe(ptr(fds)) !== 0) return acquireDevice();
  const saved = c.dup(2);
  if (saved < 0 || c.dup2(fds[1], 2) < 0) {
    c.close(fds[0]);
    c.close(fds[1]);
    if (saved >= 0) c.close(saved);
    return acquireDevice();
  }
  c.close(fds[1]); // fd 2 is now the pipe's only write end: restoring fd 2 closes it, and read() sees EOF
  // A pipe holds 64 KiB; only device creation writes here, a few hundred bytes.
  try {
    return await acquireDevice();
  } finally {
    c.dup2(saved, 2);
    c.close(saved);
    const buf = new Uint8Array(1 << 16);
    const chunks: Uint8Array[] = [];
    for (;;) {
      const n = Number(c.read(fds[0], ptr(buf), buf.length));
      if (n <= 0) break;
      chunks.push(buf.slice(0, n));
    }
    c.close(fds[0]);
    const rest = withoutDawnLimitWarnings(new TextDecoder().decode(Buffer.concat(chunks)));
    if (rest) process.stderr.write(rest);
  }
}
