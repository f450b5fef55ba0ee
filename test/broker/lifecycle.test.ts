// The proposal lifecycle table: every legal move and no other.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isWritError } from '../../src/core/index.js';
import { PROPOSAL_MOVES, ProposalStatusSchema, TERMINAL_STATUSES, assertMove, canMove } from '../../src/broker/index.js';

describe('proposal lifecycle', () => {
  test('allows exactly the moves of DESIGN.md plus the documented voided and re-decided deny', () => {
    const legal = new Set<string>();
    for (const [from, tos] of Object.entries(PROPOSAL_MOVES)) for (const to of tos) legal.add(`${from}>${to}`);
    const expected = [
      'proposed>denied', 'proposed>pending_approval', 'proposed>authorized', 'proposed>voided',
      'pending_approval>authorized', 'pending_approval>rejected', 'pending_approval>expired', 'pending_approval>denied', 'pending_approval>voided',
      'authorized>executed', 'authorized>expired', 'authorized>failed', 'authorized>voided',
    ];
    assert.deepEqual([...legal].sort(), expected.sort());
  });

  test('refuses every other move with a typed error, including staying put and leaving a terminal status', () => {
    for (const from of ProposalStatusSchema.options) {
      for (const to of ProposalStatusSchema.options) {
        if (canMove(from, to)) continue;
        assert.throws(() => assertMove(from, to, 'prp_x'), (err) => isWritError(err, 'BROKER_PROPOSAL_ILLEGAL_MOVE'));
      }
    }
    assert.deepEqual([...TERMINAL_STATUSES].sort(), ['denied', 'executed', 'expired', 'failed', 'rejected', 'voided']);
  });
});
