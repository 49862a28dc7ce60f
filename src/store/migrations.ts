// Versioned schema migrations. Plain SQL that SQLite and PostgreSQL both read (TEXT, INTEGER,
// no JSON operators): JSON is stored as text and read in code.
// Triggers are the exception (migrations 26 and 27): each dialect writes its own, and those of 27
// read the JSON the code wrote.
import { COUNTERS_MIGRATION, statementFor, type Statement } from './counters.js';
import { ERROR_GROUPS_MIGRATION } from './error-groups.js';
import { GUESSES_MIGRATION } from './guesses.js';
import type { Dialect } from './sql.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly Statement[];
}

/**
 * A statement for a dialect (null: none in it): the one difference in a shared one is the
 * auto-numbered key (`id` or `seq`).
 */
export function forDialect(s: Statement, dialect: Dialect): string | null {
  const statement = statementFor(s, dialect);
  if (statement === null) return null;
  return dialect === 'postgres' ? statement.replace(/\b(id|seq) INTEGER PRIMARY KEY\b/g, '$1 BIGSERIAL PRIMARY KEY') : statement;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'inbound messages, merged records, order index, orphans, transactions',
    statements: [
      `CREATE TABLE inbound_messages (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        channel TEXT NOT NULL,
        sender TEXT NOT NULL,
        control_id TEXT NOT NULL,
        content_type TEXT NOT NULL,
        hash TEXT NOT NULL,
        status TEXT NOT NULL,
        problems TEXT NOT NULL,
        duplicate_of INTEGER,
        raw TEXT NOT NULL
      )`,
      'CREATE INDEX inbound_messages_status ON inbound_messages (status, id)',
      'CREATE INDEX inbound_messages_dedupe ON inbound_messages (channel, sender, control_id, hash)',
      `CREATE TABLE encounters (
        encounter_key TEXT PRIMARY KEY,
        facility_id TEXT NOT NULL,
        encounter_id TEXT NOT NULL,
        partner_id TEXT,
        fields TEXT NOT NULL,
        consultation_defaults TEXT NOT NULL,
        updated_seq INTEGER NOT NULL
      )`,
      `CREATE TABLE consultations (
        encounter_key TEXT NOT NULL,
        consultation_key TEXT NOT NULL,
        cdate TEXT NOT NULL,
        ctime TEXT NOT NULL,
        fields TEXT NOT NULL,
        cancelled TEXT,
        state TEXT NOT NULL,
        missing TEXT NOT NULL,
        problems TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        submitted_hash TEXT,
        transaction_id TEXT,
        updated_seq INTEGER NOT NULL,
        PRIMARY KEY (encounter_key, consultation_key)
      )`,
      'CREATE INDEX consultations_state ON consultations (state, encounter_key)',
      `CREATE TABLE order_index (
        order_key TEXT PRIMARY KEY,
        encounter_key TEXT NOT NULL,
        consultation_key TEXT NOT NULL
      )`,
      `CREATE TABLE orphans (
        id INTEGER PRIMARY KEY,
        order_key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        source_id TEXT NOT NULL,
        source_time TEXT NOT NULL,
        record TEXT NOT NULL
      )`,
      'CREATE INDEX orphans_order ON orphans (order_key)',
      `CREATE TABLE fhir_resources (
        resource_key TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        body TEXT NOT NULL,
        message_id INTEGER NOT NULL
      )`,
      `CREATE TABLE transactions (
        transaction_id TEXT PRIMARY KEY,
        facility_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        body TEXT NOT NULL,
        nrdr_status TEXT
      )`,
    ],
  },
  {
    version: 2,
    name: 'subscription event numbers (gap detection)',
    statements: [
      `CREATE TABLE subscription_events (
        subscription TEXT NOT NULL,
        event_number INTEGER NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (subscription, event_number)
      )`,
      `CREATE TABLE subscriptions (
        subscription TEXT PRIMARY KEY,
        reported_since INTEGER NOT NULL,
        last_seen_at TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 3,
    name: 'outbound: transaction records, attempts, NRDR results',
    statements: [
      `CREATE TABLE transaction_records (
        transaction_id TEXT NOT NULL,
        encounter_key TEXT NOT NULL,
        consultation_key TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        result TEXT,
        nrdr_problems TEXT,
        PRIMARY KEY (transaction_id, encounter_key, consultation_key)
      )`,
      'ALTER TABLE transactions ADD COLUMN partner_id TEXT',
      'ALTER TABLE transactions ADD COLUMN app_id TEXT',
      'ALTER TABLE transactions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0',
      'ALTER TABLE transactions ADD COLUMN last_error TEXT',
      'ALTER TABLE consultations ADD COLUMN nrdr_problems TEXT',
      'CREATE INDEX transactions_status ON transactions (status)',
    ],
  },
  {
    version: 4,
    name: 'audit: which credential or listener each message came through',
    statements: ["ALTER TABLE inbound_messages ADD COLUMN auth TEXT NOT NULL DEFAULT ''"],
  },
  {
    version: 5,
    name: 'transactions numbered in creation order (cursor paging on both databases)',
    statements: [
      `CREATE TABLE transactions_v5 (
        seq INTEGER PRIMARY KEY,
        transaction_id TEXT NOT NULL UNIQUE,
        facility_id TEXT NOT NULL,
        partner_id TEXT,
        app_id TEXT,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        body TEXT NOT NULL,
        nrdr_status TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
      )`,
      `INSERT INTO transactions_v5 (transaction_id, facility_id, partner_id, app_id, status, created_at, updated_at, body, nrdr_status, attempts, last_error)
       SELECT transaction_id, facility_id, partner_id, app_id, status, created_at, updated_at, body, nrdr_status, attempts, last_error
       FROM transactions ORDER BY created_at, transaction_id`,
      'DROP TABLE transactions',
      'ALTER TABLE transactions_v5 RENAME TO transactions',
      'CREATE INDEX transactions_status_seq ON transactions (status, seq)',
    ],
  },
  {
    version: 6,
    name: 'order ledger: every order seen, by any of its numbers, with the messages that touched it',
    statements: [
      `CREATE TABLE orders (
        id INTEGER PRIMARY KEY,
        facility_id TEXT NOT NULL,
        encounter_id TEXT NOT NULL,
        encounter_key TEXT NOT NULL,
        consultation_key TEXT,
        hold TEXT,
        detail TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        seen_day TEXT NOT NULL
      )`,
      'CREATE INDEX orders_seen ON orders (facility_id, seen_day)',
      'CREATE INDEX orders_consultation ON orders (encounter_key, consultation_key)',
      `CREATE TABLE order_numbers (
        facility_id TEXT NOT NULL,
        number TEXT NOT NULL,
        order_id INTEGER NOT NULL,
        PRIMARY KEY (facility_id, number)
      )`,
      'CREATE INDEX order_numbers_order ON order_numbers (order_id)',
      `CREATE TABLE order_messages (
        order_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        PRIMARY KEY (order_id, message_id)
      )`,
      'CREATE INDEX order_messages_message ON order_messages (message_id)',
      // what an earlier version stored: one order per consultation, its numbers from the order
      // index, first seen when the consultation was last written
      `INSERT INTO orders (facility_id, encounter_id, encounter_key, consultation_key, hold, detail, first_seen, last_seen, seen_day)
       SELECT e.facility_id, e.encounter_id, c.encounter_key, c.consultation_key, NULL, '[]',
         COALESCE((SELECT m.received_at FROM inbound_messages m WHERE m.id = c.updated_seq), ''),
         COALESCE((SELECT m.received_at FROM inbound_messages m WHERE m.id = c.updated_seq), ''),
         COALESCE((SELECT SUBSTR(m.received_at, 1, 10) FROM inbound_messages m WHERE m.id = c.updated_seq), '')
       FROM consultations c JOIN encounters e ON e.encounter_key = c.encounter_key
       ORDER BY c.updated_seq, c.encounter_key, c.consultation_key`,
      `INSERT INTO order_numbers (facility_id, number, order_id)
       SELECT o.facility_id, SUBSTR(i.order_key, LENGTH(o.facility_id) + 2), o.id
       FROM order_index i JOIN orders o ON o.encounter_key = i.encounter_key AND o.consultation_key = i.consultation_key`,
    ],
  },
  {
    version: 7,
    name: 'leases: one submitter across instances',
    statements: [
      `CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 8,
    name: 'access audit: every read of patient data, by which key',
    statements: [
      `CREATE TABLE access_audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        who TEXT NOT NULL,
        what TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 9,
    name: 'retention: when a raw message was purged',
    statements: ['ALTER TABLE inbound_messages ADD COLUMN raw_purged_at TEXT'],
  },
  {
    version: 10,
    name: 'credentials: the ACR Connect sign-in (sealed), its public state, and sign-ins under way',
    statements: [
      `CREATE TABLE credentials (
        name TEXT PRIMARY KEY,
        sealed TEXT NOT NULL,
        meta TEXT NOT NULL,
        version INTEGER NOT NULL,
        expires_at TEXT,
        updated_at TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 11,
    name: 'retractions: who acknowledged a cancellation after submission, and when',
    statements: [
      'ALTER TABLE consultations ADD COLUMN retraction_ack_at TEXT',
      'ALTER TABLE consultations ADD COLUMN retraction_ack_by TEXT',
      // a merge asks whether NRDR may hold a consultation: its transactions, by consultation
      'CREATE INDEX transaction_records_by_consultation ON transaction_records (encounter_key, consultation_key)',
    ],
  },
  {
    version: 12,
    name: 'message search: by control id and by sender, newest first',
    statements: [
      'CREATE INDEX inbound_messages_control_id ON inbound_messages (control_id, id)',
      'CREATE INDEX inbound_messages_sender ON inbound_messages (sender, id)',
    ],
  },
  {
    version: 13,
    name: 'exclusions: the rule and crosswalk row that keep an order out (not advanced imaging), apart from a cancel',
    statements: [
      'ALTER TABLE consultations ADD COLUMN exclusion TEXT',
      // before: an excluded order was marked only by its cancel flag, which then named a crosswalk row (a real cancel never does);
      // the flag is kept as the exclusion and read as one (see exclusionOf)
      `UPDATE consultations SET exclusion = cancelled WHERE cancelled LIKE '%"value":"cancelled"%' AND cancelled LIKE '%"crosswalk":%'`,
    ],
  },
  {
    version: 14,
    name: 'record history: state changes made by hand (resubmit), with who, when and why',
    statements: [
      `CREATE TABLE record_history (
        id INTEGER PRIMARY KEY,
        encounter_key TEXT NOT NULL,
        consultation_key TEXT NOT NULL,
        at TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        who TEXT NOT NULL,
        why TEXT NOT NULL,
        transaction_id TEXT,
        problems TEXT NOT NULL
      )`,
      'CREATE INDEX record_history_encounter ON record_history (encounter_key)',
    ],
  },
  {
    version: 15,
    name: 'NRDR status history: every status answer of a transaction that said something new, with when',
    statements: [
      `CREATE TABLE nrdr_status_history (
        id INTEGER PRIMARY KEY,
        transaction_id TEXT NOT NULL,
        at TEXT NOT NULL,
        status TEXT NOT NULL,
        error_msg TEXT,
        exam_errors INTEGER NOT NULL,
        summary TEXT NOT NULL
      )`,
      'CREATE INDEX nrdr_status_history_transaction ON nrdr_status_history (transaction_id, id)',
    ],
  },
  {
    version: 16,
    name: 'order index by encounter: the merge of every message reads the orders of its encounter (was a scan of all orders)',
    statements: ['CREATE INDEX order_index_encounter ON order_index (encounter_key)'],
  },
  {
    version: 17,
    name: 'records derived from their messages: which encounters each message touches, the outcome kept when its text is purged, retired keys, reprocessing runs and what they changed',
    statements: [
      // written by retention just before it purges a message's text: what stands for the text in a re-derivation
      'ALTER TABLE inbound_messages ADD COLUMN outcome TEXT',
      // a consultation whose key the merge no longer has, kept only for its retraction at NRDR: not merged into again
      'ALTER TABLE consultations ADD COLUMN retired INTEGER NOT NULL DEFAULT 0',
      `CREATE TABLE message_encounters (
        encounter_key TEXT NOT NULL,
        message_id INTEGER NOT NULL,
        PRIMARY KEY (encounter_key, message_id)
      )`,
      'CREATE INDEX message_encounters_message ON message_encounters (message_id)',
      // what an earlier version stored: the encounters of the orders each message touched, and the
      // last message merged into each encounter (a message purged before this has no outcome: a
      // re-derivation of its encounter is skipped, naming it)
      `INSERT INTO message_encounters (encounter_key, message_id)
       SELECT DISTINCT o.encounter_key, om.message_id FROM order_messages om JOIN orders o ON o.id = om.order_id WHERE o.encounter_key <> ''`,
      `INSERT INTO message_encounters (encounter_key, message_id)
       SELECT encounter_key, updated_seq FROM encounters WHERE encounter_key <> '' ON CONFLICT DO NOTHING`,
      `CREATE TABLE reprocess_runs (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        who TEXT NOT NULL,
        apply INTEGER NOT NULL,
        selection TEXT NOT NULL,
        status TEXT NOT NULL,
        total INTEGER NOT NULL,
        done INTEGER NOT NULL,
        cursor TEXT NOT NULL,
        summary TEXT NOT NULL,
        tables TEXT NOT NULL,
        error TEXT
      )`,
      `CREATE TABLE reprocess_changes (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL,
        encounter_key TEXT NOT NULL,
        consultation_key TEXT NOT NULL,
        change TEXT NOT NULL
      )`,
      'CREATE INDEX reprocess_changes_run ON reprocess_changes (run_id, id)',
    ],
  },
  {
    version: 18,
    name: "consultation key rank: which source of the key rules gave a consultation's date and time (0 = the CDS data); a better one re-keys it",
    // NULL for the rows before it: unknown, taken as the best, so they are never re-keyed
    statements: ['ALTER TABLE consultations ADD COLUMN key_rank INTEGER'],
  },
  {
    version: 19,
    name: 'leases that know their owner: an epoch that moves at every takeover (fencing), and the process that holds it',
    statements: [
      // epoch: every step that can reach NRDR checks it in the transaction that claims the work
      'ALTER TABLE leases ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0',
      // the process of the holder (an instance restarted under the same identity is another process)
      "ALTER TABLE leases ADD COLUMN token TEXT NOT NULL DEFAULT ''",
    ],
  },
  {
    version: 20,
    name: "outbound: a POST claimed before it goes out (sent, unanswered until NRDR's answer), under which lease epoch; polls on their own schedule",
    statements: [
      'ALTER TABLE transactions ADD COLUMN sent_at TEXT',
      'ALTER TABLE transactions ADD COLUMN sent_epoch INTEGER',
      'ALTER TABLE transactions ADD COLUMN next_poll_at TEXT',
      'ALTER TABLE transactions ADD COLUMN polls INTEGER NOT NULL DEFAULT 0',
      'CREATE INDEX transactions_polls ON transactions (status, next_poll_at)',
      // an earlier version's `created` may have been POSTed (it kept no mark before the POST): asked about first
      "UPDATE transactions SET status = 'sent', sent_at = updated_at WHERE status = 'created'",
    ],
  },
  {
    version: 21,
    name: 'edited copies: a message an operator edited and processed as a new one names the message it was edited from and who edited it',
    statements: [
      'ALTER TABLE inbound_messages ADD COLUMN edited_from INTEGER',
      'ALTER TABLE inbound_messages ADD COLUMN edited_by TEXT',
      // the original's page lists the copies made of it
      'CREATE INDEX inbound_messages_edited_from ON inbound_messages (edited_from)',
    ],
  },
  {
    version: 22,
    name: "the ledger searched: orders by encounter (the console's Records list reads each listed encounter's) and by any order number without the facility (the Orders page, /api/orders?order=)",
    statements: ['CREATE INDEX orders_encounter ON orders (facility_id, encounter_id)', 'CREATE INDEX order_numbers_number ON order_numbers (number)'],
  },
  {
    version: 23,
    name: "the answer a FHIR request got (the HTTP status, on each message it stored: the request's, not the message's own), and the Patient a FHIR message names (the search of orders by MRN)",
    statements: [
      'ALTER TABLE inbound_messages ADD COLUMN answer_status INTEGER',
      // `Patient/{id}` as resolved on arrival (a Bundle's urn:uuid reference is not in the text as that)
      'ALTER TABLE inbound_messages ADD COLUMN patient_key TEXT',
      'CREATE INDEX inbound_messages_patient ON inbound_messages (patient_key)',
    ],
  },
  {
    version: 24,
    name: 'when each FHIR resource kept for references was last received: retention forgets it with the messages of its days',
    statements: [
      'ALTER TABLE fhir_resources ADD COLUMN stored_at TEXT',
      // the ones kept before: from now, as if received today
      `UPDATE fhir_resources SET stored_at = '${new Date().toISOString()}'`,
      'CREATE INDEX fhir_resources_stored ON fhir_resources (stored_at)',
    ],
  },
  {
    version: 25,
    name: 'connection profiles: the profile each transaction was sent under (only that profile polls or sends it again), and the seal of a de-identified body (the test profile checks it before each POST)',
    statements: [
      // NULL: written before profiles; the service names them at start (legacyProfileName in src/profile.ts)
      'ALTER TABLE transactions ADD COLUMN profile TEXT',
      'ALTER TABLE transactions ADD COLUMN deid_seal TEXT',
      'CREATE INDEX transactions_profile ON transactions (profile, status, next_poll_at)',
    ],
  },
  {
    version: 26,
    name: "counters kept, not counted: messages, records, transactions and orders by state, and retractions not acknowledged, kept by triggers (/metrics reads them whatever the rows); each order's state kept on its row for the oldest-order gauges (src/store/counters.ts)",
    statements: COUNTERS_MIGRATION,
  },
  {
    version: 27,
    name: "the values the tables guessed, kept as rows by triggers on the records (the worklist's guesses: a GROUP BY, not a read of every record; src/store/guesses.ts)",
    statements: GUESSES_MIGRATION,
  },
  {
    version: 28,
    name: "an index of the error queue alone by problems text (the worklist's GROUP BY reads it, not every message's row; src/store/error-groups.ts)",
    statements: ERROR_GROUPS_MIGRATION,
  },
  {
    version: 29,
    name: 'the messages stored and answered whose derived rows (records, order index, ledger, message index) are not written yet, with the outcome they are written from (SQLite writes them after the answer; the queue is emptied in the same transaction as those rows: src/store/sql-store.ts)',
    // SQLite's INTEGER PRIMARY KEY is the row's own key (no index beside it); PostgreSQL's ids are BIGINT
    statements: [
      {
        sqlite: 'CREATE TABLE derive_queue (message_id INTEGER PRIMARY KEY, outcome TEXT NOT NULL)',
        postgres: 'CREATE TABLE derive_queue (message_id BIGINT PRIMARY KEY, outcome TEXT NOT NULL)',
      },
    ],
  },
];
