// The search of the inbound log, as the API and the console take it: every parameter honoured or
// refused with 400 naming it (an unknown or misspelt one too), never silently ignored.
import { CHANNELS, MESSAGE_STATUSES, type Channel, type MessageFilter, type MessageStatus } from '../store/store.js';
import { BadRequestError, instantParam, intParam, limitParam, oneOf, onlyParams } from './query.js';

export const MESSAGE_SEARCH_PARAMS = ['status', 'channel', 'controlId', 'sender', 'from', 'to', 'order', 'limit', 'after'] as const;

/** The store filter for a query (`limit + 1` rows, to know whether a next page exists). */
export function messageFilter(q: Readonly<Record<string, string | undefined>>, extra: readonly string[] = []): MessageFilter {
  onlyParams(q, [...MESSAGE_SEARCH_PARAMS, ...extra]);
  for (const [k, v] of Object.entries(q)) if (Array.isArray(v)) throw new BadRequestError(`${k} may be given once`);
  const status = oneOf<MessageStatus>(q.status || undefined, 'status', MESSAGE_STATUSES);
  const channel = oneOf<Channel>(q.channel || undefined, 'channel', CHANNELS);
  const order = oneOf(q.order || undefined, 'order', ['oldest', 'newest'] as const) ?? 'oldest';
  const from = instantParam(q.from, 'from');
  const to = instantParam(q.to, 'to');
  if (from !== undefined && to !== undefined && from >= to) throw new BadRequestError('from must be before to');
  const after = intParam(q.after, 'after', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 });
  return {
    ...(status ? { status } : {}),
    ...(channel ? { channel } : {}),
    ...(q.controlId ? { controlId: q.controlId } : {}),
    ...(q.sender ? { sender: q.sender } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    limit: limitParam(q.limit) + 1,
    ...(order === 'newest' ? { newestFirst: true, ...(after > 0 ? { beforeId: after } : {}) } : { afterId: after }),
  };
}
