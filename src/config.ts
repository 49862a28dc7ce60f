// The one place that reads process.env: every environment variable, its default and its check.
// A bad value stops start-up with a message naming the variable.
import { z } from 'zod';

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const optionalUrl = optionalText.refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), { message: 'must be an http(s) URL' });

const list = optionalText.transform((v) => (v === undefined ? [] : v.split(',').map((s) => s.trim()).filter((s) => s !== '')));

const port = z.coerce.number().int().min(1).max(65535);

const EnvSchema = z
  .object({
    PORT: port.default(8780),
    HOST: z.string().min(1).default('127.0.0.1'),
    CDSR_DATA_DIR: z.string().min(1).default('./data'),
    CDSR_DATABASE_URL: optionalText,
    CDSR_MAPPINGS_DIR: z.string().min(1).default('./mappings'),
    CDSR_DEFAULT_FACILITY_ID: optionalText,
    CDSR_INBOUND_API_KEYS: list,
    CDSR_MLLP_PORT: port.optional(),
    CDSR_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(100 * 1024 * 1024).default(1024 * 1024),
    CDSR_SQLITE_SYNCHRONOUS: z.enum(['FULL', 'NORMAL']).default('FULL'),
    // The sandbox's ids (the spec's sample PartnerID and its test AppID) until ACR gives real ones.
    NRDR_PARTNER_ID: z.string().min(1).default('10000'),
    NRDR_APP_ID: z.string().min(1).default('10019'),
    CDSR_BATCH_MAX_ENCOUNTERS: z.coerce.number().int().min(1).max(10_000).default(100),
    FHIR_SERVER_URL: optionalUrl,
    FHIR_SERVER_TOKEN: optionalText,
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((c, ctx) => {
    const loopback = c.HOST === '127.0.0.1' || c.HOST === '::1' || c.HOST === 'localhost';
    if (!loopback && c.CDSR_INBOUND_API_KEYS.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['CDSR_INBOUND_API_KEYS'],
        message: `must be set when HOST (${c.HOST}) is not a loopback address: senders must authenticate`,
      });
    }
    if (c.CDSR_DATABASE_URL !== undefined && !/^postgres(ql)?:\/\//.test(c.CDSR_DATABASE_URL)) {
      ctx.addIssue({ code: 'custom', path: ['CDSR_DATABASE_URL'], message: 'must be a postgres:// URL' });
    }
  });

export type Config = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {}

export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const r = EnvSchema.safeParse(env);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
}
