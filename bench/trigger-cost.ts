// What migration 26's triggers cost a message's ingest on SQLite, measured side by side in one
// process so that the machine's load weighs on both alike: two stores, one with the triggers and
// one with them dropped, fed the same kind of new orders in alternating blocks; CPU µs per message
// of this process (better-sqlite3 runs in it). `node dist/bench/trigger-cost.js [blocks] [per block]`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../src/cdsr/validate.js';
import { loadMappings } from '../src/mapping/load.js';
import { mapHl7Text } from '../src/mapping/map-hl7.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { SqliteExecutor } from '../src/store/sqlite-executor.js';
import { SqlStore } from '../src/store/sql-store.js';

const blocks = Number(process.argv[2] ?? 20);
const perBlock = Number(process.argv[3] ?? 100);
const NOW = new Date('2026-11-23T06:00:00Z');
const tables = loadMappings(join(PACKAGE_ROOT, 'mappings')).tables!;
const sample = readFileSync(join(PACKAGE_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const validator = new CdsrValidator({ now: NOW, valueSets: tables.valueSets, fieldLimits: tables.fieldLimits });
const micros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const dir = mkdtempSync(join(tmpdir(), 'trigger-cost-'));
const withTriggers = new SqliteExecutor({ file: join(dir, 'a.db') });
const without = new SqliteExecutor({ file: join(dir, 'b.db') });
const a = await SqlStore.open(withTriggers, { validator });
const b = await SqlStore.open(without, { validator });
const drop = new RegExp(process.env.DROP ?? '.');
for (const r of await without.all("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
  if (drop.test(String(r.name))) await without.run(`DROP TRIGGER ${String(r.name)}`);
const spent = { triggers: 0, none: 0 };
let n = 0;
for (let block = 0; block < blocks; block++) {
  const raws = Array.from({ length: perBlock }, () => {
    const i = n++;
    return sample.replaceAll('MSG0001', `M${i}`).replaceAll('ORD1001', `ORD${i}`).replaceAll('ACC2001', `ACC${i}`).replaceAll('V0001', `V${i}`);
  });
  const outcomes = raws.map((raw) => mapHl7Text(raw, tables));
  // each block to both stores, in an order that alternates
  for (const which of block % 2 === 0 ? (['triggers', 'none'] as const) : (['none', 'triggers'] as const)) {
    const store = which === 'triggers' ? a : b;
    const t = micros();
    for (const [i, raw] of raws.entries())
      await store.ingest(
        { channel: 'hl7v2', sender: 'bench', controlId: `M${block}-${i}`, contentType: 'application/hl7-v2', raw, receivedAt: NOW },
        outcomes[i]!,
      );
    if (block > 0) spent[which] += micros() - t;
  }
}
const per = (x: number) => Math.round(x / ((blocks - 1) * perBlock));
console.log(JSON.stringify({ messages: (blocks - 1) * perBlock, cpuUsPerMessage: { triggers: per(spent.triggers), none: per(spent.none) } }));
await a.close();
await b.close();
rmSync(dir, { recursive: true, force: true });
