// Unauthenticated, cacheable public keys: the warrant-signing keys as a JWKS, so an
// external executor can verify warrants offline (`verifyWarrantOffline(token, jwks)`).
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { WritApp } from '../../app.js';
import { render } from '../schemas.js';

const JwkSchema = z.looseObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().describe('base64url public key'),
  kid: z.string().describe('the key id a warrant names'),
  use: z.literal('sig'),
  alg: z.literal('EdDSA'),
  status: z.enum(['active', 'retired']).describe('retired keys still verify warrants issued before a rotation'),
});

export const JwksSchema = z.looseObject({ keys: z.array(JwkSchema) }).meta({ id: 'Jwks' });

/** How long clients may cache the JWKS (seconds). Rotation keeps retired keys published, so a stale copy still verifies. */
const JWKS_MAX_AGE_S = 300;

export const wellKnownRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  typed.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['system'],
        summary: 'Warrant-signing public keys (JWKS), for offline verification',
        response: { 200: JwksSchema },
      },
    },
    async (_request, reply) => {
      void reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_S}`);
      return render(app.broker.publicJwks());
    },
  );
};
