// Golden WGSL: the generated source of the kernels that matter, compared with files under test/codegen/golden/,
// so a change to codegen shows its diff on them in review.
//
// A change that alters one of these kernels on purpose regenerates the files:
//     OCTET_UPDATE_GOLDEN=1 npx bun test test/codegen/golden.test.ts
// then `git diff test/codegen/golden/` shows what changed; commit the files with the change and say so.
//
// The kernels (test/codegen/golden-kernels.ts) are generated for DEFAULT_TARGET without a device, in a fresh
// process (see there why), so the files are the same on every machine and in every test order: nothing in them
// depends on a path, a time or what ran before.
import { describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const DIR = join(import.meta.dir, "golden");
const UPDATE = process.env.OCTET_UPDATE_GOLDEN === "1";
const generate = (): Record<string, string> => JSON.parse(execFileSync(process.execPath, [join(import.meta.dir, "golden-kernels.ts")], { encoding: "utf8", maxBuffer: 1 << 26 }));
const kernels = generate();

describe("golden WGSL", () => {
  for (const [name, wgsl] of Object.entries(kernels))
    test(name, () => {
      const file = join(DIR, `${name}.wgsl`);
      if (UPDATE) {
        mkdirSync(DIR, { recursive: true });
        writeFileSync(file, wgsl);
      }
      if (!existsSync(file)) throw new Error(`no golden file ${file}: run OCTET_UPDATE_GOLDEN=1 npx bun test test/codegen/golden.test.ts`);
      // Compare line by line first so a failure names the first line that differs.
      const want = readFileSync(file, "utf8");
      const a = wgsl.split("\n");
      const b = want.split("\n");
      const at = Array.from({ length: Math.max(a.length, b.length) }, (_, i) => i).find((i) => a[i] !== b[i]);
      if (at !== undefined) expect({ line: at + 1, got: a[at] }).toEqual({ line: at + 1, got: b[at] });
      expect(wgsl).toBe(want);
    });

  test("a second process generates the same WGSL (no hashes of paths, no times, no counters)", () => {
    expect(generate()).toEqual(kernels);
  });
});
