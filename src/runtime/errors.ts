// GPU errors as JS errors. WebGPU reports validation and out-of-memory errors asynchronously: through error
// scopes, or else through an `uncapturederror` event that by default only logs. octet records every one of
// them. A program run (every realize, jit call and optimizer kernel) opens scopes around its own encoding and
// submission, naming the program, kernel and call site. The next call on the device (`device()`) throws what
// has come back; a readback (and opt.step(), after its gradients and after each update: optim/optimizer.ts)
// first waits for every scope still in flight (`deviceSettled`), so it throws the errors of the work before
// it. A pop resolves once the submission has been validated, not when the GPU has done the work (lavapipe:
// 0.3 ms median with a 500 ms matmul in flight), so waiting for them is cheap. A lost device makes every
// later call throw a DeviceLostError that says what survives.

/** A validation or out-of-memory error the GPU reported for work octet submitted. */
export class GpuError extends Error {
  constructor(
    readonly kind: GPUErrorFilter | "uncaptured",
    /** What octet was doing: a program and kernel (with its call site), or "outside any program". */
    readonly where: string,
    readonly gpuMessage: string,
  ) {
    super(`octet: the GPU reported a${/^[aeiou]/.test(kind) ? "n" : ""} ${kind} error in ${where}:\n${gpuMessage.trim()}`);
    this.name = "GpuError";
  }
}

/** Thrown by every call that needs a GPU device that is gone (driver reset, device.destroy(), GPU removed). */
export class DeviceLostError extends Error {
  constructor(
    readonly reason: string,
    readonly gpuMessage: string,
    /** What octet was doing when it found the loss ("reading a f32[3] tensor"), when it is more than a device call. */
    readonly what = "",
  ) {
    super(
      [
        `octet: the GPU device was lost (${reason}${gpuMessage ? `: ${gpuMessage.trim()}` : ""})${what ? `, found while ${what}` : ""}.`,
        "Every GPU tensor, parameter, gradient and optimizer state that lived on it is gone.",
        "What survives: checkpoints already written to disk (loadCheckpoint restores the model and optimizer from the last one),",
        "and host copies you kept (state dicts or toArray() results downloaded before the loss).",
        "`await octet.device()` acquires a new device; tensors, modules and optimizers from the lost one keep throwing this error.",
      ].join("\n"),
    );
    this.name = "DeviceLostError";
  }
}

/**
 * The errors of one device, found but not yet thrown, and the error-scope pops still in flight. Scopes are
 * pushed and popped synchronously around a program's encoding and submission (never across an await, or
 * two concurrent runs would pop each other's scopes); the pops resolve a tick later, so a checkpoint awaits
 * them first.
 */
export class ErrorSink {
  /** Pops not yet come back (each removes itself when it has). */
  private inflight = new Set<Promise<void>>();
  private found: Error[] = [];

  record(e: Error): void {
    this.found.push(e);
  }

  /**
   * Opens validation and out-of-memory scopes; the returned function closes them, and its promise resolves
   * when both have come back (what they found is recorded: throwFound throws it). `where` is called only if
   * an error comes back, with the GPU's message (which names the labelled pass or bind group at fault).
   */
  open(dev: GPUDevice, where: (gpuMessage: string) => string): () => Promise<void> {
    dev.pushErrorScope("out-of-memory");
    dev.pushErrorScope("validation");
    return () => {
      const seen = (kind: GPUErrorFilter) => (e: GPUError | null) => {
        if (e) this.record(new GpuError(kind, where(e.message), e.message));
      };
      // A pop rejects only when the device is gone; the loss itself is reported by device().
      const v = dev.popErrorScope().then(seen("validation")).catch(() => {});
      const m = dev.popErrorScope().then(seen("out-of-memory")).catch(() => {});
      const both: Promise<void> = Promise.all([v, m]).then(() => void this.inflight.delete(both));
      this.inflight.add(both);
      return both;
    };
  }

  /** Throws the first error found since the last check (after every pending pop has come back). */
  async check(): Promise<void> {
    while (this.inflight.size) await Promise.all([...this.inflight]);
    this.throwFound();
  }

  /** The synchronous part of check(): throws what has already come back. */
  throwFound(): void {
    if (!this.found.length) return;
    const [first, ...rest] = this.found.splice(0);
    if (rest.length) first.message += `\n(and ${rest.length} later GPU error${rest.length > 1 ? "s" : ""} in the same batch of work)`;
    throw first;
  }
}
