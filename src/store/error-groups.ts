// The error queue grouped by its problems text, in the database: the worklist reads one row per
// distinct text (how many messages carry it, their first and last ids and times, the few smallest
// ids), not one row per message. The messages of an error queue mostly carry the same text word
// for word (one unmapped value, thousands of messages), so a queue of 100,000 is a handful of rows.
//
// Migration 28 gives the grouping an index of the error queue alone (partial: WHERE status =
// 'error', so no other message is in it and ingest of a mapped message does not write it). SQLite:
// on the text itself, with the id and the time, so that the GROUP BY and each group's smallest ids
// are read from the index in its order, with no sort and no read of the table's rows (their raw
// texts); an error queue's index holds each message's problems text a second time. PostgreSQL: on
// md5 of the text (a b-tree entry has a size limit a long problems list could pass, and a refused
// entry would refuse the message), which each group's smallest ids are found by; its GROUP BY is
// the server's hash aggregate.
import type { Problem } from '../cdsr/problem.js';
import type { Statement } from './counters.js';
import { ProblemsSchema, row } from './rows.js';
import type { Dialect, Queryable } from './sql.js';

const INDEX = 'inbound_messages_error_queue';

/** Migration 28's statements. */
export const ERROR_GROUPS_MIGRATION: readonly Statement[] = [
  {
    sqlite: `CREATE INDEX ${INDEX} ON inbound_messages (problems, id, received_at) WHERE status = 'error'`,
    postgres: `CREATE INDEX ${INDEX} ON inbound_messages (md5(problems), id) WHERE status = 'error'`,
  },
];

/** Messages of the error queue that carry one problems text. */
export interface ErrorGroup {
  /** The text's problems: read once for the group. */
  readonly problems: readonly Problem[];
  readonly count: number;
  readonly firstId: number;
  readonly lastId: number;
  /** The earliest and latest received_at (ISO 8601 text, compared as text). */
  readonly firstSeen: string;
  readonly lastSeen: string;
  /** The smallest ids (at most `examples`), ascending. */
  readonly examples: number[];
}

/** The statement for a dialect: the groups in the order of their first message. */
function groupsSql(dialect: Dialect): string {
  // PostgreSQL compares text by the database's collation: the times are compared byte by byte there too
  const at = dialect === 'postgres' ? 'received_at COLLATE "C"' : 'received_at';
  const from = dialect === 'postgres' ? 'inbound_messages' : `inbound_messages INDEXED BY ${INDEX}`;
  const same = dialect === 'postgres' ? 'md5(e.problems) = md5(g.problems) AND e.problems = g.problems' : 'e.problems = g.problems';
  const examples =
    dialect === 'postgres'
      ? `array_to_string(ARRAY(SELECT e.id FROM inbound_messages e WHERE e.status = 'error' AND ${same} ORDER BY e.id LIMIT ?), ',')`
      : `(SELECT group_concat(x.id) FROM (SELECT e.id FROM ${from.replace('inbound_messages', 'inbound_messages e')} WHERE e.status = 'error' AND ${same} ORDER BY e.id LIMIT ?) x)`;
  return `SELECT g.problems, g.n, g.first_id, g.last_id, g.first_seen, g.last_seen, ${examples} AS examples
    FROM (SELECT problems, COUNT(*) AS n, MIN(id) AS first_id, MAX(id) AS last_id, MIN(${at}) AS first_seen, MAX(${at}) AS last_seen
          FROM ${from} WHERE status = 'error' GROUP BY problems) g
    ORDER BY g.first_id`;
}

/** The error queue by problems text, the group of the smallest id first. */
export async function errorGroups(q: Queryable, dialect: Dialect, examples: number): Promise<ErrorGroup[]> {
  const rows = await q.all(groupsSql(dialect), [examples]);
  return rows.map((r) => {
    const g = row('inbound_messages', r);
    const ids = g.optText('examples');
    return {
      problems: g.json('problems', ProblemsSchema, []),
      count: g.int('n'),
      firstId: g.int('first_id'),
      lastId: g.int('last_id'),
      firstSeen: g.text('first_seen'),
      lastSeen: g.text('last_seen'),
      // group_concat promises no order: the smallest ids, sorted here
      examples:
        ids === undefined
          ? []
          : ids
              .split(',')
              .map(Number)
              .sort((a, b) => a - b),
    };
  });
}
