// Node 20's V8 (11.3) aborts the whole process now and then — "Fatal error … unreachable
// code" in `Deoptimizer::DoComputeBuiltinContinuation` — when TurboFan code that inlined a
// JS→Wasm call into cedar-wasm is deoptimized lazily (a dependency of it changed while it
// was on the stack). Counted on 2026-11-27 with the policy benchmark (several engines in one
// process, ~15 s a run): 13 of 37 runs aborted with V8's defaults; none of 30 with the
// inlining off (11 with `--no-turbo-inline-js-wasm-calls` on the command line, 19 with this
// module). Turning an array builtin's inlining off instead did not help (BENCHMARKS.md).
// It costs nothing measurable: alternated, a decision asking Cedar twice took p50 478 µs
// without this and 479 µs with it. It is turned off on import of the policy modules, before
// any code that calls Cedar is optimized, so every process that decides (server, CLI, MCP,
// library users) is covered. (Node documents flags set after start as unsupported; this one
// is read only when TurboFan compiles, and the counts above are with it set this way.)
import { setFlagsFromString } from 'node:v8';

const v8Major = Number(process.versions.v8.split('.')[0]);
// INVARIANT: only on the V8 line the abort was seen on; later lines keep their defaults.
if (v8Major === 11) setFlagsFromString('--no-turbo-inline-js-wasm-calls');
