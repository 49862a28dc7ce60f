// How many cases each property test runs. `npm test` runs a quarter of a property's full depth (at
// least 25 cases, never more than the full depth): the suite a developer runs after each change
// stays short, and each run still draws new cases (fast-check's seed changes every run and is
// printed with any failure, so a failing case is replayed with that seed). CDSR_PROPERTY_RUNS=full
// runs every property at its full depth (what .ci/run does); a number scales the full depth by it
// (CDSR_PROPERTY_RUNS=4 for a long hunt).

/** The depth asked for through CDSR_PROPERTY_RUNS (unset: quick). */
export function propertyDepth(value: string | undefined): 'quick' | number {
  if (value === undefined || value === '' || value === 'quick') return 'quick';
  if (value === 'full') return 1;
  const x = Number(value);
  if (!Number.isFinite(x) || x <= 0) throw new Error(`CDSR_PROPERTY_RUNS=${value}: expected quick, full or a positive number to scale the full depth by`);
  return x;
}

/** The cases to run of a property whose full depth is `full`, at `depth`. */
export function runsAt(full: number, depth: 'quick' | number): number {
  if (depth === 'quick') return Math.min(full, Math.max(25, Math.round(full / 4)));
  return Math.max(1, Math.round(full * depth));
}

const depth = propertyDepth(process.env.CDSR_PROPERTY_RUNS);

/** The cases to run of a property whose full depth is `full`, at the depth this run was asked for. */
export const runs = (full: number): number => runsAt(full, depth);
