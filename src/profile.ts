// Connection profiles: which NRDR environment the adapter talks to (ACR's test environment or
// production, or the built-in sandbox), with that environment's endpoints, credentials and ids.
// CDSR_PROFILE selects one; a profile's settings are today's variable names with CDSR_<PROFILE>_
// in front (CDSR_TEST_NRDR_BASE_URL, CDSR_PRODUCTION_ACR_CLIENT_SECRET). The production profile
// falls back to today's unprefixed variables, so a deployment that sets only those keeps working;
// the test profile never reads them (they are production's). Without CDSR_PROFILE the profile is
// `production` when NRDR_BASE_URL is set, else `sandbox`. docs/operations.md "Connection profiles".

export const PROFILE_NAMES = ['sandbox', 'test', 'production'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** The settings a profile has: today's variable names (the production profile's fallbacks). */
export const PROFILE_SETTINGS = [
  'NRDR_BASE_URL',
  'NRDR_PARTNER_ID',
  'NRDR_APP_ID',
  'ACR_TOKEN_URL',
  'ACR_CLIENT_ID',
  'ACR_CLIENT_SECRET',
  'ACR_REFRESH_TOKEN',
  'ACR_TOKEN',
  'ACR_AUTHORIZE_URL',
  'ACR_REDIRECT_URL',
  'ACR_APP_NAME',
  'ACR_SCOPE',
  'FACILITY_ID',
] as const;
export type ProfileSetting = (typeof PROFILE_SETTINGS)[number];

/** The settings that are URLs (checked as such). */
export const PROFILE_URL_SETTINGS: ReadonlySet<ProfileSetting> = new Set(['NRDR_BASE_URL', 'ACR_TOKEN_URL', 'ACR_AUTHORIZE_URL', 'ACR_REDIRECT_URL']);

/** The profiles named by prefixed variables. */
export const PREFIXED_PROFILES = ['TEST', 'PRODUCTION'] as const;
type Prefixed = (typeof PREFIXED_PROFILES)[number];

/** A profile's own variable for a setting: CDSR_TEST_NRDR_BASE_URL. */
export type ProfileVariable = `CDSR_${Prefixed}_${ProfileSetting}`;
export const profileVariable = (profile: Prefixed, setting: ProfileSetting): ProfileVariable => `CDSR_${profile}_${setting}`;

/** The built-in sandbox's ids (the spec's sample PartnerID 10000 and test AppID 10019). */
const SANDBOX_IDS = { partnerId: '10000', appId: '10019' } as const;

/** One NRDR environment and how to reach it. Never logged whole: it holds secrets. */
export interface ConnectionProfile {
  readonly name: ProfileName;
  /** How it was chosen: CDSR_PROFILE, or from today's variables (NRDR_BASE_URL set or not). */
  readonly selectedBy: 'CDSR_PROFILE' | 'default';
  /** undefined: the built-in sandbox. */
  readonly nrdrBaseUrl: string | undefined;
  readonly partnerId: string;
  readonly appId: string;
  readonly tokenUrl?: string;
  readonly clientId?: string;
  readonly clientSecret?: string;
  readonly refreshToken?: string;
  readonly token?: string;
  readonly authorizeUrl?: string;
  readonly redirectUrl?: string;
  readonly appName?: string;
  readonly scope?: string;
  /** The facility every transaction of this profile is sent as (the test facility ACR gave): test only. */
  readonly facilityId?: string;
  /** Records leave only through the de-identification step (outbound/deidentify.ts): test. */
  readonly deidentify: boolean;
  /** The variable each setting was read from (for messages that name it). */
  readonly variables: Readonly<Partial<Record<ProfileSetting, string>>>;
}

/** What a profile is resolved from: CDSR_PROFILE, today's variables and the prefixed ones. */
export type ProfileSource = { readonly CDSR_PROFILE?: ProfileName | undefined } & Readonly<Partial<Record<string, unknown>>>;

export interface ProfileIssue {
  readonly variable: string;
  readonly message: string;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

/** The profile's name: CDSR_PROFILE, else production with NRDR_BASE_URL (or CDSR_PRODUCTION_NRDR_BASE_URL), else sandbox. */
export function profileName(c: ProfileSource): ProfileName {
  if (c.CDSR_PROFILE !== undefined) return c.CDSR_PROFILE;
  return text(c.NRDR_BASE_URL) !== undefined ? 'production' : 'sandbox';
}

/**
 * The profile that transactions and credentials written before profiles existed belong to: the
 * one today's variables describe (production when NRDR_BASE_URL or CDSR_PRODUCTION_NRDR_BASE_URL
 * is set, else the built-in sandbox), whichever profile is in force now.
 */
export function legacyProfileName(c: ProfileSource): 'production' | 'sandbox' {
  return text(c.NRDR_BASE_URL) !== undefined || text(c.CDSR_PRODUCTION_NRDR_BASE_URL) !== undefined ? 'production' : 'sandbox';
}

/** Reads the settings of a profile (no checks: profileIssues does those). */
function read(c: ProfileSource, name: ProfileName): { values: Partial<Record<ProfileSetting, string>>; variables: Partial<Record<ProfileSetting, string>> } {
  const values: Partial<Record<ProfileSetting, string>> = {};
  const variables: Partial<Record<ProfileSetting, string>> = {};
  for (const s of PROFILE_SETTINGS) {
    const own = name === 'sandbox' ? undefined : profileVariable(name === 'test' ? 'TEST' : 'PRODUCTION', s);
    const ownValue = own !== undefined ? text(c[own]) : undefined;
    // production falls back to today's names; test never does (they are production's); the
    // built-in sandbox reads today's names for what it offers (ids, sign-in name, redirect)
    const fallback = name === 'test' || s === 'FACILITY_ID' ? undefined : text(c[s]);
    const value = ownValue ?? fallback;
    // the variable the value came from; unset: the one to set
    const toSet = own === undefined || c.CDSR_PROFILE === undefined ? s : own;
    variables[s] = ownValue !== undefined ? own! : fallback !== undefined ? s : toSet;
    if (value !== undefined) values[s] = value;
  }
  return { values, variables };
}

/** Whatever is wrong with the profile in force, each naming the variable to set or fix. */
export function profileIssues(c: ProfileSource): ProfileIssue[] {
  const issues: ProfileIssue[] = [];
  const name = profileName(c);
  if (c.CDSR_PROFILE === undefined) {
    const prefixed = Object.keys(c).filter((k) => /^CDSR_(TEST|PRODUCTION)_(NRDR_|ACR_|FACILITY_ID$)/.test(k) && text(c[k]) !== undefined);
    if (prefixed.length > 0)
      issues.push({
        variable: 'CDSR_PROFILE',
        message: `must be set (test or production) when profile variables are set (${prefixed.sort().join(', ')}): the adapter does not guess which environment to talk to`,
      });
    // today's variables alone: their checks are the configuration's own, but never production's
    // endpoint at ACR's test environment
    issues.push(...environmentMixIssues(c));
    return issues;
  }
  const { values: v, variables } = read(c, name);
  const n = (s: ProfileSetting) => variables[s] ?? s;
  if (text(c.CDSR_PRODUCTION_FACILITY_ID) !== undefined)
    issues.push({
      variable: 'CDSR_PRODUCTION_FACILITY_ID',
      message: "only the test profile is sent as one facility: production sends each record's own (facilities.csv, CDSR_DEFAULT_FACILITY_ID); unset it",
    });
  if (name === 'sandbox') {
    if (text(c.NRDR_BASE_URL) !== undefined)
      issues.push({
        variable: 'CDSR_PROFILE',
        message: 'is sandbox (the built-in sandbox), but NRDR_BASE_URL is set: choose production, or unset NRDR_BASE_URL',
      });
    return issues;
  }
  const base = n('NRDR_BASE_URL');
  if (v.NRDR_BASE_URL === undefined) {
    const hint = name === 'production' ? `CDSR_PRODUCTION_NRDR_BASE_URL (or NRDR_BASE_URL)` : 'CDSR_TEST_NRDR_BASE_URL';
    issues.push({
      variable: profileVariable(name === 'test' ? 'TEST' : 'PRODUCTION', 'NRDR_BASE_URL'),
      message: `must be set when CDSR_PROFILE=${name}: set ${hint}`,
    });
    return issues;
  }
  for (const s of ['NRDR_PARTNER_ID', 'NRDR_APP_ID'] as const)
    if (v[s] === undefined)
      issues.push({
        variable: n(s),
        message: `must be set when ${base} is set (the ${s === 'NRDR_PARTNER_ID' ? 'PartnerID' : 'AppID'} ACR gave you for this environment)`,
      });
  const oauth = v.ACR_TOKEN_URL !== undefined && v.ACR_CLIENT_ID !== undefined && (v.ACR_CLIENT_SECRET !== undefined || v.ACR_REFRESH_TOKEN !== undefined);
  if (v.ACR_TOKEN === undefined && !oauth && v.ACR_AUTHORIZE_URL === undefined)
    issues.push({
      variable: n('ACR_TOKEN_URL'),
      message: `${base} needs ACR Connect credentials: ${n('ACR_TOKEN_URL')} + ${n('ACR_CLIENT_ID')} + ${n('ACR_CLIENT_SECRET')} (or ${n('ACR_REFRESH_TOKEN')}), ${n('ACR_TOKEN')}, or the sign-in (${n('ACR_AUTHORIZE_URL')} + ${n('ACR_TOKEN_URL')} + ${n('ACR_CLIENT_ID')} + ${n('ACR_REDIRECT_URL')})`,
    });
  if (v.ACR_AUTHORIZE_URL !== undefined)
    for (const s of ['ACR_TOKEN_URL', 'ACR_CLIENT_ID', 'ACR_REDIRECT_URL'] as const)
      if (v[s] === undefined) issues.push({ variable: n(s), message: `must be set when ${n('ACR_AUTHORIZE_URL')} is set (the sign-in needs it)` });
  if (name === 'test' && v.FACILITY_ID === undefined)
    issues.push({
      variable: 'CDSR_TEST_FACILITY_ID',
      message: 'must be set when CDSR_PROFILE=test: the test facility ACR gave you (every transaction under test is sent as it)',
    });
  issues.push(...environmentMixIssues(c));
  return issues;
}

/**
 * ACR's test environment (docs/cdsr-spec.md §4: the test endpoint's host). The
 * production profile never names it: records would go there as they are, not de-identified.
 */
export const ACR_TEST_HOSTS: readonly string[] = ['nrdr9x.acr.org'];

const endpointOf = (url: string): string => {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return url;
  }
};
const hostOf = (url: string): string | undefined => {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
};

/**
 * The production profile's endpoint is ACR's test environment, or the test and production
 * profiles name one endpoint: either would send records where they must not go. Checked whatever
 * profile is in force (and without CDSR_PROFILE: today's NRDR_BASE_URL is production's).
 */
function environmentMixIssues(c: ProfileSource): ProfileIssue[] {
  const issues: ProfileIssue[] = [];
  const own = text(c.CDSR_PRODUCTION_NRDR_BASE_URL);
  const production = own ?? text(c.NRDR_BASE_URL);
  const productionVar = own !== undefined ? 'CDSR_PRODUCTION_NRDR_BASE_URL' : 'NRDR_BASE_URL';
  const test = text(c.CDSR_TEST_NRDR_BASE_URL);
  const host = production !== undefined ? hostOf(production) : undefined;
  if (host !== undefined && ACR_TEST_HOSTS.includes(host))
    issues.push({
      variable: productionVar,
      message: `is ACR's test environment (${host}), where only test or de-identified data may go: make it the test profile (CDSR_PROFILE=test, CDSR_TEST_NRDR_BASE_URL and the other CDSR_TEST_ settings), which de-identifies every record`,
    });
  else if (production !== undefined && test !== undefined && endpointOf(production) === endpointOf(test))
    issues.push({
      variable: 'CDSR_TEST_NRDR_BASE_URL',
      message: `is the same endpoint as ${productionVar} (the production profile): the test profile must name ACR's test environment, production its production`,
    });
  return issues;
}

/**
 * The profile in force. The configuration was checked at load (profileIssues), so what this reads
 * is complete; call it wherever the environment to talk to is needed.
 */
export function activeProfile(c: ProfileSource): ConnectionProfile {
  const name = profileName(c);
  const { values: v, variables } = read(c, name);
  const sandbox = name === 'sandbox' || (name === 'production' && v.NRDR_BASE_URL === undefined);
  const opt = <K extends ProfileSetting, P extends string>(s: K, prop: P) => (v[s] !== undefined ? ({ [prop]: v[s] } as Record<P, string>) : {});
  return {
    name: sandbox && c.CDSR_PROFILE === undefined ? 'sandbox' : name,
    selectedBy: c.CDSR_PROFILE !== undefined ? 'CDSR_PROFILE' : 'default',
    nrdrBaseUrl: sandbox ? undefined : v.NRDR_BASE_URL,
    partnerId: v.NRDR_PARTNER_ID ?? SANDBOX_IDS.partnerId,
    appId: v.NRDR_APP_ID ?? SANDBOX_IDS.appId,
    ...opt('ACR_TOKEN_URL', 'tokenUrl'),
    ...opt('ACR_CLIENT_ID', 'clientId'),
    ...opt('ACR_CLIENT_SECRET', 'clientSecret'),
    ...opt('ACR_REFRESH_TOKEN', 'refreshToken'),
    ...opt('ACR_TOKEN', 'token'),
    ...opt('ACR_AUTHORIZE_URL', 'authorizeUrl'),
    ...opt('ACR_REDIRECT_URL', 'redirectUrl'),
    ...opt('ACR_APP_NAME', 'appName'),
    ...opt('ACR_SCOPE', 'scope'),
    ...(name === 'test' ? opt('FACILITY_ID', 'facilityId') : {}),
    deidentify: name === 'test',
    variables,
  };
}

/** What may be shown of a profile (the console, /api/auth, the start-up log): never a secret. */
export interface ProfileSummary {
  readonly name: ProfileName;
  readonly selectedBy: 'CDSR_PROFILE' | 'default';
  /** null: the built-in sandbox. */
  readonly nrdrUrl: string | null;
  readonly partnerId: string;
  readonly appId: string;
  readonly facilityId: string | null;
  readonly deidentified: boolean;
}

export function profileSummary(p: ConnectionProfile): ProfileSummary {
  return {
    name: p.name,
    selectedBy: p.selectedBy,
    nrdrUrl: p.nrdrBaseUrl ?? null,
    partnerId: p.partnerId,
    appId: p.appId,
    facilityId: p.facilityId ?? null,
    deidentified: p.deidentify,
  };
}
