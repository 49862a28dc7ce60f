// A ceiling for the product bench, run as its own process like `serve`: a bare fastify POST route
// (`bare`), or the same route storing each body durably before it answers: SQLite in WAL with
// synchronous=FULL, one commit per body (`sqlite-commit`), or one INSERT per body on PostgreSQL
// (`pg-commit URL`). Prints `LISTENING <url>` once it listens; stops on SIGTERM.
import { join } from 'node:path';
import Fastify from 'fastify';
import Database from 'better-sqlite3';
import pg from 'pg';

const [mode = 'bare', arg = ''] = process.argv.slice(2);

type Sink = { put(body: string): Promise<void> | void; close(): Promise<void> | void };

function sink(): Sink {
  if (mode === 'sqlite-commit') {
    const db = new Database(join(arg, 'ceiling.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const ins = db.prepare('INSERT INTO m (body) VALUES (?)');
    return {
      put: (b) => void ins.run(b),
      close: () => void db.close(),
    };
  }
  if (mode === 'pg-commit') {
    const pool = new pg.Pool({ connectionString: arg, max: 10 });
    pool.on('error', () => undefined);
    let ready: Promise<unknown> | undefined;
    return {
      put: async (b) => {
        ready ??= pool.query('CREATE TABLE IF NOT EXISTS m (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)');
        await ready;
        await pool.query('INSERT INTO m (body) VALUES ($1)', [b]);
      },
      close: () => pool.end(),
    };
  }
  return { put: () => undefined, close: () => undefined };
}

const store = sink();
const app = Fastify();
for (const type of ['application/hl7-v2', 'application/fhir+json']) {
  app.addContentTypeParser(type, { parseAs: 'string' }, (_r, b, done) => done(null, b));
}
const answer = async (req: { body: unknown }, reply: { type(t: string): { send(b: string): unknown } }) => {
  await store.put(String(req.body));
  return reply.type('text/plain').send('MSA|AA|X\r');
};
app.post('/hl7v2', answer);
app.post('/fhir', answer);
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`LISTENING ${url}\n`);
process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => store.close())
    .then(() => process.exit(0));
});
