// A COMMIT that fails, made by the database itself: a check deferred to the end of the
// transaction, so every statement of the store's transaction succeeds and only the COMMIT fails
// (the last step, after which a message would be claimed stored). No seam in the product code.
//   SQLite: a row written with each inbound message references a table that stays empty, through a
//   foreign key DEFERRABLE INITIALLY DEFERRED (checked at COMMIT).
//   PostgreSQL: a constraint trigger DEFERRABLE INITIALLY DEFERRED that raises at COMMIT with the
//   SQLSTATE given (40001: a serialization failure; 23514: a deferred check violation).
import Database from 'better-sqlite3';
import pg from 'pg';

export interface CommitFault {
  /** The database as it was: commits succeed again. */
  clear(): Promise<void>;
}

export type FaultTarget = { readonly kind: 'sqlite'; readonly file: string } | { readonly kind: 'postgres'; readonly url: string };

/** Every transaction that writes an inbound message (of any channel) fails at its COMMIT until cleared. */
export async function failCommitsOfInboundMessages(target: FaultTarget, sqlstate = '40001'): Promise<CommitFault> {
  if (target.kind === 'sqlite') {
    const db = new Database(target.file);
    try {
      db.exec(`CREATE TABLE commit_fault_parent (id INTEGER PRIMARY KEY);
        CREATE TABLE commit_fault (parent INTEGER NOT NULL REFERENCES commit_fault_parent (id) DEFERRABLE INITIALLY DEFERRED);
        CREATE TRIGGER commit_fault AFTER INSERT ON inbound_messages BEGIN INSERT INTO commit_fault (parent) VALUES (1); END;`);
    } finally {
      db.close();
    }
    return {
      clear: () => {
        const again = new Database(target.file);
        try {
          again.exec('DROP TRIGGER commit_fault; DROP TABLE commit_fault; DROP TABLE commit_fault_parent;');
        } finally {
          again.close();
        }
        return Promise.resolve();
      },
    };
  }
  if (!/^[0-9A-Z]{5}$/.test(sqlstate)) throw new Error(`not a SQLSTATE: ${sqlstate}`);
  const c = new pg.Client({ connectionString: target.url });
  await c.connect();
  try {
    await c.query(`CREATE FUNCTION commit_fault() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected failure at COMMIT' USING ERRCODE = '${sqlstate}'; END $$`);
    await c.query(`CREATE CONSTRAINT TRIGGER commit_fault AFTER INSERT ON inbound_messages DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION commit_fault()`);
  } finally {
    await c.end();
  }
  return {
    clear: async () => {
      const again = new pg.Client({ connectionString: target.url });
      await again.connect();
      try {
        await again.query('DROP TRIGGER commit_fault ON inbound_messages');
        await again.query('DROP FUNCTION commit_fault()');
      } finally {
        await again.end();
      }
    },
  };
}
