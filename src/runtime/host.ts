// What octet asks of the runtime it runs in, in one place, so the library itself stays runtime-neutral
// (Bun, Deno, Node and browsers): the environment knobs and, for the few features that touch files, the
// host's file system. Nothing here is imported from `node:` at load time; a browser bundle has no node:
// import to resolve. Node 20.16+, Bun and Deno 2 all have `process.getBuiltinModule`, which loads a
// built-in synchronously at the moment a feature needs it.
import type * as NodeFs from "node:fs";
import type * as NodeModule from "node:module";
import type * as NodePath from "node:path";

interface HostProcess {
  env?: Record<string, string | undefined>;
  getBuiltinModule?: (id: string) => unknown;
}

const hostProcess = (): HostProcess | undefined => (globalThis as { process?: HostProcess }).process;

/** An environment variable, or undefined where the runtime has no environment (a browser). */
export function hostEnv(name: string): string | undefined {
  return hostProcess()?.env?.[name];
}

/** Sets an environment variable when it is unset, where the runtime has an environment. */
export function defaultHostEnv(name: string, value: string): void {
  const env = hostProcess()?.env;
  if (env && env[name] === undefined) env[name] = value;
}

interface Builtins {
  "node:fs": typeof NodeFs;
  "node:path": typeof NodePath;
  "node:module": typeof NodeModule;
}

/**
 * A Node built-in module, for `feature` (named in the error where the runtime has none, e.g. a browser):
 * "OCTET_DUMP_DIR needs a file system".
 */
export function hostModule<K extends keyof Builtins>(id: K, feature: string): Builtins[K] {
  const load = hostProcess()?.getBuiltinModule;
  if (typeof load !== "function")
    throw new Error(`octet: ${feature} needs ${id}, which this runtime does not provide (a browser has no file system; Node must be 20.16 or newer)`);
  return load(id) as Builtins[K];
}
