// Training progress on the terminal, over cli-progress. On a TTY: one bar redrawn in place,
//   train ████████░░░░░░░░ step 120/300 | loss 2.3456 | 12.3k tok/s | ETA 1m12s
// When stdout is not a TTY (CI logs, `| tee`): plain lines without escape codes or bar glyphs, each stamped
// with the elapsed time, at most one every `intervalMs` (cli-progress's noTTYOutput schedule), and a last
// line at stop():
//   [00:01:05] train step 120/300 | loss 2.3456 | 12.3k tok/s | ETA 1m12s
import { Format, Presets, SingleBar, type Params } from "cli-progress";

export interface ProgressOptions {
  /** Leading label, e.g. the optimizer name. */
  label?: string;
  /** Where to write (default process.stdout). Its `isTTY` picks the bar or plain lines. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Not a TTY: milliseconds between lines (default 10000). */
  intervalMs?: number;
  /** Steps already done when the bar starts (a resumed run): the ETA counts only the steps from there. */
  start?: number;
}

export interface ProgressInfo {
  loss?: number;
  tokensPerSec?: number;
}

export interface Progress {
  /** Report that `step` of `total` steps are done. */
  update(step: number, info?: ProgressInfo): void;
  /** A line of its own (an evaluation), printed above the bar on a TTY, between the timed lines otherwise. */
  log(line: string): void;
  /** Print the final state and release the terminal (and the timer keeping the process alive). */
  stop(): void;
}

/** A progress reporter for `total` steps; call stop() when done. */
export function progress(total: number, opts: ProgressOptions = {}): Progress {
  if (!Number.isSafeInteger(total) || total < 0) throw new Error(`progress: total must be a non-negative integer, got ${total}`);
  const stream = opts.stream ?? process.stdout;
  const tty = stream.isTTY === true;
  const label = opts.label ? `${opts.label} ` : "";
  const started = Date.now();
  let info: ProgressInfo = {};

  const format = (options: object, params: Params): string => {
    const parts = [`step ${params.value}/${params.total}`];
    if (info.loss !== undefined) parts.push(`loss ${formatLoss(info.loss)}`);
    if (info.tokensPerSec !== undefined) parts.push(`${formatRate(info.tokensPerSec)} tok/s`);
    parts.push(`ETA ${params.value >= params.total ? "0s" : formatEta(params.eta)}`);
    const text = parts.join(" | ");
    if (!tty) return `[${clock((Date.now() - started) / 1000)}] ${label}${text}`;
    return `${label}${Format.BarFormat(params.progress, options)} ${text}`;
  };

  const bar = new SingleBar(
    {
      format: format as never,
      stream,
      barsize: 24,
      noTTYOutput: true, // without it cli-progress prints nothing at all when piped
      notTTYSchedule: opts.intervalMs ?? 10_000,
      etaBuffer: 50, // steps the ETA averages over: smooth across a slow first (compiling) step
      hideCursor: false, // a Ctrl-C (no gracefulExit handler, so training stays interruptible) must not hide the cursor
      clearOnComplete: !tty, // not a TTY: no trailing blank line after the last report
    },
    Presets.shades_classic,
  );
  const start = Math.min(Math.max(0, opts.start ?? 0), total);
  bar.start(total, start);
  let stopped = false;
  return {
    update(step, next = {}) {
      if (stopped) return;
      info = { ...info, ...next };
      bar.update(Math.min(Math.max(0, step), total));
    },
    log(line) {
      if (stopped || !tty) {
        stream.write(`${line}\n`);
        return;
      }
      // Clear the bar's line, print, and draw the bar again below. cli-progress saved the cursor (ESC 7) where the
      // bar started and restores it (ESC 8) at stop(): save it again at the bar's new line, or stop() jumps back
      // above the lines printed here and what follows overwrites them.
      stream.write(`\r\x1b[2K${line}\n\x1b7`);
      // It draws only a line that changed since its last drawing: forget that one (this line just cleared it).
      const b = bar as unknown as { lastDrawnString: string | null; render(force?: boolean): void };
      b.lastDrawnString = null;
      b.render(true);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

function formatLoss(loss: number): string {
  if (!Number.isFinite(loss)) return String(loss).toLowerCase(); // "nan", "infinity": a diverged run shows it
  return Math.abs(loss) >= 1000 ? loss.toExponential(3) : loss.toFixed(4);
}

/** 950 -> "950", 12345 -> "12.3k", 2.5e6 -> "2.50M". */
export function formatRate(perSec: number): string {
  if (!Number.isFinite(perSec) || perSec < 0) return "?";
  if (perSec < 1000) return perSec < 10 ? perSec.toFixed(1) : Math.round(perSec).toString();
  if (perSec < 1e6) return `${(perSec / 1e3).toFixed(perSec < 1e4 ? 2 : 1)}k`;
  return `${(perSec / 1e6).toFixed(2)}M`;
}

/** Seconds (or cli-progress's "NULL"/"INF" before a rate is known) -> "42s", "3m05s", "2h07m", "?". */
export function formatEta(eta: number | string): string {
  if (typeof eta !== "number" || !Number.isFinite(eta) || eta < 0) return "?";
  const s = Math.round(eta);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}
