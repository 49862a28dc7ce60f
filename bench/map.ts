// Mapping throughput on the ORM sample: hl7-standard parse-only next to our parser wrapper and the
// full map (parse + rules + crosswalks), and map + merge + local validation, in one run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import HL7 from 'hl7-standard';
import { parseHl7 } from '../src/hl7v2/parse.js';
import { loadMappings } from '../src/mapping/load.js';
import { mapHl7Text } from '../src/mapping/map-hl7.js';
import { MergeState } from '../src/mapping/merge.js';
import { batchTransactions } from '../src/cdsr/batch.js';
import { mergedItems } from '../src/mapping/map-files.js';
import { CdsrValidator } from '../src/cdsr/validate.js';
import { PACKAGE_ROOT } from '../src/paths.js';

export interface MapBenchRow {
  readonly name: string;
  readonly perSecond: number;
}

function rate(fn: () => void, seconds = 1.5): number {
  for (let i = 0; i < 500; i++) fn(); // warm-up
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
  }
  return n / ((performance.now() - start) / 1000);
}

export function benchMapping(): MapBenchRow[] {
  const raw = readFileSync(join(PACKAGE_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
  const loaded = loadMappings(join(PACKAGE_ROOT, 'mappings'));
  if (!loaded.tables) throw new Error('shipped mappings do not load');
  const tables = loaded.tables;
  const now = new Date();
  const validator = new CdsrValidator({ now, valueSets: tables.valueSets, fieldLimits: tables.fieldLimits });
  return [
    {
      name: 'hl7-standard transform (parse only)',
      perSecond: rate(() => {
        new HL7(raw).transform();
      }),
    },
    { name: 'parseHl7 (our wrapper: parse + fixes + model)', perSecond: rate(() => void parseHl7(raw)) },
    { name: 'mapHl7Text (parse + rules + crosswalks)', perSecond: rate(() => void mapHl7Text(raw, tables)) },
    {
      name: 'map + merge + batch + validate',
      perSecond: rate(() => {
        const out = mapHl7Text(raw, tables);
        if (out.disposition !== 'mapped') throw new Error('sample does not map');
        const state = new MergeState();
        for (const r of out.records) state.apply(r);
        const txs = batchTransactions(mergedItems(state.encounters.values()), {
          partnerId: '10000',
          appId: '10019',
          maxEncounters: 100,
          now,
          transactionId: () => 'bench',
        });
        for (const tx of txs) validator.validateTransaction(tx.body);
      }),
    },
  ];
}
