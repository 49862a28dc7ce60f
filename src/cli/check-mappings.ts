// `cdsr-adapter check-mappings [DIR]`: loads the tables (every load problem, file:line) and, when
// they load, checks what loading does not: crosswalk targets against the value sets, and every
// facility and system qualifier (src/mapping/check.ts). Warnings are listed; errors exit 1.
import { formatLocation, formatProblemLine, type Problem } from '../cdsr/problem.js';
import { checkMappings } from '../mapping/check.js';
import { loadMappings } from '../mapping/load.js';
import type { CliIo } from './validate.js';
import { EXIT_OK, EXIT_PROBLEMS, resolveMappingsDir } from './validate.js';

const line = (p: Problem): string => `${formatLocation(p)}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}\n`;

export function runCheckMappings(dir: string | undefined, io: CliIo): number {
  const target = dir ?? resolveMappingsDir(io.mappingsDir);
  const loaded = loadMappings(target);
  if (!loaded.tables) {
    io.out(loaded.problems.map((p) => `${formatProblemLine(p)}\n`).join(''));
    io.out(`${loaded.problems.length} problem(s) in ${target}\n`);
    return EXIT_PROBLEMS;
  }
  const t = loaded.tables;
  const found = checkMappings(t);
  const errors = found.filter((p) => p.severity === 'error').length;
  io.out(found.map(line).join(''));
  if (errors > 0) {
    io.out(`${errors} problem(s)${found.length > errors ? ` and ${found.length - errors} warning(s)` : ''} in ${target}\n`);
    return EXIT_PROBLEMS;
  }
  io.out(
    `${target}: ${found.length > 0 ? `OK with ${found.length} warning(s)` : 'OK'} — hl7v2.yaml ${t.hl7 ? `${t.hl7.rules.length} rules, ${t.hl7.messages.size} message types` : 'absent'}; ` +
      `fhir.yaml ${t.fhir ? `${t.fhir.rules.length} rules, ${t.fhir.resources.size} resource types` : 'absent'}; ` +
      `${t.crosswalks.size} crosswalks, ${t.valueSets.size} value sets, ${t.facilities.size} facilities\n`,
  );
  return EXIT_OK;
}
