// How octet waits for the GPU: every readback (a loss, toArray, a state dict) ends with a `mapAsync`, and the
// profiler and the benches with an `onSubmittedWorkDone`; this file decides how the JS thread spends that wait.
//
// Why it matters. Dawn's Node binding (the `webgpu` package, used under Bun and Node) resolves its promises by
// calling ProcessEvents from `setImmediate`, again and again while any is pending (AsyncRunner in
// src/dawn/node/binding): about 30-70 calls per ms, so the JS thread spins at 100% for the whole wait. On a
// CPU adapter (lavapipe) the GPU's threads are CPU threads, and that spinning thread takes a core from them:
// an 8M-16M element kernel ran 1.3-4x slower awaited plainly than with the JS thread asleep.
//
// The modes:
//   await  the promise is awaited as is. The runtime's own WebGPU (Deno's wgpu, browsers) does not spin from
//          JS: Deno's mapAsync blocks in a device poll and then sleeps 10 ms, a browser waits off-thread.
//   nap    the JS thread sleeps in Atomics.wait between single event-loop turns. Each turn lets Dawn's queued
//          setImmediate run ProcessEvents once (which settles the promise when the work is done) and lets any
//          other ready callback run; between turns the thread is asleep and the core is the driver's. The
//          first SPIN_MS of a wait are turns without naps (a small readback is done in a few polls, and a
//          sleeping thread on a loaded machine can wake late); after that a nap is an eighth of the time waited
//          so far, between NAP_MIN_MS and NAP_MAX_MS: a long wait (a training step) costs at most NAP_MAX_MS of
//          latency, and never more than about an eighth of the wait. Needs Atomics.wait on this thread (a browser's main thread refuses it) and
//          setImmediate (Dawn's binding needs it too).
// The default is nap for Dawn on a CPU adapter (lavapipe, SwiftShader) where this thread can nap, await
// otherwise: on a real GPU the spinning thread takes no time from the GPU, and a nap would only add latency
// (up to an eighth of a short wait). OCTET_WAIT=await|nap forces one; deviceInfo().wait says which is in use.
//
// A nap only delays when the JS thread looks at the promise, never what the promise says: the data a readback
// returns is the data mapAsync mapped, and a rejection is rethrown as it came.
import type { WebGpuImplementation } from "./device.ts";

export type WaitMode = "await" | "nap";

/** How long a wait polls without napping (ms). */
export const SPIN_MS = 0.25;
/** The shortest and longest sleep between two event-loop turns (ms), and the share of the time waited so far. */
export const NAP_MIN_MS = 0.02;
export const NAP_MAX_MS = 2;
export const NAP_FRACTION = 1 / 8;

type Immediate = (f: () => void) => unknown;
const immediateOf = (): Immediate | undefined => {
  const f = (globalThis as { setImmediate?: Immediate }).setImmediate;
  return typeof f === "function" ? f : undefined;
};

/** Why this thread cannot nap (no SharedArrayBuffer, Atomics.wait refused here, no setImmediate), or undefined if it can. */
export function napUnavailable(): string | undefined {
  if (typeof SharedArrayBuffer !== "function" || typeof Atomics?.wait !== "function") return "this runtime has no SharedArrayBuffer / Atomics.wait";
  if (!immediateOf()) return "this runtime has no setImmediate (Dawn's Node binding polls through it; other WebGPUs need no nap)";
  try {
    // Returns "not-equal" at once where waiting is allowed; a browser's main thread throws instead.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
  } catch {
    return "Atomics.wait is not allowed on this thread (a browser's main thread)";
  }
  return undefined;
}

/** The device facts the default depends on (DeviceInfo has both). */
export interface WaitFacts {
  implementation: WebGpuImplementation;
  /** A CPU adapter: the GPU's threads are CPU threads, which a spinning JS thread competes with. */
  cpu: boolean;
}

/**
 * The wait mode for a device: OCTET_WAIT's value when set (refused when unknown, or nap where this thread
 * cannot nap), else nap for Dawn on a CPU adapter where this thread can nap, else await. `unavailable` says
 * why napping is impossible here (napUnavailable()).
 */
export function chooseWaitMode(forced: string | undefined, facts: WaitFacts, unavailable = napUnavailable()): WaitMode {
  if (forced === undefined || forced === "" || forced === "auto") return facts.implementation === "dawn" && facts.cpu && !unavailable ? "nap" : "await";
  if (forced !== "await" && forced !== "nap")
    throw new Error(`octet: OCTET_WAIT=${forced} is not a wait mode: use await (plain await) or nap (sleep between event-loop turns), or leave it unset`);
  if (forced === "nap" && unavailable) throw new Error(`octet: OCTET_WAIT=nap, but ${unavailable}: unset OCTET_WAIT or use await`);
  return forced;
}

/** How long to sleep after having waited `elapsedMs`. */
export const napMs = (elapsedMs: number): number => Math.min(NAP_MAX_MS, Math.max(NAP_MIN_MS, elapsedMs * NAP_FRACTION));

/**
 * Waits for GPU promises in one mode. One per device (device.ts holds it). Concurrent waits in nap mode share
 * one loop, so two readbacks in flight nap once per turn, not twice.
 */
export class GpuWaiter {
  private cell?: Int32Array;
  /** Waits in flight and when the latest began: the nap is sized on the youngest wait, so none sleeps long past its promise. */
  private active = 0;
  private latest = 0;
  private looping = false;
  /** How many naps were taken, for tests and benches (a nap mode that never naps would be await in disguise). */
  naps = 0;

  constructor(public mode: WaitMode) {}

  /** `promise`'s value (or its rejection), waited for in this waiter's mode. */
  async until<T>(promise: Promise<T>): Promise<T> {
    if (this.mode === "await") return promise;
    this.active++;
    this.latest = performance.now();
    if (!this.looping) void this.loop();
    try {
      return await promise;
    } finally {
      // Runs in the microtasks right after the promise settles, so the loop's next check sees it.
      this.active--;
    }
  }

  /** One event-loop turn, then a nap, while any wait is in flight. Never throws: without setImmediate it is a plain await. */
  private async loop(): Promise<void> {
    const immediate = immediateOf();
    if (!immediate) return;
    this.looping = true;
    this.cell ??= new Int32Array(new SharedArrayBuffer(4));
    while (this.active > 0) {
      // Dawn's ProcessEvents was queued with setImmediate when its promise began; this turn is queued after
      // it, so when it runs Dawn has polled once and any promise that settled has run its reactions.
      await new Promise<void>((r) => immediate(r));
      if (this.active === 0) break;
      const waited = performance.now() - this.latest;
      if (waited < SPIN_MS) continue;
      Atomics.wait(this.cell, 0, 0, napMs(waited));
      this.naps++;
    }
    this.looping = false;
  }
}
