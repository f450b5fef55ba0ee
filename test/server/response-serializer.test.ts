// The response serializer: bodies are checked against their zod schema and written as
// JSON; schemas that read the same in both directions are checked with `parse` (zod's
// compiled fast path), the others with `encode`, and both give the same JSON.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { $ZodError, safeEncode } from 'zod/v4/core';
import { isResponseSerializationError } from 'fastify-type-provider-zod';
import { isDirectionNeutral, responseSerializerCompiler } from '../../src/server/response-serializer.js';
import { RetrievalResultSchema } from '../../src/server/routes/retrieve.js';

const compile = (schema: unknown) => responseSerializerCompiler({ schema, method: 'GET', url: '/test' });

const retrieval = {
  bundleId: 'bnd_01JABCDEFGHJKMNPQRSTVWXYZ0',
  seal: `sha256:${'a'.repeat(64)}`,
  truncated: false,
  bounds: { k: 5, maxChars: 8000, timeoutMs: 2000 },
  denseStrategy: 'exact' as const,
  tookMs: 1.5,
  results: [1, 2].map((rank) => ({
    rank,
    chunkId: `chk_${rank}`,
    documentId: 'refund-policy',
    documentVersion: 1,
    sourceUri: 'file://refund-policy.md',
    title: 'Refund policy',
    heading: 'Damaged items',
    text: 'Refunds for "damaged" items\nare issued in five days.',
    contentHash: `sha256:${'b'.repeat(64)}`,
    charStart: 0,
    charEnd: 52,
    scores: { dense: 0.5, lexical: null, denseRank: 1, lexicalRank: null, fused: 0.03 },
  })),
};

describe('response serializer', () => {
  test('schemas without transforms, pipes, defaults or catches are direction-neutral, at any depth', () => {
    assert.equal(isDirectionNeutral(RetrievalResultSchema), true);
    const node: z.ZodType = z.lazy(() => z.object({ name: z.string(), children: z.array(node) }));
    assert.equal(isDirectionNeutral(node), true, 'a recursive schema terminates');
    assert.equal(isDirectionNeutral(z.union([z.string(), z.record(z.string(), z.tuple([z.number()], z.boolean()))])), true);

    const isoDate = z.codec(z.iso.datetime(), z.date(), { decode: (s) => new Date(s), encode: (d) => d.toISOString() });
    const changing: Array<[string, z.ZodType]> = [
      ['codec', isoDate],
      ['transform', z.string().transform((s) => s.length)],
      ['pipe', z.string().pipe(z.string())],
      ['default', z.string().default('x')],
      ['catch', z.number().catch(0)],
      ['nested in an object', z.object({ a: z.object({ b: z.string().default('x') }) })],
      ['nested in an array', z.array(z.string().transform((s) => s.trim()))],
      ['in a union option', z.union([z.number(), isoDate])],
      ['behind optional and nullable', z.object({ at: isoDate.optional().nullable() })],
      ['in a catchall', z.object({}).catchall(z.string().default(''))],
      ['behind a lazy', z.lazy(() => z.object({ n: z.number().catch(0) }))],
    ];
    for (const [name, schema] of changing) assert.equal(isDirectionNeutral(schema), false, name);
  });

  test('a neutral schema serializes exactly as encode + JSON.stringify would, unknown keys handled the same', () => {
    const looseOut = compile(RetrievalResultSchema)({ ...retrieval, extra: 'kept by a loose object' });
    assert.equal(looseOut, JSON.stringify(safeEncode(RetrievalResultSchema, { ...retrieval, extra: 'kept by a loose object' }).data));
    assert.equal(JSON.parse(looseOut).extra, 'kept by a loose object');

    const strict = z.object({ id: z.string(), n: z.number().int() });
    const withSecret: unknown = { id: 'x', n: 3, secret: 'dropped' };
    const out = compile(strict)(withSecret);
    assert.equal(out, '{"id":"x","n":3}');
    assert.equal(out, JSON.stringify(safeEncode(strict, withSecret as z.input<typeof strict>).data));
  });

  test('a schema with a codec is encoded (the output side of the codec), not parsed', () => {
    const schema = z.object({ at: z.codec(z.iso.datetime(), z.date(), { decode: (s) => new Date(s), encode: (d) => d.toISOString() }) });
    assert.equal(compile(schema)({ at: new Date('2026-11-26T10:00:00.000Z') }), '{"at":"2026-11-26T10:00:00.000Z"}');
  });

  test('a body that does not match its schema is a response serialization error, on both paths', () => {
    const neutral = compile(z.object({ n: z.number().int() }));
    const encoded = compile(z.object({ n: z.number().int(), tag: z.string().default('t') }));
    for (const serialize of [neutral, encoded]) {
      assert.throws(
        () => serialize({ n: 1.5 }),
        (err: unknown) => isResponseSerializationError(err) && (err as Error & { cause?: unknown }).cause instanceof $ZodError,
      );
    }
    assert.throws(() => compile({ type: 'object' }), /not a zod schema/);
  });
});
