// The local validator as the tables configure it: value sets, field limits, a site's conditional
// rules, and "now" read in each facility's time zone (facilities.csv), else `timeZone`.
import { CdsrValidator } from '../cdsr/validate.js';
import { facilityTimeZones } from './facilities.js';
import type { MappingTables } from './load.js';

export function validatorFor(tables: MappingTables, opts: { now: Date | (() => Date); timeZone?: string }): CdsrValidator {
  const zoneOf = facilityTimeZones(tables.facilities, '');
  return new CdsrValidator({
    now: opts.now,
    valueSets: tables.valueSets,
    fieldLimits: tables.fieldLimits,
    siteRules: tables.siteRules,
    ...(opts.timeZone !== undefined ? { timeZone: opts.timeZone } : {}),
    timeZoneOf: (facilityId) => zoneOf(facilityId) || undefined,
  });
}
