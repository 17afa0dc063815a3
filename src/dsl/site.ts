// Finds the user's call site in a stack trace: the first frame outside octet's own DSL files, so an error
// can say "at train.ts:42" rather than pointing into the tracer. JavaScriptCore does proper tail calls, so
// `return x.add(y)` leaves no frame of its own: the site is then the nearest caller that has one.
const INTERNAL = /[\\/]src[\\/](dsl|codegen|runtime)[\\/]/;

export function callSite(stack = new Error().stack ?? ""): string {
  for (const line of stack.split("\n").slice(1)) {
    const m = line.match(/\(?((?:file:\/\/)?[^\s()]+:\d+:\d+)\)?\s*$/);
    // Skip octet's own frames, and frames of built-ins (Bun prints `at map (native:1:11)` for the callback
    // of an Array.prototype.map inside the DSL): a user's site is a file path.
    if (m && !INTERNAL.test(m[1]) && /[\\/]/.test(m[1])) return m[1].replace(/^file:\/\//, "");
  }
  return "<unknown>";
}
