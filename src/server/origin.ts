// The audit origin of an HTTP request: its content type and which inbound key it presented
// (by position in CDSR_INBOUND_API_KEYS, never the key itself).
import type { FastifyRequest } from 'fastify';
import type { Origin } from '../inbound/context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** key#N when a configured key was presented; open when keys are not configured. */
    authKey: string;
  }
}

export function originOf(req: FastifyRequest): Origin {
  return { contentType: String(req.headers['content-type'] ?? ''), auth: req.authKey || 'open' };
}
