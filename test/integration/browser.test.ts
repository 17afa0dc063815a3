// The browser example in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core): the page
// trains a tiny GPT for a few steps on Chromium's WebGPU and the loss must fall; then one AdamW8bit step run in
// the page is checked against the plain-TS oracle. The page is served from the repository by a local server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import * as ref from "../reference/optimizers.ts";
import { compareClose } from "../optim/helpers.ts";

// Code passed to page.evaluate runs in the page, where `window` is the page's (this file is typed for Bun).
declare const window: { demo?: any; octet?: any };

const ROOT = join(import.meta.dir, "../..");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-angle=vulkan"];
const STEPS = 6;
const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json" };

let server: ReturnType<typeof Bun.serve>;
let browser: Browser;
let page: Page;
const consoleLines: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM=/path/to/chrome)`);
  const built = Bun.spawnSync([process.execPath, join(ROOT, "scripts/build.ts"), "--no-types"], { cwd: ROOT, stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`scripts/build.ts --no-types failed:\n${built.stderr.toString()}`);
  server = Bun.serve({
    port: 0,
    fetch(req) {
      const path = normalize(decodeURIComponent(new URL(req.url).pathname));
      if (path.includes("..")) return new Response("no", { status: 403 });
      const file = Bun.file(join(ROOT, path));
      return file.size ? new Response(file, { headers: { "content-type": TYPES[extname(path)] ?? "application/octet-stream" } }) : new Response("not found", { status: 404 });
    },
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  page = await browser.newPage();
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.stop(true);
});

describe("examples/browser in headless Chromium", () => {
  test(`the page trains a small GPT for ${STEPS} steps and the loss falls`, async () => {
    await page.goto(`http://localhost:${server.port}/examples/browser/index.html?steps=${STEPS}`);
    await page.waitForFunction(() => window.demo?.done || window.demo?.error, undefined, { timeout: 150_000, polling: 250 });
    const demo = await page.evaluate(() => window.demo);
    if (demo.error) throw new Error(`the page failed: ${demo.error}\n${consoleLines.join("\n")}`);
    expect(demo.losses).toHaveLength(STEPS);
    for (const l of demo.losses) expect(Number.isFinite(l)).toBe(true);
    // A character model starts near ln(vocabulary) and must be clearly lower after a few steps at lr 3e-3.
    expect(demo.losses.at(-1)).toBeLessThan(demo.losses[0] - 0.05);
    // The optimizer's memory, shown next to the 32-bit figure: two 8-bit codes and two f32 absmax per 256-block
    // for tensors of 4096 elements and more, two f32 states below that (bnb's min_8bit_size).
    const sizes = demo.paramSizes as number[];
    const ideal = sizes.reduce((a, n) => a + (n >= 4096 ? 2 * n + 8 * Math.ceil(n / 256) : 8 * n), 0);
    expect(demo.stateBytes32).toBe(8 * sizes.reduce((a, n) => a + n, 0));
    expect(demo.stateBytes).toBeGreaterThanOrEqual(ideal);
    expect(demo.stateBytes).toBeLessThan(ideal * 1.3 + 64 * 1024); // allocation granularity and the bucket tables
    expect(demo.stateBytes / demo.stateBytes32).toBeLessThan(0.5);
    // The kernel viewer lists what was compiled and shows WGSL.
    const wgsl = await page.locator("#wgsl").textContent();
    expect(wgsl).toContain("@compute");
    expect(await page.locator("#kernels option").count()).toBeGreaterThan(3);
    const device = await page.evaluate(() => window.octet.deviceInfo());
    expect(device.implementation).toBe("native"); // the browser's own WebGPU, not Dawn from npm
  }, 180_000);

  test("one AdamW8bit step in the page equals the plain-TS oracle", async () => {
    const N = 700;
    const p0 = Float32Array.from({ length: N }, (_, i) => Math.fround(Math.sin(i * 1.3) * 0.5));
    const g0 = Float32Array.from({ length: N }, (_, i) => Math.fround(Math.cos(i * 0.41) * 0.1));
    const got = await page.evaluate(async ([p, g]) => {
      const octet = window.octet;
      const param = new octet.nn.Parameter(await octet.tensor(Float32Array.from(p)));
      const opt = new octet.optim.AdamW8bit([param], { lr: 1e-3 });
      param.grad = await octet.tensor(Float32Array.from(g));
      await opt.step();
      return Array.from(await param.data.toArray());
    }, [Array.from(p0), Array.from(g0)] as const) as number[];
    const want = p0.slice();
    ref.adam({ p: want, g: g0, state: ref.createState("adamw", N, 8), step: 1, hp: { ...ref.DEFAULTS.adamw, lr: 1e-3 }, bits: 8 });
    const w = compareClose(got, want);
    expect(w.first).toBeUndefined();
    expect(got).not.toEqual(Array.from(p0));
  }, 60_000);
});
