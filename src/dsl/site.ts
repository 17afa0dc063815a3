// Finds the user's call site in a stack trace: the first frame outside octet's own DSL files, so an error
// can say "at train.ts:42" rather than pointing into the tracer.
const INTERNAL = /[\\/]src[\\/](dsl|codegen|runtime)[\\/]/;

export function callSite(stack = new Error().stack ?? ""): string {
  for (const line of stack.split("\n").slice(1)) {
    const m = line.match(/\(?((?:file:\/\/)?[^\s()]+:\d+:\d+)\)?\s*$/);
    if (m && !INTERNAL.test(m[1])) return m[1].replace(/^file:\/\//, "");
  }
  return "<unknown>";
}
