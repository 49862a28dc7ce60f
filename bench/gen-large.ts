// node dist/bench/gen-large.js FILE MEGABYTES
import { writeLargeTransaction } from './large-transaction.js';

const [file, mb] = process.argv.slice(2);
if (!file) throw new Error('usage: gen-large FILE [MEGABYTES]');
const r = await writeLargeTransaction(file, Number(mb ?? 50) * 1024 * 1024);
console.log(JSON.stringify(r));
