// Loss curves as pictures: vega-lite charts rendered headless to SVG (vega's "none" renderer needs no DOM or
// canvas), and resvg to turn the SVG into a PNG with the system's fonts. `train` draws one run's curves
// (lossChartSpec); `compare` draws every run's curve over a panel of each run's difference from the 32-bit
// baseline (compareChartSpec), because 8-bit and 32-bit curves lie on top of each other at the loss's scale.
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { writeFileAtomic } from "../io/atomic.ts";

export interface LossPoint {
  step: number;
  loss: number;
}

export interface LossSeries {
  /** Legend label, e.g. "adamw_8bit"; shown in full (never cut with an ellipsis). */
  name: string;
  points: LossPoint[];
  /** Mark each point (a held-out loss measured every N steps; a series of one point shows at all). */
  dots?: boolean;
}

export interface LossChartOptions {
  /** Plot area size in CSS pixels (the legend and axes come on top). Default 640 x 360. */
  width?: number;
  height?: number;
  xTitle?: string;
  yTitle?: string;
  /** Clip the y axis here, so a diverged run does not flatten every other curve (the line leaves the plot). */
  yMax?: number;
}

/** The vega-lite spec of a loss chart: one line per series, linear axes, the legend in the series' order. */
export function lossChartSpec(series: LossSeries[], title: string, opts: LossChartOptions = {}): TopLevelSpec {
  const names = series.map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new Error(`lossChartSvg: two series are named '${dup}'; legend labels must be unique`);
  // A diverged run logs NaN or Infinity: those points are left out (the line ends there) rather than let an
  // infinite value stretch the y scale until every other curve is flat.
  const values = series.flatMap((s) =>
    s.points
      .filter((p) => Number.isFinite(p.step) && Number.isFinite(p.loss))
      // Past yMax a point is pinned to the top edge instead of clipped: a series whose every point lies above it
      // clips to an empty path, on which resvg panics and aborts the process (seen with a diverged eval curve).
      .map((p) => ({ series: s.name, step: p.step, loss: opts.yMax !== undefined ? Math.min(p.loss, opts.yMax) : p.loss, ...(s.dots ? { dots: true } : {}) })),
  );
  const line = { type: "line", strokeWidth: 1.5, clip: true } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, fontSize: 16, anchor: "start" },
    width: opts.width ?? 640,
    height: opts.height ?? 360,
    background: "white",
    data: { values },
    ...(series.some((x) => x.dots)
      ? { layer: [{ mark: line }, { mark: { type: "point", filled: true, size: 36, clip: true }, transform: [{ filter: "datum.dots" }] }] }
      : { mark: line }),
    encoding: {
      x: { field: "step", type: "quantitative", title: opts.xTitle ?? "step", axis: { tickMinStep: 1 } },
      // Linear, and not forced to include 0: differences between optimizers live near the curves' floor.
      y: { field: "loss", type: "quantitative", title: opts.yTitle ?? "loss", scale: { type: "linear", zero: false, ...(opts.yMax !== undefined ? { domainMax: opts.yMax } : {}) } },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        scale: seriesColors(names), // legend in the caller's order, not alphabetical
        // Below the plot, one series a line: never covers a curve, and long labels are shown whole.
        legend: { labelLimit: 0, orient: "bottom", direction: "vertical", labelFontSize: 12, symbolStrokeWidth: 3, symbolType: "stroke" },
      },
      order: { field: "step", type: "quantitative" }, // connect points by step, whatever order they came in
    },
    config: CHART_CONFIG,
  } as TopLevelSpec;
}

const CHART_CONFIG = {
  font: "DejaVu Sans, Helvetica, Arial, sans-serif",
  axis: { titleFontSize: 13, labelFontSize: 12, titleFontWeight: "normal" as const, grid: true, gridOpacity: 0.6 },
  view: { stroke: "#ccc" },
};

/** A moving mean over the last `k` points (fewer at the start): `k`-step means of a noisy per-step loss. */
export function movingMean(points: LossPoint[], k: number): LossPoint[] {
  let sum = 0;
  return points.map((p, i) => {
    sum += p.loss - (i >= k ? points[i - k].loss : 0);
    return { step: p.step, loss: sum / Math.min(k, i + 1) };
  });
}

export interface CompareRun {
  /** Legend label; unique. */
  name: string;
  /** Training loss of every step (unsmoothed: the figure smooths). */
  points: LossPoint[];
}

export interface CompareChartOptions {
  /** Steps in the moving mean of both panels (default: a twentieth of the run, between 5 and 50). */
  window?: number;
  /** Clip the loss panel's y axis here (a diverged run leaves the plot instead of flattening the others). */
  yMax?: number;
  width?: number;
  /** How the difference panel's title names the baseline (default: its legend label). */
  baselineTitle?: string;
}

/**
 * The comparison figure: the runs' smoothed training losses on top, and below, each run's smoothed loss minus
 * the baseline's at the same step (the batches are the same, so the difference is paired and far less noisy
 * than either curve), with a zero line. One legend, below both panels, outside the data.
 */
export function compareChartSpec(runs: CompareRun[], baseline: string, title: string, opts: CompareChartOptions = {}): TopLevelSpec {
  const names = runs.map((r) => r.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new Error(`compareChartSpec: two runs are named '${dup}'; legend labels must be unique`);
  const base = runs.find((r) => r.name === baseline);
  if (!base) throw new Error(`compareChartSpec: the baseline '${baseline}' is not one of the runs (${names.join(", ")})`);
  const longest = Math.max(...runs.map((r) => r.points.length));
  const k = opts.window ?? Math.min(50, Math.max(5, Math.round(longest / 20)));
  const smooth = new Map(runs.map((r) => [r.name, movingMean(r.points.filter((p) => Number.isFinite(p.step) && Number.isFinite(p.loss)), k)]));
  const baseAt = new Map(smooth.get(baseline)!.map((p) => [p.step, p.loss]));
  const clipTop = (v: number) => (opts.yMax !== undefined ? Math.min(v, opts.yMax) : v);
  const loss = runs.flatMap((r) => smooth.get(r.name)!.map((p) => ({ series: r.name, step: p.step, loss: clipTop(p.loss) })));
  const diff = runs
    .filter((r) => r.name !== baseline)
    // Past yMax a run has left the loss panel (diverged): its difference would stretch this axis a thousandfold.
    .flatMap((r) => smooth.get(r.name)!.filter((p) => baseAt.has(p.step) && !(opts.yMax !== undefined && p.loss > opts.yMax)).map((p) => ({ series: r.name, step: p.step, diff: p.loss - baseAt.get(p.step)! })))
    .filter((d) => Number.isFinite(d.diff));
  const width = opts.width ?? 640;
  const color = {
    field: "series",
    type: "nominal",
    title: null,
    scale: seriesColors(names),
    legend: { labelLimit: 0, orient: "bottom", direction: "vertical", labelFontSize: 12, symbolStrokeWidth: 3, symbolType: "stroke" },
  } as const;
  const x = { field: "step", type: "quantitative", title: "step", axis: { tickMinStep: 1 } } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, fontSize: 16, anchor: "start" },
    background: "white",
    spacing: 28,
    vconcat: [
      {
        title: { text: `training loss (${k}-step mean)`, fontSize: 13, anchor: "start", fontWeight: "normal" },
        width,
        height: 300,
        data: { values: loss },
        mark: { type: "line", strokeWidth: 1.5, clip: true },
        encoding: {
          x,
          y: { field: "loss", type: "quantitative", title: "loss", scale: { type: "linear", zero: false, ...(opts.yMax !== undefined ? { domainMax: opts.yMax } : {}) } },
          color,
          order: { field: "step", type: "quantitative" },
        },
      },
      {
        title: { text: `difference from ${opts.baselineTitle ?? baseline} (${k}-step mean; below 0: lower loss than the baseline)`, fontSize: 13, anchor: "start", fontWeight: "normal" },
        width,
        height: 200,
        layer: [
          { data: { values: [{ zero: 0 }] }, mark: { type: "rule", color: "#444", strokeDash: [4, 3] }, encoding: { y: { field: "zero", type: "quantitative" } } },
          {
            data: { values: diff },
            mark: { type: "line", strokeWidth: 1.5, clip: true },
            encoding: { x, y: { field: "diff", type: "quantitative", title: "loss - baseline loss" }, color, order: { field: "step", type: "quantitative" } },
          },
        ],
      },
    ],
    resolve: { scale: { color: "shared" } },
    config: CHART_CONFIG,
  } as TopLevelSpec;
}

/** Any vega-lite spec as an SVG document. */
export async function chartSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Write a chart to `path`: SVG when it ends in .svg, PNG otherwise; atomically. */
export async function saveChart(path: string, spec: TopLevelSpec, opts: { scale?: number } = {}): Promise<void> {
  const svg = await chartSvg(spec);
  await writeFileAtomic(path, path.toLowerCase().endsWith(".svg") ? new TextEncoder().encode(svg) : svgToPng(svg, opts));
}

/** A line chart of loss against step for each series, as an SVG document. */
export async function lossChartSvg(series: LossSeries[], title: string, opts: LossChartOptions = {}): Promise<string> {
  return chartSvg(lossChartSpec(series, title, opts));
}

/** Rasterise an SVG to PNG bytes (white background; `scale` 2 gives a sharp image on high-DPI screens). */
export function svgToPng(svg: string, opts: { scale?: number } = {}): Uint8Array {
  const resvg = new Resvg(svg, {
    background: "white",
    fitTo: opts.scale && opts.scale !== 1 ? { mode: "zoom", value: opts.scale } : { mode: "original" },
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
  });
  return new Uint8Array(resvg.render().asPng());
}

/** Write a loss chart to `path`: SVG when it ends in .svg, PNG otherwise; atomically. */
export async function saveLossChart(path: string, series: LossSeries[], title: string, opts: LossChartOptions & { scale?: number } = {}): Promise<void> {
  await saveChart(path, lossChartSpec(series, title, opts), opts);
}

/**
 * The color scale of a figure's series, in the caller's order. Vega-Lite's default scheme has 10 colors, so an
 * 11th series repeated the 1st (the 12-run ablation drew two orange curves); past 10 use the 20-color scheme.
 */
function seriesColors(names: string[]): { domain: string[]; scheme?: string } {
  return names.length > 10 ? { domain: names, scheme: "tableau20" } : { domain: names };
}
