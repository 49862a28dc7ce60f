// Console fixtures shared by the route tests and the browser test: a retraction waiting at NRDR
// (an order NRDR accepted, then cancelled) and a message broken by a line break inside a field.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, transactionFor } from './helpers.js';
import { postHl7, SERVER_NOW, type TestServer } from './server.js';

const hl7 = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
export const ORM = hl7('01-orm-new.hl7');
// the sample cancel, aimed at the order of 01-orm-new, without the CDS data
const CANCEL = hl7('03-orm-cancel.hl7')
  .split('\r')
  .filter((l) => !l.startsWith('OBX|'))
  .join('\r')
  .replaceAll('ORD1002', 'ORD1001')
  .replaceAll('ACC2002', 'ACC2001');

/** What the ledger and the API say the site does at NRDR for the retraction `acceptedThenCancelled` leaves. */
export const INSTRUCTION =
  "cancelled after it was sent to NRDR (Transaction_ID T-ACCEPTED), and NRDR's API cannot delete a record: ask the NRDR Help Desk to remove consultation " +
  '11/02/2026 09:30:15 of encounter V0001 at facility 100000 from the CDSR registry, then acknowledge it here (POST /api/orders/{order id}/acknowledge)';

/** 01-orm-new sent in T-ACCEPTED, which NRDR accepted, then cancelled: a retraction waiting at NRDR (messages 1 and 2). */
export async function acceptedThenCancelled(s: Pick<TestServer, 'fetch' | 'store'>, headers: Record<string, string>): Promise<void> {
  assert.match((await postHl7(s, ORM, headers)).text, /MSA\|AA/);
  const ready = await s.store.wireEncounters('ready', 10);
  assert.equal(ready.length, 1);
  const body = transactionFor(
    'T-ACCEPTED',
    ready.map((r) => r.wire),
    '11/23/2026 01:00:00',
  );
  assert.equal((await s.store.createTransaction(body, ready, SERVER_NOW)).created, true);
  await s.store.recordResults(
    'T-ACCEPTED',
    ready.map((r) => ({ ...r, result: 'accepted' as const, problems: [] })),
    SERVER_NOW,
  );
  assert.match((await postHl7(s, CANCEL, headers)).text, /MSA\|AA/);
}

/** The break `broken` puts into DG1-3's text: "RENAL note…" becomes a line of its own, which the parser refuses. */
export const BREAK = ['not elsewhere classified^I10', 'not elsewhere classified; see\nRENAL note^I10'] as const;

/** An ER7 message (01-orm-new by default) with the line break of BREAK. */
export const broken = (raw: string = ORM): string => raw.replace(BREAK[0], BREAK[1]);
