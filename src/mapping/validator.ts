// The local validator as the tables configure it: value sets, field limits, a site's conditional
// rules, and "now" read in each facility's time zone (facilities.csv), else `timeZone`.
import { CdsrValidator, type EncountersShape, type ValidatorOptions } from '../cdsr/validate.js';
import type { Problem } from '../cdsr/problem.js';
import { facilityTimeZones } from './facilities.js';
import type { MappingTables } from './load.js';

export interface TablesValidatorOptions {
  readonly now: Date | (() => Date);
  /** The zone for facilities without one of their own; undefined: the UTC+14 grace. */
  readonly timeZone?: string;
}

function optionsFor(tables: MappingTables, opts: TablesValidatorOptions): ValidatorOptions {
  const zoneOf = facilityTimeZones(tables.facilities, '');
  return {
    now: opts.now,
    valueSets: tables.valueSets,
    fieldLimits: tables.fieldLimits,
    siteRules: tables.siteRules,
    ...(opts.timeZone !== undefined ? { timeZone: opts.timeZone } : {}),
    timeZoneOf: (facilityId) => zoneOf(facilityId) || undefined,
  };
}

export function validatorFor(tables: MappingTables, opts: TablesValidatorOptions): CdsrValidator {
  return new CdsrValidator(optionsFor(tables, opts));
}

/**
 * A validator that follows the tables in force: after a reload (a new MappingTables object) the
 * next check uses the new value sets, limits, site rules and facility zones.
 */
export class LiveValidator extends CdsrValidator {
  private seen: MappingTables;
  private inner: CdsrValidator;

  constructor(
    private readonly tables: () => MappingTables,
    private readonly opts: TablesValidatorOptions,
  ) {
    const first = tables();
    super(optionsFor(first, opts));
    this.seen = first;
    this.inner = new CdsrValidator(optionsFor(first, opts));
  }

  private live(): CdsrValidator {
    const t = this.tables();
    if (t !== this.seen) {
      this.seen = t;
      this.inner = new CdsrValidator(optionsFor(t, this.opts));
    }
    return this.inner;
  }

  override zoneFor(facilityId: string | undefined): string | undefined {
    return this.live().zoneFor(facilityId);
  }

  override validateTransaction(value: unknown): Problem[] {
    return this.live().validateTransaction(value);
  }

  override checkHeader(header: Readonly<Record<string, unknown>>, encounters: EncountersShape): Problem[] {
    return this.live().checkHeader(header, encounters);
  }

  override validateEncounter(value: unknown, index: number, facilityId?: string): Problem[] {
    return this.live().validateEncounter(value, index, facilityId);
  }
}
