#!/usr/bin/env node
// The `cdsr-adapter` command: a thin shell over the pipeline stages.
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, nrdrIds } from './config.js';
// each command's module is loaded when it runs: loading them all cost every command about 0.6 s at start
import type { CliIo } from './cli/validate.js';
import type { ReprocessCliOptions } from './cli/reprocess.js';
import type { runSandbox } from './cli/outbound.js';
import type { ImportValueSetsOptions } from './cli/import-valuesets.js';
import type { CertifyCliOptions } from './cli/certify.js';
import type { SubscribeOptions } from './cli/subscribe.js';
import { errorMessage } from './cdsr/errors.js';
import { isTimeZone } from './cdsr/batch.js';
import { EXAM_ID_FORMS, TRANSACTION_DATETIME_FORMS } from './sandbox/switches.js';
import { isReadableZone } from './sandbox/check.js';

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

function timeZone(v: string): string {
  if (!isTimeZone(v)) throw new InvalidArgumentError('must be an IANA time zone such as America/Chicago');
  return v;
}

export function buildProgram(): Command {
  const program = new Command('cdsr-adapter').description('Report imaging orders from HL7v2 and FHIR to the ACR NRDR CDSR registry').showHelpAfterError();

  program
    .command('validate')
    .description('check a CDSR 1.0 transaction file against the NRDR rules that need no registry data')
    .argument('<file>', 'transaction JSON file')
    .option('--valuesets <dir>', 'value-set CSV files (default: <mappings>/valuesets)')
    .option('--limits <file>', 'field limit overrides (default: <mappings>/field-limits.csv)')
    .option('--rules <file>', 'conditional requirements (default: <mappings>/site-rules.csv)')
    .option(
      '--timezone <zone>',
      'IANA zone "now" is read in for values without an offset (default: the facility\'s facilities.csv zone, else future only when future everywhere)',
      timeZone,
    )
    .option('--json', 'machine-readable output')
    .option('--max-problems <n>', 'problems to list at most (the rest are counted)', positiveInt)
    .option('--now <iso>', 'the clock for future-date rules (default: now)', isoDate)
    .action(
      async (
        file: string,
        opts: { valuesets?: string; limits?: string; rules?: string; timezone?: string; json?: boolean; maxProblems?: number; now?: Date },
      ) => {
        const config = loadConfig();
        const { runValidate } = await import('./cli/validate.js');
        process.exitCode = await runValidate(file, opts, stdio(config.CDSR_MAPPINGS_DIR, process.stderr.isTTY === true && opts.json !== true));
      },
    );

  program
    .command('map')
    .description('map HL7 v2 / FHIR files through the tables, merge them, and print the CDSR transactions and problems')
    .argument(
      '<files...>',
      'HL7 v2 (ER7; batches and several messages per file too), FHIR JSON or NDJSON, Mirth Connect message exports (XML); in the order they would arrive',
    )
    .option('--mappings <dir>', 'mapping tables (default: $CDSR_MAPPINGS_DIR or ./mappings)')
    .option('--trace', 'also print where every value came from')
    .option('--summary', 'print counts by message type and outcome and the distinct unmapped values, not the transactions')
    .option('--facility-id <id>', 'Facility_ID when no facilities.csv row matches (default: $CDSR_DEFAULT_FACILITY_ID)')
    .option('--now <iso>', 'the clock (Transaction_DateTime, future-date rules)', isoDate)
    .action(async (files: string[], opts: { mappings?: string; trace?: boolean; summary?: boolean; facilityId?: string; now?: Date }) => {
      const config = loadConfig();
      const { runMap } = await import('./cli/map.js');
      process.exitCode = runMap(
        files,
        opts,
        {
          defaultFacilityId: config.CDSR_DEFAULT_FACILITY_ID,
          ...nrdrIds(config),
          maxEncounters: config.CDSR_BATCH_MAX_ENCOUNTERS,
          timeZone: config.CDSR_TIMEZONE,
        },
        stdio(config.CDSR_MAPPINGS_DIR, false),
      );
    });

  program
    .command('check-mappings')
    .description('load a mappings directory and report every problem as file:line: message')
    .argument('[dir]', 'mappings directory (default: $CDSR_MAPPINGS_DIR or ./mappings)')
    .action(async (dir: string | undefined) => {
      const config = loadConfig();
      const { runCheckMappings } = await import('./cli/check-mappings.js');
      process.exitCode = runCheckMappings(dir, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  program
    .command('import-valuesets')
    .description(
      'read value sets from a workbook (ACR CDSR_JSON_Mapping_<version>.xlsx) into valuesets/<Name>.csv, and its requirement column into site-rules.csv',
    )
    .argument('<workbook>', '.xlsx file')
    .option('--sheet <name>', 'sheet name or 1-based position (default: the first sheet)')
    .option('--header-row <n>', 'row of the column headers (default: 1)', positiveInt)
    .option('--field-column <col>', 'header or letter of the CDSR field column (default: a column headed Field, CDSR Field, Element…)')
    .option('--code-column <col>', 'header or letter of the code column (default: Code, Value…)')
    .option('--label-column <col>', 'header or letter of the label column (default: Label, Description…)')
    .option('--requirement-sheet <name>', 'sheet of the requirement column (default: the first sheet with one)')
    .option('--required-column <col>', 'header or letter of the requirement column (default: Required to submit, Required…)')
    .option('--condition-column <col>', 'header or letter of the conditions in words (default: Conditionally Required, Condition…)')
    .option('--site-rules <file>', 'site rules file to update from the requirement column (default: <mappings>/site-rules.csv; with --out: a preview only)')
    .option('--out <dir>', 'write here instead of <mappings>/valuesets')
    .option('--force', 'overwrite existing files that would change')
    .option('--json', 'machine-readable report')
    .action(async (workbook: string, opts: ImportValueSetsOptions) => {
      const config = loadConfig();
      // loaded here only: the xlsx library would slow down every other command's start
      const { runImportValueSets } = await import('./cli/import-valuesets.js');
      process.exitCode = await runImportValueSets(workbook, opts, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  program
    .command('test-mappings')
    .description(
      'run the site regression tests (DIR/tests: messages with their expected CDSR JSON), show a diff for each that fails and list inputs without an expected file',
    )
    .argument('[dir]', 'mappings directory (default: $CDSR_MAPPINGS_DIR or ./mappings)')
    .option('--update', 'write each expected file from what the tables give now, creating those of new inputs (review the diff)')
    .action(async (dir: string | undefined, opts: { update?: boolean }) => {
      const config = loadConfig();
      const { runTestMappings } = await import('./cli/map.js');
      process.exitCode = runTestMappings(dir, opts, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  program
    .command('serve')
    .description('run the inbound service (HTTP for Mirth and FHIR subscriptions); configuration from the environment')
    .action(async () => {
      const { runServe } = await import('./cli/serve.js');
      process.exitCode = await runServe(loadConfig());
    });

  program
    .command('backup')
    .description(
      'copy the store to FILE while the service runs: SQLite with its online backup API (then what the copy holds), PostgreSQL with pg_dump --format=custom',
    )
    .argument('<file>', 'the copy (written beside under a temporary name, then renamed into place)')
    .action(async (file: string) => {
      const config = loadConfig();
      const { runBackup } = await import('./cli/backup.js');
      process.exitCode = await runBackup(config, file, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  program
    .command('restore')
    .description(
      'replace the store with a copy made by backup (refused while a service holds the store): SQLite checked and renamed into place, PostgreSQL with pg_restore --clean',
    )
    .argument('<file>', 'a copy made by cdsr-adapter backup')
    .action(async (file: string) => {
      const config = loadConfig();
      const { runRestore } = await import('./cli/backup.js');
      process.exitCode = await runRestore(config, file, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  program
    .command('replay')
    .description(
      'replay stored messages (default: the error queue): through the running service with --url, else offline on the store (refused while a service holds it)',
    )
    .option('--status <status>', 'error (default), applied, ignored or pending', 'error')
    .option('--url <url>', 'the running service (its store and its tables in force); key from CDSR_API_KEY')
    .action(async (opts: { status: string; url?: string }) => {
      const config = loadConfig();
      const { runReplay } = await import('./cli/serve.js');
      process.exitCode = await runReplay(config, opts, stdio(config.CDSR_MAPPINGS_DIR, process.stderr.isTTY === true));
    });

  program
    .command('reprocess')
    .description(
      'map stored messages again through the tables in force and re-derive their records: a preview by default (what would change, field by field), applied with --apply; through the running service with --url, else offline on the store',
    )
    .option('--facility <id>', 'messages of this Facility_ID')
    .option('--encounter <id>', 'messages of this Unique_Encounter_ID')
    .option('--order <number>', 'messages of the order with this number (placer, filler or accession)')
    .option('--sender <name>', 'messages from this sender (MSH-3^MSH-4, or the subscription)')
    .option('--channel <channel>', 'hl7v2 or fhir')
    .option('--status <status>', 'messages in this status (applied, error, ignored, …)')
    .option('--from <time>', 'received at or after (ISO 8601)')
    .option('--to <time>', 'received before (ISO 8601)')
    .option('--held', 'records held incomplete or invalid, results waiting for their order, and the error queue')
    .option('--all', 'every stored message')
    .option('--apply', 'apply the change (default: a preview that changes nothing)')
    .option('--preview <id>', 'apply exactly the selection of this earlier preview')
    .option('--limit <n>', 'list at most this many changes (default 100)', (v) => Number(v))
    .option('--json', 'the run and every change as JSON')
    .option('--url <url>', 'the running service; key from CDSR_API_KEY')
    .action(async (opts: ReprocessCliOptions) => {
      const config = loadConfig();
      const { runReprocessCli } = await import('./cli/reprocess.js');
      process.exitCode = await runReprocessCli(config, opts, stdio(config.CDSR_MAPPINGS_DIR, process.stderr.isTTY === true));
    });

  program
    .command('resubmit')
    .description('send rejected records again (after a fix at ACR, e.g. a facility registration) through the running service')
    .option('--facility <id>', 'only this Facility_ID')
    .option('--encounter <id>', 'only this Unique_Encounter_ID (with --facility)')
    .option('--reason <text>', 'why (kept in each record history)')
    .option('--url <url>', 'the service (default: http://$HOST:$PORT); key from CDSR_API_KEY')
    .action(async (opts: { facility?: string; encounter?: string; reason?: string; url?: string }) => {
      const config = loadConfig();
      const { runResubmit } = await import('./cli/serve.js');
      process.exitCode = await runResubmit(config, opts, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  program
    .command('reconcile')
    .description("orders per facility and day in the facility's time zone: reported, held (by reason), excluded (by rule); seen = their sum")
    .option('--from <day>', "first day (YYYY-MM-DD, the facility's time zone), default: the first order")
    .option('--to <day>', 'last day (YYYY-MM-DD), default: the last order')
    .option('--facility <id>', 'one Facility_ID')
    .option('--by <what>', 'received (the day orders arrived, default) or ordered (their CDS_Consultation_Date, as the RIS counts exams)')
    .option('--json', 'machine-readable output')
    .option('--csv', 'CSV, one line per facility and day, a column per reason')
    .option('--url <url>', 'ask the running service (its tables and zones in force); key from CDSR_API_KEY')
    .action(async (opts: { from?: string; to?: string; facility?: string; by?: string; json?: boolean; csv?: boolean; url?: string }) => {
      const config = loadConfig();
      const { runReconcile } = await import('./cli/serve.js');
      process.exitCode = await runReconcile(config, opts, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  const list = (v: string, prev: string[] = []) => [...prev, v];
  const oneOf =
    <T extends string>(values: readonly T[]) =>
    (v: string): T => {
      if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${values.join(', ')}`);
      return v as T;
    };
  const rate = (v: string) => {
    const n = Number(v);
    if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('must be a number from 0 to 1');
    return n;
  };
  program
    .command('sandbox')
    .description('run the NRDR sandbox: the CDSR transactions API and a token endpoint on loopback, for rehearsing certification')
    .option('--port <port>', 'port', positiveInt, 8790)
    .option('--facility <id>', 'a registered and accepted Facility_ID (repeatable; default: 100000, facilities.csv, CDSR_DEFAULT_FACILITY_ID)', list)
    .option('--not-accepted <id>', 'registered but not accepted (CD2054; repeatable)', list)
    .option('--unauthorized <id>', 'the partner is not authorised for this facility (CD1012; repeatable)', list)
    .option('--fail-rate <r>', 'share of API requests answered 503', rate)
    .option('--drop-rate <r>', 'share of API requests whose connection is dropped', rate)
    .option('--delay-ms <ms>', 'added to every API answer', positiveInt)
    .option('--token-ttl <s>', 'access token lifetime in seconds', positiveInt)
    .option('--token-max-uses <n>', 'refuse a token after this many uses', positiveInt)
    .option('--step-ms <ms>', 'time between transaction status stages', positiveInt)
    .option('--refresh-ttl <s>', 'refresh token lifetime in seconds (how long a sign-in lasts unused)', positiveInt)
    .option(
      '--redirect-url <url>',
      'a redirect URL registered for the sign-in (repeatable; default: ACR_REDIRECT_URL, else http://127.0.0.1:$PORT/auth/acr/callback)',
      list,
    )
    .option('--app-name <name>', 'the application name the sign-in page shows (default: ACR_APP_NAME, else cdsr-adapter)')
    .option(
      '--today-zone <zone>',
      'the zone "now" and "today" are read in for CD2013 / CD3130: UTC+14 (default), UTC, UTC-05:00 or an IANA zone',
      (v: string) => {
        if (!isReadableZone(v)) throw new InvalidArgumentError('must be UTC, UTC+hh[:mm], UTC-hh[:mm] or an IANA time zone such as America/New_York');
        return v;
      },
    )
    .option(
      '--transaction-datetime <form>',
      `the Transaction_DateTime forms taken (CD2012): ${TRANSACTION_DATETIME_FORMS.join(', ')}`,
      oneOf(TRANSACTION_DATETIME_FORMS),
    )
    .option('--exam-id-form <form>', `how Exam_Errors name an exam: ${EXAM_ID_FORMS.join(', ')}`, oneOf(EXAM_ID_FORMS))
    .option('--refuse-reused-id', 'refuse a reused Transaction_ID with CD2014 (default: a resubmission replaces the transaction)')
    .action(async (opts: Parameters<typeof runSandbox>[1]) => {
      const config = loadConfig();
      const { runSandbox } = await import('./cli/outbound.js');
      process.exitCode = await runSandbox(config, opts, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  const seconds = (v: string) => {
    const n = Number(v);
    if (!(n > 0 && n <= 86_400)) throw new InvalidArgumentError('must be a number of seconds above 0 (at most 86400)');
    return n;
  };
  program
    .command('certify')
    .description(
      "show what ACR's certification asks in its test environment (the test profile, CDSR_TEST_*): authenticate, post synthetic test transactions, get their statuses and error codes back; writes the report to send to ACR",
    )
    .option('--sandbox', 'a rehearsal against a sandbox started in this process on loopback (not ACR)')
    .option('--out <dir>', 'folder of the report files cdsr-certification-<date>.md and .json (default: the current directory)')
    .option('--facility <id>', 'the test facility (default: CDSR_TEST_FACILITY_ID; with --sandbox 100000)')
    .option('--poll-interval <s>', 'seconds between status requests (default 10; with --sandbox 0.05)', seconds)
    .option('--timeout <s>', 'seconds polling may last before the step fails (default 900; with --sandbox 30)', seconds)
    .action(async (opts: CertifyCliOptions) => {
      const config = loadConfig();
      const { runCertify } = await import('./cli/certify.js');
      process.exitCode = await runCertify(config, opts, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  program
    .command('submit')
    .description('ask the running service to submit ready records to NRDR now, and wait for the result')
    .option('--url <url>', 'the service (default: http://$HOST:$PORT)')
    .action(async (opts: { url?: string }) => {
      const config = loadConfig();
      const { runSubmit } = await import('./cli/outbound.js');
      process.exitCode = await runSubmit(config, opts, stdio(config.CDSR_MAPPINGS_DIR, process.stderr.isTTY === true));
    });

  program
    .command('status')
    .description('transactions sent to NRDR, or one with the verdict on each record')
    .argument('[transactionId]')
    .option('--url <url>', 'the service (default: http://$HOST:$PORT)')
    .action(async (id: string | undefined, opts: { url?: string }) => {
      const config = loadConfig();
      const { runStatus } = await import('./cli/outbound.js');
      process.exitCode = await runStatus(config, id, opts, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  program
    .command('worklist')
    .description("the running service's unmapped values: distinct (field, table, value) with counts and CSV rows to add; --dry-run: how many would resolve")
    .option('--url <url>', 'the service (default: http://$HOST:$PORT)')
    .option('--dry-run', 'map the error queue again through the tables on disk (nothing stored) and say how many messages would resolve')
    .option('--json', 'machine-readable output')
    .action(async (opts: { url?: string; dryRun?: boolean; json?: boolean }) => {
      const config = loadConfig();
      const { runWorklist } = await import('./cli/worklist.js');
      process.exitCode = await runWorklist(config, opts, stdio(config.CDSR_MAPPINGS_DIR, false));
    });

  program
    .command('subscribe')
    .description(
      "create (once), show or remove the Subscription that makes the EHR's FHIR server send ServiceRequests and Encounters to the adapter's /fhir (R4 and R4B: the Subscriptions backport form; R5)",
    )
    .option('--fhir-server <url>', "the EHR's FHIR base URL (default: $FHIR_SERVER_URL)")
    .option('--endpoint <url>', "the adapter's public /fhir URL the EHR calls: https (http only on loopback)")
    .option('--topic <url>', 'the SubscriptionTopic canonical (default: the one topic the server advertises in its CapabilityStatement)')
    .option(
      '--filter <criteria>',
      'a filter on the topic, Type?param=value, e.g. "ServiceRequest?category=http://snomed.info/sct|363679005" (repeatable)',
      list,
    )
    .option('--payload <content>', 'full-resource or id-only (id-only: the adapter reads each resource from FHIR_SERVER_URL)', 'full-resource')
    .option('--fhir-version <v>', 'auto (from /metadata), R4, R4B or R5', 'auto')
    .option('--show', 'list the Subscriptions at the server that point at --endpoint, with their status')
    .option('--remove', 'delete the Subscriptions that point at --endpoint (with --topic: for that topic only)')
    .option('--dry-run', 'print what would be created, updated or deleted (keys masked); change nothing')
    .option('--key-env <name>', "the environment variable holding the adapter's send key the EHR sends (never an argument)", 'CDSR_SUBSCRIPTION_KEY')
    .option('--token-env <name>', "the environment variable holding the bearer token for the EHR's FHIR server", 'FHIR_SERVER_TOKEN')
    .action(async (opts: SubscribeOptions) => {
      const { runSubscribe } = await import('./cli/subscribe.js');
      process.exitCode = await runSubscribe(opts, process.env, stdio('', false));
    });

  return program;
}

function stdio(mappingsDir: string, progress: boolean): CliIo {
  return { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), mappingsDir, progress };
}

buildProgram()
  .parseAsync(process.argv)
  .catch((e: unknown) => {
    process.stderr.write(`cdsr-adapter: ${errorMessage(e)}\n`);
    process.exitCode = 2;
  });
