// What a message costs at the store when SQLite writes its derived rows with it ('with-message')
// and after its answer ('later'), both in one process taking turns (the machine's other work
// weighs on both alike): `node dist/bench/derive-cost.js [at once] [turns] [messages a turn]`.
// Each turn ingests new orders (each its own encounter and numbers), `at once` asked together,
// then reads through the store (so that 'later' has written every derived row before the turn
// ends); CPU µs of this process per message (the sync thread's included) and wall µs per message.
// Mapping is done before the turn: only the store is measured.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../src/cdsr/validate.js';
import { loadMappings } from '../src/mapping/load.js';
import { mapHl7Text } from '../src/mapping/map-hl7.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { SqliteExecutor } from '../src/store/sqlite-executor.js';
import { SqlStore } from '../src/store/sql-store.js';

const together = Number(process.argv[2] ?? 1);
const turns = Number(process.argv[3] ?? 10);
const perTurn = Number(process.argv[4] ?? 200);
const NOW = new Date('2026-11-23T06:00:00Z');
const tables = loadMappings(join(PACKAGE_ROOT, 'mappings')).tables!;
const ORM = readFileSync(join(PACKAGE_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const MODES = ['with-message', 'later'] as const;

const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'derive-cost-'));
  const validator = new CdsrValidator({ now: NOW, valueSets: tables.valueSets, fieldLimits: tables.fieldLimits });
  const stores = new Map<(typeof MODES)[number], SqlStore>();
  for (const mode of MODES) stores.set(mode, await SqlStore.open(new SqliteExecutor({ file: join(dir, `${mode}.sqlite`) }), { validator, derive: mode }));
  const spent = new Map(MODES.map((m) => [m, { cpu: 0, wall: 0, n: 0 }]));
  let n = 0;
  try {
    for (let t = 0; t < turns * 2; t++) {
      const mode = MODES[t % 2]!;
      const s = stores.get(mode)!;
      const batch = Array.from({ length: perTurn }, () => {
        n++;
        const raw = ORM.replaceAll('ORD1001', `ORD${n}`).replaceAll('ACC2001', `ACC${n}`).replaceAll('V0001', `V${n}`).replace('MSG0001', `M${n}`);
        return { raw, control: `M${n}`, outcome: mapHl7Text(raw, tables) };
      });
      const c0 = cpu();
      const w0 = performance.now();
      for (let i = 0; i < batch.length; i += together) {
        await Promise.all(
          batch
            .slice(i, i + together)
            .map((m) =>
              s.ingest(
                { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: m.control, contentType: 'application/hl7-v2', raw: m.raw, receivedAt: NOW },
                m.outcome,
              ),
            ),
        );
      }
      await s.messages({ limit: 1 });
      const x = spent.get(mode)!;
      x.cpu += cpu() - c0;
      x.wall += (performance.now() - w0) * 1000;
      x.n += batch.length;
    }
  } finally {
    for (const s of stores.values()) await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [mode, x] of spent)
    process.stdout.write(
      `${mode.padEnd(13)} ${together} at once: CPU ${Math.round(x.cpu / x.n)} µs a message, wall ${Math.round(x.wall / x.n)} µs a message\n`,
    );
}

await main();
