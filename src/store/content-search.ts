// A search of the inbound log by a field's value (`PID-3.1=MRN123`), on SQLite and PostgreSQL
// alike: SQL narrows to the messages whose text contains the value (a message whose field holds
// it contains it), then the path is evaluated on each candidate's parsed text. The SQL test is a
// scan of the text newest (or oldest) first, bounded by the page: it stops once enough candidates
// are read; the other filters (status, sender, a time range) use their indexes.
import type { Hl7Message } from '../hl7v2/message.js';
import { parseHl7, stripFraming } from '../hl7v2/parse.js';
import { evaluateHl7Path, type Hl7Path } from '../mapping/hl7-path.js';
import type { InboundLog, MessageFilter, MessageRow } from './store.js';

/** Candidates read per round (the SQL prefilter's page). */
export const PATH_SEARCH_BATCH = 200;

/** The parsed text; for one refused for a broken line (a value with a line break), its lines that are segments, so it is found by its fields too. */
function searchable(raw: string): Hl7Message | undefined {
  const parsed = parseHl7(raw);
  if (parsed.ok) return parsed.message;
  const text = stripFraming(raw);
  const sep = text[3];
  const segments = text.split(/\r\n?|\n/).filter((l) => /^[A-Z][A-Z0-9]{2}$/.test(l.slice(0, 3)) && l[3] === sep);
  const again = parseHl7(segments.join('\r'));
  return again.ok ? again.message : undefined;
}

/** The HL7 v2 messages of `filter` where `path` selects `value` (any repetition or segment), in the filter's order, at most `filter.limit`. */
export async function messagesWithValue(
  log: Pick<InboundLog, 'messages' | 'messageDetails'>,
  filter: MessageFilter,
  path: Hl7Path,
  value: string,
  batchSize = PATH_SEARCH_BATCH,
): Promise<MessageRow[]> {
  const want = filter.limit ?? 100;
  const out: MessageRow[] = [];
  // the text holds a delimiter of the value escaped (& as \T\): the SQL test looks for its longest run without one
  const needle = value.split(/[|^~\\&]/).reduce((a, b) => (b.length > a.length ? b : a), '');
  let cursor: MessageFilter = { ...filter, channel: 'hl7v2', ...(needle !== '' ? { contains: needle } : {}), limit: Math.max(want, batchSize) };
  for (;;) {
    const batch = await log.messages(cursor);
    const texts = new Map((await log.messageDetails(batch.map((m) => m.id))).map((d) => [d.id, d.raw]));
    for (const m of batch) {
      const message = searchable(texts.get(m.id) ?? '');
      if (message && evaluateHl7Path(message, path).includes(value)) out.push(m);
      if (out.length >= want) return out;
    }
    const last = batch[batch.length - 1];
    if (last === undefined || batch.length < (cursor.limit ?? 0)) return out;
    cursor = filter.newestFirst === true ? { ...cursor, beforeId: last.id } : { ...cursor, afterId: last.id };
  }
}
