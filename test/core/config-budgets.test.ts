// Session budget maxima below the default budgets: left-out defaults are lowered to the
// maxima; defaults set explicitly above them are CONFIG_INVALID naming both settings.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerConfigSchema } from '../../src/broker/index.js';
import { isWritError, loadConfig } from '../../src/core/index.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runCli } from '../cli/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-config-budgets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, broker: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ broker }));
  return path;
}

test("the default budgets without any setting are the broker's own", () => {
  const broker = BrokerConfigSchema.parse({});
  assert.deepEqual(loadConfig({ env: {} }).broker.defaultBudgets, broker.defaultBudgets);
});

test('a maximum below a built-in default budget lowers that default to the maximum', () => {
  const low = loadConfig({ env: { WRIT_SESSION_MAX_RETRIEVALS: '50', WRIT_SESSION_MAX_PROPOSALS: '5', WRIT_SESSION_MAX_CONTEXT_CHARS: '1000' } });
  assert.deepEqual(low.broker.defaultBudgets, { retrievals: 50, proposals: 5, contextChars: 1000 });
  const one = loadConfig({ env: { WRIT_SESSION_MAX_PROPOSALS: '0' } });
  assert.deepEqual(one.broker.defaultBudgets, { retrievals: 100, proposals: 0, contextChars: 200_000 });
  // What the broker is given is accepted by it.
  assert.equal(BrokerConfigSchema.safeParse({ defaultBudgets: low.broker.defaultBudgets, maxBudgets: low.broker.maxBudgets }).success, true);
});

test('explicit default budgets above a maximum from the environment are CONFIG_INVALID naming the variable', () => {
  const file = configFile('explicit.json', { defaultBudgets: { retrievals: 80, proposals: 20, contextChars: 1000 } });
  assert.throws(
    () => loadConfig({ env: { WRIT_CONFIG: file, WRIT_SESSION_MAX_RETRIEVALS: '50' } }),
    (e: unknown) => {
      assert.ok(isWritError(e, 'CONFIG_INVALID'));
      assert.deepEqual(e.details.issues, [
        {
          path: 'broker.defaultBudgets.retrievals',
          code: 'too_big',
          message: '80 is above `broker.maxBudgets.retrievals` (50, set by `WRIT_SESSION_MAX_RETRIEVALS`): lower the default or raise the maximum',
          env: 'WRIT_SESSION_MAX_RETRIEVALS',
        },
      ]);
      return true;
    },
  );
});

test('explicit default and maximum budgets that contradict each other in the config file are CONFIG_INVALID, every one listed', () => {
  const file = configFile('both.json', { defaultBudgets: { retrievals: 80, proposals: 30, contextChars: 1000 }, maxBudgets: { retrievals: 50, proposals: 10 } });
  assert.throws(
    () => loadConfig({ env: { WRIT_CONFIG: file } }),
    (e: unknown) => isWritError(e, 'CONFIG_INVALID') && JSON.stringify((e.details.issues as Array<{ path: string }>).map((i) => i.path)) === '["broker.defaultBudgets.retrievals","broker.defaultBudgets.proposals"]',
  );
  const fine = configFile('fine.json', { defaultBudgets: { retrievals: 40, proposals: 10, contextChars: 1000 }, maxBudgets: { retrievals: 50, proposals: 10 } });
  assert.deepEqual(loadConfig({ env: { WRIT_CONFIG: fine } }).broker.defaultBudgets, { retrievals: 40, proposals: 10, contextChars: 1000 });
});

test('commands work with WRIT_SESSION_MAX_RETRIEVALS below the default, and a new session gets the lowered budget', async () => {
  const env = { WRIT_HOME: join(dir, 'home'), WRIT_LOG_LEVEL: 'silent', WRIT_SESSION_MAX_RETRIEVALS: '50' };
  const created = await runCli(['session', 'create', '--as', 'desk-agent', '--json'], env);
  assert.equal(created.code, EXIT.OK, created.stdout + created.stderr);
  assert.equal(created.json<{ budgets: { retrievals: number } }>().budgets.retrievals, 50);
});
