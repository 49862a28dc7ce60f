// Versioned schema migrations. Plain SQL that SQLite and PostgreSQL both read (TEXT, INTEGER,
// no JSON operators): JSON is stored as text and read in code.
import type { Dialect } from './sql.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

/** A statement for a dialect: the one difference is the auto-numbered key (`id` or `seq`). */
export function forDialect(statement: string, dialect: Dialect): string {
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
];
