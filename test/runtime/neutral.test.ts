// The library is runtime-neutral (Bun, Deno, Node, browsers): no runtime globals and no load-time node:
// imports in src/ outside the command lines (src/cli) and the file formats (src/io), and the WebGPU
// implementation is chosen by one rule.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { chooseImplementation } from "../../src/runtime/device.ts";
import { chooseWaitMode } from "../../src/runtime/wait.ts";

const SRC = join(import.meta.dirname, "../../src");
const HOST_SIDE = /^(cli|io)\//; // allowed to use the host's APIs

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** The code of a file without its comments and string contents' line comments (good enough for a lint). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "").replace(/\s\/\/ .*$/gm, "");
}

describe("runtime-neutral library", () => {
  const files = sources(SRC).map((p) => ({ rel: relative(SRC, p), text: code(readFileSync(p, "utf8")) })).filter((f) => !HOST_SIDE.test(f.rel));

  test("no Bun or Deno globals, no bare process", () => {
    const bad = files.flatMap((f) =>
      [...f.text.matchAll(/(?<![\w.?'"])(Bun|Deno|process)\s*\.\s*\w+/g)].map((m) => `${f.rel}: ${m[0]}`));
    expect(bad).toEqual([]);
  });

  test("no load-time node: imports (type-only imports are erased)", () => {
    const bad = files.flatMap((f) =>
      [...f.text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^;]*?from\s+["'](node:[^"']+|fs|path|module|crypto)["']/gm)].map((m) => `${f.rel}: ${m[1]}`));
    expect(bad).toEqual([]);
  });

  test("the lint sees a Bun global and a node: import when there is one", () => {
    expect(code(`const h = Bun.hash("x"); // a comment`)).toMatch(/(?<![\w.?'"])Bun\s*\.\s*hash/);
    expect(`import { readFileSync } from "node:fs";`).toMatch(/^\s*(?:import|export)\s+(?!type\b)[^;]*?from\s+["'](node:[^"']+)["']/m);
    expect(`import type * as Fs from "node:fs";`).not.toMatch(/^\s*(?:import|export)\s+(?!type\b)[^;]*?from\s+["'](node:[^"']+)["']/m);
  });
});

describe("choosing the WebGPU implementation", () => {
  test("the runtime's own navigator.gpu where it has one, else Dawn", () => {
    expect(chooseImplementation(undefined, true)).toBe("native");
    expect(chooseImplementation("", true)).toBe("native");
    expect(chooseImplementation(undefined, false)).toBe("dawn");
  });
  test("OCTET_WEBGPU forces one", () => {
    expect(chooseImplementation("dawn", true)).toBe("dawn");
    expect(chooseImplementation("native", true)).toBe("native");
    expect(() => chooseImplementation("native", false)).toThrow(/OCTET_WEBGPU=native, but this runtime has no navigator.gpu/);
    expect(() => chooseImplementation("wgpu", true)).toThrow(/OCTET_WEBGPU=wgpu is not a WebGPU implementation: use native .* or dawn/);
  });
});

describe("choosing the wait mode", () => {
  test("the runtime's own WebGPU is awaited plainly; only Dawn on a CPU adapter naps", () => {
    expect(chooseWaitMode(undefined, { implementation: "native", cpu: true })).toBe("await");
    expect(chooseWaitMode(undefined, { implementation: "dawn", cpu: true }, "no setImmediate")).toBe("await");
    expect(chooseWaitMode(undefined, { implementation: "dawn", cpu: false }, undefined)).toBe("await");
  });
});
