// Writes test/fixtures/mixed-100.hl7: one HL7 batch file (FHS/BHS … BTS/FTS) of 100 messages of
// many kinds, for `map --summary` and the splitter's tests. Deterministic: run it again after a
// sample changes (`node scripts/make-mixed-batch.mjs`), then review the golden diff.
//   72 = the 8 HL7 samples, 9 times, each copy renumbered (its own visit, orders, control ids)
//   12 = an ORM whose OBR-24 is a site code the tables do not know (RAD-CT ×7, IMG5 ×5)
//    5 = an ORM whose PV1-2 is a patient class the tables do not know (X ×3, Q ×2)
//    4 = public messages of microsoft/FHIR-Converter (test/fixtures/public)
//    5 = ADT^A08 (a type the tables do not map)
//    2 = messages whose MSH reads but a segment does not (a line break inside a segment)
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const read = (...p) => readFileSync(join(root, ...p), 'utf8').replace(/^\uFEFF/, '');
const segments = (text) => text.split(/\r\n|\n|\r/).filter((l) => l.trim() !== '');

const SAMPLES = [
  '01-orm-new',
  '02-orm-update',
  '03-orm-cancel',
  '04-oru-final',
  '05-omi-new',
  '06-orm-lf-escapes',
  '07-orm-two-orders',
  '08-oru-two-results-no-orc',
];
const renumber = (text, k) =>
  text
    .replace(/ORD1(\d{3})/g, `ORD${k}$1`)
    .replace(/ACC2(\d{3})/g, `ACC${k + 2}$1`)
    .replace(/V0001/g, `V${String(k).padStart(4, '0')}`)
    .replace(/MSG0(\d{3})/g, `MSG${k}$1`);

const messages = [];
for (let k = 1; k <= 9; k++) for (const s of SAMPLES) messages.push(segments(renumber(read('samples', 'hl7v2', `${s}.hl7`), k)));

const orm = read('samples', 'hl7v2', '01-orm-new.hl7');
const variant = (n, edit) => segments(edit(renumber(orm, 10 + n)));
let n = 0;
for (const code of ['RAD-CT', 'RAD-CT', 'IMG5', 'RAD-CT', 'IMG5', 'RAD-CT', 'IMG5', 'RAD-CT', 'IMG5', 'RAD-CT', 'IMG5', 'RAD-CT']) {
  n++;
  messages.push(variant(n, (t) => t.replace('|CT|SC', `|${code}|SC`)));
}
for (const cls of ['X', 'Q', 'X', 'Q', 'X']) {
  n++;
  messages.push(variant(n, (t) => t.replace('PV1|1|E|', `PV1|1|${cls}|`)));
}
for (const f of ['ORM-O01-01', 'ORM-O01-02', 'ORU-R01-01', 'ADT-A01-01'])
  messages.push(segments(read('test', 'fixtures', 'public', `fhir-converter-${f}.hl7`)));
for (let i = 1; i <= 5; i++) {
  messages.push([
    `MSH|^~\\&|ADT|GENHOSP|CDSR|ACR|2026110208${i}000||ADT^A08^ADT_A01|ADT000${i}|P|2.5.1`,
    `EVN|A08|2026110208${i}000`,
    `PID|1||MRN000${i}^^^GENHOSP^MR||TESTPATIENT^ALEX`,
    `PV1|1|E|||||||||||||||||V900${i}`,
  ]);
}
for (let i = 1; i <= 2; i++) {
  messages.push([
    `MSH|^~\\&|EHR|GENHOSP|CDSR|ACR|20261102190${i}00||ORM^O01^ORM_O01|BROKEN${i}|P|2.5.1`,
    'PID|1||MRN0001^^^GENHOSP^MR',
    'a note that lost its segment name',
    'PV1|1|E',
  ]);
}
if (messages.length !== 100) throw new Error(`${messages.length} messages, not 100`);

const lines = [
  'FHS|^~\\&|EHR|GENHOSP|CDSR|ACR|20261102200000',
  'BHS|^~\\&|EHR|GENHOSP|CDSR|ACR|20261102200000',
  ...messages.flat(),
  `BTS|${messages.length}`,
  'FTS|1',
];
writeFileSync(join(root, 'test', 'fixtures', 'mixed-100.hl7'), lines.join('\r\n') + '\r\n');
process.stdout.write(`test/fixtures/mixed-100.hl7: ${messages.length} messages, ${lines.length} lines\n`);
