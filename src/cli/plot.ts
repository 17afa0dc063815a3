// Loss curves as pictures: a vega-lite line chart rendered headless to SVG (vega's "none" renderer needs no
// DOM or canvas), and resvg to turn the SVG into a PNG with the system's fonts. Used by the training command
// line to put several optimizers' curves side by side (e.g. AdamW 32-bit vs AdamW8bit).
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
      .map((p) => ({ series: s.name, step: p.step, loss: opts.yMax !== undefined ? Math.min(p.loss, opts.yMax) : p.loss })),
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, fontSize: 16, anchor: "start" },
    width: opts.width ?? 640,
    height: opts.height ?? 360,
    background: "white",
    data: { values },
    mark: { type: "line", strokeWidth: 1.5, clip: true },
    encoding: {
      x: { field: "step", type: "quantitative", title: opts.xTitle ?? "step", axis: { tickMinStep: 1 } },
      // Linear, and not forced to include 0: differences between optimizers live near the curves' floor.
      y: { field: "loss", type: "quantitative", title: opts.yTitle ?? "loss", scale: { type: "linear", zero: false, ...(opts.yMax !== undefined ? { domainMax: opts.yMax } : {}) } },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        scale: { domain: names }, // legend in the caller's order, not alphabetical
        // Below the plot, one series a line: never covers a curve, and long labels are shown whole.
        legend: { labelLimit: 0, orient: "bottom", direction: "vertical", labelFontSize: 12, symbolStrokeWidth: 3, symbolType: "stroke" },
      },
      order: { field: "step", type: "quantitative" }, // connect points by step, whatever order they came in
    },
    config: {
      font: "DejaVu Sans, Helvetica, Arial, sans-serif",
      axis: { titleFontSize: 13, labelFontSize: 12, titleFontWeight: "normal", grid: true, gridOpacity: 0.6 },
      view: { stroke: "#ccc" },
    },
  };
}

/** A line chart of loss against step for each series, as an SVG document. */
export async function lossChartSvg(series: LossSeries[], title: string, opts: LossChartOptions = {}): Promise<string> {
  const { spec } = compile(lossChartSpec(series, title, opts));
  const view = new vega.View(vega.parse(spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
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
  const svg = await lossChartSvg(series, title, opts);
  await writeFileAtomic(path, path.toLowerCase().endsWith(".svg") ? new TextEncoder().encode(svg) : svgToPng(svg, opts));
}
