// Host process of the embedded Chroma server (plain ESM so it starts without tsx).
// Usage: node chroma-host.mjs CHROMA_CLI_PATH run --path DIR --host H --port N
//
// It runs the `chroma` CLI that the chromadb package ships, unchanged, in a worker thread,
// and keeps the main thread free as a watchdog. The CLI's native server blocks the thread
// it runs on, so a plain `chroma run` child can react to nothing; here the main thread sees
// when Writ goes away, even by SIGKILL: the stdin pipe from Writ closes (EOF), or this
// process is re-parented. Then it ends itself, so no Chroma outlives Writ.
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const [cliPath, ...cliArgs] = process.argv.slice(2);
if (!cliPath) {
  process.stderr.write('chroma-host: missing the path of the chroma CLI\n');
  process.exit(64);
}

// The CLI reads its arguments from process.argv.slice(2); `argv` appends to the worker's argv.
const worker = new Worker(pathToFileURL(cliPath), { argv: cliArgs });
worker.on('error', (err) => {
  process.stderr.write(`chroma-host: the chroma CLI failed: ${err?.stack ?? err}\n`);
  process.exit(70);
});
// The CLI returns only when the server could not start (e.g. its port is taken).
worker.on('exit', (code) => process.exit(code));

let ending = false;
function end(why) {
  if (ending) return;
  ending = true;
  process.stderr.write(`chroma-host: ${why}: stopping chroma\n`);
  // process.exit() would wait for the worker, which never yields: end by signal instead.
  // SIGTERM's default action ends this process at once (neither Node nor the server
  // handles it); SIGKILL is the fallback.
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 2000).unref();
  process.kill(process.pid, 'SIGTERM');
}

// Ctrl-C in a terminal reaches the whole process group; Writ decides when Chroma stops
// (after its own writes), and if Writ dies instead, the watchdog below ends this process.
process.on('SIGINT', () => {});

process.stdin.on('end', () => end('writ closed the pipe'));
process.stdin.on('error', () => end('the pipe from writ failed'));
process.stdin.resume();

const parentAtStart = process.ppid;
setInterval(() => {
  if (process.ppid !== parentAtStart) end('writ is gone');
}, 1000).unref();
