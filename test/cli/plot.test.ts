// Loss charts (src/cli/plot.ts): vega-lite -> SVG headless, resvg -> PNG. No GPU.
import { describe, expect, test } from "bun:test";
import { lossChartSpec, lossChartSvg, svgToPng, type LossSeries } from "../../src/cli/plot.ts";

const curve = (a: number, b: number) => Array.from({ length: 50 }, (_, i) => ({ step: i + 1, loss: a * Math.exp(-i / 10) + b }));
const SERIES: LossSeries[] = [
  { name: "adamw_torch (32-bit state)", points: curve(2, 1.5) },
  { name: "adamw_8bit (AdamW8bit, blockwise 8-bit state with a long label)", points: curve(2, 1.55) },
];

/** Width and height from a PNG's IHDR chunk (big-endian u32s at bytes 16 and 20). */
function pngSize(png: Uint8Array): { width: number; height: number } {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

describe("lossChartSvg / svgToPng", () => {
  test("the SVG names every series in full, has the title and axis titles", async () => {
    const svg = await lossChartSvg(SERIES, "Training loss");
    expect(svg.startsWith("<svg")).toBe(true);
    for (const s of SERIES) expect(svg).toContain(s.name); // labelLimit 0: no ellipsis on the long one
    expect(svg).not.toContain("…");
    expect(svg).toContain("Training loss");
    expect(svg).toContain(">step<");
    expect(svg).toContain(">loss<");
  });

  test("the PNG has the PNG signature and a sane size; scale 2 doubles it", async () => {
    const svg = await lossChartSvg(SERIES, "Training loss");
    const png = svgToPng(svg);
    expect(Array.from(png.subarray(0, 8))).toEqual(PNG_SIGNATURE);
    const { width, height } = pngSize(png);
    expect(width).toBeGreaterThan(600);
    expect(width).toBeLessThan(1200);
    expect(height).toBeGreaterThan(350);
    expect(height).toBeLessThan(800);
    expect(png.length).toBeGreaterThan(5_000); // something was drawn
    const big = pngSize(svgToPng(svg, { scale: 2 }));
    expect(big.width).toBe(2 * width);
    expect(big.height).toBe(2 * height);
  });

  test("spec: linear y not forced to zero, legend labels never cut, series kept in the caller's order", () => {
    const spec = lossChartSpec(SERIES, "t") as any;
    expect(spec.encoding.y.scale).toEqual({ type: "linear", zero: false });
    expect(spec.encoding.color.legend.labelLimit).toBe(0);
    expect(spec.encoding.color.scale.domain).toEqual(SERIES.map((s) => s.name));
  });

  test("non-finite losses (a diverged run) are left out; duplicate names are refused", async () => {
    const diverged = { name: "diverged", points: [{ step: 1, loss: 3 }, { step: 2, loss: Number.POSITIVE_INFINITY }, { step: 3, loss: Number.NaN }] };
    expect((lossChartSpec([diverged], "t") as any).data.values).toEqual([{ series: "diverged", step: 1, loss: 3 }]);
    await expect(lossChartSvg([SERIES[0], SERIES[0]], "t")).rejects.toThrow(/two series are named 'adamw_torch \(32-bit state\)'/);
  });
  test("a series entirely above yMax is pinned to the top edge and still renders (an empty clipped path made resvg abort)", async () => {
    const high: LossSeries = { name: "diverged eval", points: [{ step: 1, loss: 500 }, { step: 2, loss: 9e4 }] };
    const spec = lossChartSpec([SERIES[0], high], "t", { yMax: 5 }) as any;
    expect(spec.data.values.filter((v: any) => v.series === "diverged eval").map((v: any) => v.loss)).toEqual([5, 5]);
    const png = svgToPng(await lossChartSvg([SERIES[0], high], "t", { yMax: 5 }));
    expect(png.length).toBeGreaterThan(1000);
  });
});

describe("series colors", () => {
  test("twelve series get twelve distinct curve colors (the default 10-color scheme repeated the first)", async () => {
    const many: LossSeries[] = Array.from({ length: 12 }, (_, i) => ({ name: `run ${i}`, points: curve(2, 1.5 + i / 20) }));
    const svg = await lossChartSvg(many, "Twelve runs");
    const curveStrokes = [...svg.matchAll(/<path[^>]*stroke="(#[0-9a-fA-F]{6})"[^>]*stroke-width="1\.5"/g)].map((m) => m[1].toLowerCase());
    expect(curveStrokes.length).toBe(12);
    expect(new Set(curveStrokes).size).toBe(12);
  });
});
