// Atomic file replacement: a reader (or a crash) sees either the old file or the new one, never a
// half-written mix. The classic recipe: write a temp file in the *same directory* (rename is only
// atomic within one filesystem), fsync it so its bytes are on disk before the name points at
// them, rename it over the target, then fsync the directory so the rename itself survives a
// power cut (ext4/xfs order data and metadata separately).
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Replace `path` with `bytes` atomically. On any failure the temp file is removed, `path` is
 * left as it was, and the error names the path. The new file gets the default mode (0o666 less
 * umask); an existing file's mode is not carried over.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  // Hidden, unique per process and call; "wx" below refuses to reuse a name that already exists.
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(tmp, "wx");
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (error) {
    await handle?.close().catch(() => {});
    await unlink(tmp).catch(() => {}); // may not exist (open failed): nothing to clean
    throw new Error(`writeFileAtomic(${path}): ${(error as Error).message}`, { cause: error });
  }
  await syncDirectory(dir);
}

/** fsync a directory so a rename in it is durable. Best effort: Windows cannot open directories. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch {
    // The file is already in place; only durability across a power cut is weakened.
  } finally {
    await handle?.close().catch(() => {});
  }
}
