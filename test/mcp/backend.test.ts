// The in-process MCP backend acts as its key's principal as it is now, not as it was when
// the MCP server started: a withdrawn group or a disabled principal takes effect at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type WritApp } from '../../src/app.js';
import { isWritError, loadConfig } from '../../src/core/index.js';
import { createLocalBackend } from '../../src/mcp/index.js';

describe('MCP local backend', () => {
  let home: string;
  let app: WritApp;
  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'writ-mcp-'));
    app = await createApp({ config: loadConfig({ env: { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' } }) });
  });
  after(async () => {
    await app?.close();
    rmSync(home, { recursive: true, force: true });
  });

  test("proposal_status shows an agent its own proposals, and another principal's as missing", async () => {
    const key = app.firstStartKeys.find((k) => k.principalId === 'desk-agent')?.key;
    assert.ok(key);
    const backend = createLocalBackend(app, key);
    const own = await backend.propose({ action: 'refund.request', targetId: 'rf-mcp-own', params: { amountCents: 500, orderId: 'ord-1001', recipientAccount: 'DE89370400440532014471' } });
    const ownId = (own.proposal as { id: string }).id;
    assert.equal(((await backend.proposalStatus({ proposalId: ownId })).proposal as { id: string }).id, ownId);
    const sams = app.broker.propose(app.broker.getPrincipal('sam')!, { action: 'refund.request', targetId: 'rf-mcp-sam', params: { amountCents: 500, orderId: 'ord-1001', recipientAccount: 'DE89370400440532014471' } });
    await assert.rejects(backend.proposalStatus({ proposalId: sams.id }), (err: unknown) => isWritError(err, 'BROKER_PROPOSAL_NOT_FOUND'));
  });

  test("reads the key's principal for every call: a withdrawn group and a disabled principal apply at once", async () => {
    const key = app.firstStartKeys.find((k) => k.principalId === 'desk-agent')?.key;
    assert.ok(key);
    const backend = createLocalBackend(app, key);
    const ask = async () => (await backend.retrieve({ query: 'refund policy', k: 3 })).results.length;
    // The sample's refund policy is readable by group:support, which desk-agent is in.
    assert.ok((await ask()) > 0, 'desk-agent reads the refund policy through group support');
    const agent = app.broker.getPrincipal('desk-agent')!;
    app.broker.upsertPrincipal({ ...agent, groups: [] });
    assert.equal(await ask(), 0, 'without the group, nothing it could read only through the group');
    app.broker.upsertPrincipal({ ...agent, groups: [] }, { disabled: true });
    await assert.rejects(ask(), (err: unknown) => isWritError(err, 'AUTH_INVALID_KEY'));
    await assert.rejects(backend.proposalStatus({ proposalId: 'prp_01M8BHAHM019T8QE5VRSZN10JP' }), (err: unknown) => isWritError(err, 'AUTH_INVALID_KEY'));
  });
});
