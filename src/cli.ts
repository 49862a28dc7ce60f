#!/usr/bin/env node
// The `cdsr-adapter` command: a thin shell over the pipeline stages.
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from './config.js';
import { runValidate } from './cli/validate.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

function isoDate(v: string): Date {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('must be an ISO 8601 date-time');
  return d;
}

export function buildProgram(): Command {
  const program = new Command('cdsr-adapter')
    .description('Report imaging orders from HL7v2 and FHIR to the ACR NRDR CDSR registry')
    .showHelpAfterError();

  program
    .command('validate')
    .description('check a CDSR 1.0 transaction file against the NRDR rules that need no registry data')
    .argument('<file>', 'transaction JSON file')
    .option('--valuesets <dir>', 'value-set CSV files (default: <mappings>/valuesets)')
    .option('--limits <file>', 'field limit overrides (default: <mappings>/field-limits.csv)')
    .option('--json', 'machine-readable output')
    .option('--max-problems <n>', 'problems to list at most (the rest are counted)', positiveInt)
    .option('--now <iso>', 'the clock for future-date rules (default: now)', isoDate)
    .action(async (file: string, opts: { valuesets?: string; limits?: string; json?: boolean; maxProblems?: number; now?: Date }) => {
      const config = loadConfig();
      process.exitCode = await runValidate(file, opts, {
        out: (t) => process.stdout.write(t),
        err: (t) => process.stderr.write(t),
        mappingsDir: config.CDSR_MAPPINGS_DIR,
        progress: process.stderr.isTTY === true && opts.json !== true,
      });
    });

  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((e: unknown) => {
    process.stderr.write(`cdsr-adapter: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  });
