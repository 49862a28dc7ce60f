// Child of the bench: validates one file, prints {ms, encounters, maxRssMb} as JSON.
import { validateTransactionFile } from '../src/cdsr/validate-stream.js';
import { validateTransaction } from '../src/cdsr/validate.js';
import { readFileSync } from 'node:fs';

const [mode, file] = process.argv.slice(2);
if (!file) throw new Error('usage: validate-file stream|parse FILE');
const t = performance.now();
let encounters: number;
if (mode === 'parse') {
  const tx = JSON.parse(readFileSync(file, 'utf8')) as { Encounters: unknown[] };
  validateTransaction(tx, { now: new Date() });
  encounters = tx.Encounters.length;
} else {
  encounters = (await validateTransactionFile(file, { now: new Date() })).encounters;
}
const ms = performance.now() - t;
console.log(JSON.stringify({ ms, encounters, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
