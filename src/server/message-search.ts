// The search of the inbound log, as the API and the console take it: every parameter honoured or
// refused with 400 naming it (an unknown or misspelt one too), never silently ignored.
import { parseHl7Path, PathSyntaxError, type Hl7Path } from '../mapping/hl7-path.js';
import { messagesWithValue } from '../store/content-search.js';
import { CHANNELS, MESSAGE_STATUSES, type Channel, type InboundLog, type MessageFilter, type MessageRow, type MessageStatus } from '../store/store.js';
import { BadRequestError, instantParam, intParam, limitParam, oneOf, onlyParams } from './query.js';

export const MESSAGE_SEARCH_PARAMS = ['status', 'channel', 'controlId', 'sender', 'from', 'to', 'q', 'order', 'limit', 'after'] as const;

/** A search in the content: an HL7 path = value (`PID-3.1=MRN123`, the tables' path language), or a plain text. */
export type ContentQuery = { readonly kind: 'path'; readonly path: Hl7Path; readonly value: string } | { readonly kind: 'text'; readonly text: string };

// what reads as a path (a segment name, an optional [filter] which may hold `=` itself, `-`), then `=` and the value;
// the path language then accepts it or says why not (PID-3.x=1 is refused, not searched as a text)
const PATH_EQUALS = /^([A-Z][A-Z0-9]{2}(?:\[[^\]]*\])?(?:\(\d+\))?-[^=\s]+)\s*=\s*(.*)$/;

/** The content query of `q`: undefined when empty; a malformed path is refused naming it. */
export function contentQuery(q: string | undefined): ContentQuery | undefined {
  const text = (q ?? '').trim();
  if (text === '') return undefined;
  const m = PATH_EQUALS.exec(text);
  if (!m) return { kind: 'text', text };
  const value = m[2]!.trim();
  if (value === '') throw new BadRequestError(`q: ${m[1]!}= needs a value after =`, 'q');
  try {
    return { kind: 'path', path: parseHl7Path(m[1]!), value };
  } catch (e) {
    if (e instanceof PathSyntaxError) throw new BadRequestError(`q: ${e.message}`, 'q');
    throw e;
  }
}

/** The messages of a filter and content query, in the filter's order, at most `filter.limit`: a text by a substring test in SQL, a path = value by content-search.ts. */
export async function searchMessages(
  store: Pick<InboundLog, 'messages' | 'messageDetails'>,
  filter: MessageFilter,
  content: ContentQuery | undefined,
): Promise<MessageRow[]> {
  if (content === undefined) return store.messages(filter);
  if (content.kind === 'text') return store.messages({ ...filter, contains: content.text });
  if (filter.channel === 'fhir') throw new BadRequestError(`q: ${content.path.text} is an HL7 v2 path; channel=fhir has none`, 'q');
  return messagesWithValue(store, filter, content.path, content.value);
}

/** The store filter for a query (`limit + 1` rows, to know whether a next page exists). */
export function messageFilter(q: Readonly<Record<string, string | undefined>>, extra: readonly string[] = []): MessageFilter {
  onlyParams(q, [...MESSAGE_SEARCH_PARAMS, ...extra]);
  for (const [k, v] of Object.entries(q)) if (Array.isArray(v)) throw new BadRequestError(`${k} may be given once`, k);
  const status = oneOf<MessageStatus>(q.status || undefined, 'status', MESSAGE_STATUSES);
  const channel = oneOf<Channel>(q.channel || undefined, 'channel', CHANNELS);
  const order = oneOf(q.order || undefined, 'order', ['oldest', 'newest'] as const) ?? 'oldest';
  const from = instantParam(q.from, 'from');
  const to = instantParam(q.to, 'to');
  if (from !== undefined && to !== undefined && from >= to) throw new BadRequestError('from must be before to', 'from');
  if (q.q !== undefined && q.q.length > 200) throw new BadRequestError('q may be at most 200 characters', 'q');
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
