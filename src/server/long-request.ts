// A request whose work may take minutes keeps its connection while the work is done.
import type { FastifyRequest } from 'fastify';

/**
 * The connection of a request whose work may take minutes (the dry run or the replay of a long error queue) is
 * not closed as idle while it is done: CDSR_HTTP_REQUEST_TIMEOUT_S bounds the time a request takes
 * to arrive, and the same idle timeout of the socket would otherwise cut the answer (at 30 s by
 * default; a dry run or a replay of 100,000 messages on a busy machine takes longer). Node sets the
 * keep-alive timeout on the connection again once the answer is sent.
 */
export function workTakesLong(req: FastifyRequest): void {
  // a request injected in-process (the tests' app.inject) has no real socket
  const socket = req.raw.socket as Partial<Pick<typeof req.raw.socket, 'setTimeout'>> | undefined;
  if (typeof socket?.setTimeout === 'function') socket.setTimeout(0);
}
