// `npm start` needs no network: inside a network namespace with only loopback, the server
// starts, loads the sample workspace and reports every part healthy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const canUnshare = spawnSync('unshare', ['-n', 'true']).status === 0;

test('npm start answers /health with every part ok inside a loopback-only network namespace', { skip: canUnshare ? false : 'needs `unshare -n` (root)' }, () => {
  const home = mkdtempSync(join(tmpdir(), 'writ-offline-'));
  try {
    // One shell inside the namespace: bring loopback up, start the server, poll its health,
    // print it, stop the server with Ctrl-C and report whether anything of it is left.
    const script = `
      ip link set lo up 2>/dev/null || true
      WRIT_HOME='${home}' WRIT_PORT=18787 WRIT_LOG_LEVEL=warn node bin/writ.mjs serve >/dev/null 2>&1 &
      P=$!
      for i in $(seq 1 90); do
        sleep 1
        H=$(node -e "fetch('http://127.0.0.1:18787/health').then(r=>r.text()).then(t=>{console.log(t)}).catch(()=>process.exit(1))") && break
      done
      echo "$H"
      kill -INT $P; wait $P; echo "exit=$?"
      sleep 1
      if pgrep -f '[c]hroma-host.mjs.*${home}' >/dev/null; then echo leftover=yes; else echo leftover=no; fi
    `;
    const result = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    const health = JSON.parse(lines.find((l) => l.startsWith('{')) ?? '{}') as { status?: string; parts?: Record<string, { status: string }> };
    assert.equal(health.status, 'ok', result.stdout);
    assert.deepEqual(Object.entries(health.parts ?? {}).map(([name, p]) => `${name}:${p.status}`), ['sqlite:ok', 'chroma:ok', 'model:ok', 'lexical:ok']);
    assert.ok(lines.includes('exit=0'), result.stdout);
    assert.ok(lines.includes('leftover=no'), result.stdout);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
