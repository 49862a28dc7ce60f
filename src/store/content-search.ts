// A search of the inbound log by a field's value (`PID-3.1=MRN123`), on SQLite and PostgreSQL
// alike: SQL narrows to the messages whose text contains the value (a message whose field holds
// it contains it), then the path is evaluated on each candidate's parsed text. The SQL test is a
// scan of the text newest (or oldest) first, bounded by the page: it stops once enough candidates
// are read; the other filters (status, sender, a time range) use their indexes.
import { parseHl7 } from '../hl7v2/parse.js';
import { evaluateHl7Path, type Hl7Path } from '../mapping/hl7-path.js';
import type { InboundLog, MessageFilter, MessageRow } from './store.js';

/** Candidates read per round (the SQL prefilter's page). */
export const PATH_SEARCH_BATCH = 200;

/** The HL7 v2 messages of `filter` where `path` selects `value` (any repetition or segment), in the filter's order, at most `filter.limit`. */
export async function messagesWithValue(log: Pick<InboundLog, 'messages' | 'messageDetails'>, filter: MessageFilter, path: Hl7Path, value: string, batchSize = PATH_SEARCH_BATCH): Promise<MessageRow[]> {
  const want = filter.limit ?? 100;
  const out: MessageRow[] = [];
  let cursor: MessageFilter = { ...filter, channel: 'hl7v2', contains: value, limit: Math.max(want, batchSize) };
  for (;;) {
    const batch = await log.messages(cursor);
    const texts = new Map((await log.messageDetails(batch.map((m) => m.id))).map((d) => [d.id, d.raw]));
    for (const m of batch) {
      const parsed = parseHl7(texts.get(m.id) ?? '');
      if (parsed.ok && evaluateHl7Path(parsed.message, path).includes(value)) out.push(m);
      if (out.length >= want) return out;
    }
    const last = batch[batch.length - 1];
    if (last === undefined || batch.length < (cursor.limit ?? 0)) return out;
    cursor = filter.newestFirst === true ? { ...cursor, beforeId: last.id } : { ...cursor, afterId: last.id };
  }
}
