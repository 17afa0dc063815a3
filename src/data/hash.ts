// Small pure hashes of strings, the same under every runtime.

/** 32-bit FNV-1a of a string's UTF-16 code units: a stable, dependency-free name hash. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
