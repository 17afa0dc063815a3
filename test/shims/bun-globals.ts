// The few `Bun.*` globals the bench scripts use (version, write, gc, spawnSync, spawn), for running them under
// Deno unchanged: `deno run -A --preload test/shims/bun-globals.ts bench/optim.ts ...` (deno.json's `bench` task).
// Only for bench/ and tests: the library itself uses no runtime globals (test/runtime/neutral.test.ts).
import { spawn as nodeSpawn, spawnSync as nodeSpawnSync, type StdioOptions } from "node:child_process";
import { writeFileSync } from "node:fs";

interface DenoLike {
  version: { deno: string; v8: string };
}
const deno = (globalThis as { Deno?: DenoLike }).Deno;

type Stdio = "inherit" | "pipe" | "ignore" | null | undefined;
interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  stdio?: Stdio[];
  stdout?: Stdio;
  stderr?: Stdio;
  stdin?: Stdio;
}
const stdioOf = (o: SpawnOptions = {}): StdioOptions =>
  (o.stdio ?? [o.stdin ?? "inherit", o.stdout ?? "pipe", o.stderr ?? "inherit"]).map((s) => s ?? "pipe") as StdioOptions;

if (deno && !(globalThis as { Bun?: unknown }).Bun) {
  const Bun = {
    version: `deno ${deno.version.deno} (v8 ${deno.version.v8})`,
    async write(path: string, data: string | Uint8Array): Promise<number> {
      writeFileSync(path, data);
      return typeof data === "string" ? new TextEncoder().encode(data).length : data.length;
    },
    gc(_force?: boolean): void {
      (globalThis as { gc?: () => void }).gc?.(); // only with --v8-flags=--expose-gc
    },
    spawnSync(cmd: string[], o: SpawnOptions = {}) {
      const r = nodeSpawnSync(cmd[0], cmd.slice(1), { cwd: o.cwd, env: o.env as NodeJS.ProcessEnv, stdio: stdioOf(o) });
      return { exitCode: r.status, success: r.status === 0, stdout: r.stdout ?? new Uint8Array(), stderr: r.stderr ?? new Uint8Array() };
    },
    spawn(cmd: string[], o: SpawnOptions = {}) {
      const child = nodeSpawn(cmd[0], cmd.slice(1), { cwd: o.cwd, env: o.env as NodeJS.ProcessEnv, stdio: stdioOf(o) });
      return { pid: child.pid, exited: new Promise<number>((res) => child.on("exit", (code) => res(code ?? 1))), kill: () => child.kill() };
    },
  };
  Object.assign(globalThis, { Bun });
}
