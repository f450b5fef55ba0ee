// Rewrites one `## Heading` section of BENCHMARKS.md in place (or appends it), leaving the
// other sections — each owned by its own benchmark — untouched.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export function writeBenchmarkSection(heading: string, section: string, path = 'BENCHMARKS.md'): void {
  const current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const start = current.indexOf(heading);
  let next: string;
  if (start === -1) {
    next = `${current.trimEnd()}\n\n${section}`;
  } else {
    const after = current.indexOf('\n## ', start + 1);
    next = `${current.slice(0, start)}${section}${after === -1 ? '' : `\n${current.slice(after + 1)}`}`;
  }
  writeFileSync(path, next);
}
