// What to tell a user when Dawn finds no WebGPU adapter. The usual cause is a missing Vulkan driver (install
// lavapipe); but when the environment points the Vulkan loader somewhere (VK_ICD_FILENAMES, VK_DRIVER_FILES),
// installing a driver changes nothing and the install script reports it is already there, so advice to install
// it would send the user round in a circle. Then the message names the variable and what is wrong with it.
// Runtime-neutral: the environment and a file-exists check are passed in (the command lines pass node:fs's).

/** Vulkan loader variables that restrict or replace the drivers it loads (Khronos loader docs). */
export const DRIVER_VARS = ["VK_ICD_FILENAMES", "VK_DRIVER_FILES", "VK_ADD_DRIVER_FILES"] as const;

export const INSTALL_ADVICE = [
  "On a machine without a GPU, octet runs on Mesa's Vulkan software driver (lavapipe).",
  "Debian bookworm's own Mesa 22 is too old for Dawn; install Mesa 25 from bookworm-backports:",
  "  bash .ci/install-lavapipe.sh",
  "(adds the bookworm-backports apt source, then: apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1).",
  "With a GPU, install its Vulkan driver and libvulkan1.",
].join("\n");

export class NoAdapterError extends Error {
  override name = "NoAdapterError";
}

/**
 * The no-adapter message for this environment. `exists` (when given) checks the files the variables name, so a
 * path that points nowhere is reported as such.
 */
export function noAdapterHelp(env: Record<string, string | undefined>, exists?: (path: string) => boolean): string {
  const head = "octet: Dawn found no WebGPU adapter.";
  const set = DRIVER_VARS.filter((v) => env[v]);
  if (!set.length) return `${head}\n${INSTALL_ADVICE}`;
  const lines = [head];
  for (const v of set) {
    // The loader's list separator is ':' on Linux and macOS (';' on Windows).
    const files = env[v]!.split(/[:;]/).filter(Boolean);
    const missing = exists ? files.filter((f) => !exists(f)) : [];
    if (missing.length === files.length && exists)
      lines.push(`${v}=${env[v]} names ${files.length === 1 ? "a file that does not exist" : "files none of which exist"}, so the Vulkan loader has no driver to load.`);
    else if (missing.length) lines.push(`${v}=${env[v]}: ${missing.join(", ")} ${missing.length === 1 ? "does" : "do"} not exist.`);
    else lines.push(`${v}=${env[v]} limits the Vulkan loader to ${files.length === 1 ? "that driver" : "those drivers"}, and none gave an adapter.`);
  }
  lines.push(
    `Installing a driver will not help while ${set.join(" / ")} ${set.length === 1 ? "is" : "are"} set: unset ${set.length === 1 ? "it" : "them"}` +
      ` (e.g. \`unset ${set.join(" ")}\`) or point ${set.length === 1 ? "it" : "them"} at an installed driver's ICD file` +
      " (lavapipe's: /usr/share/vulkan/icd.d/lvp_icd.json or lvp_icd.x86_64.json).",
  );
  return lines.join("\n");
}
