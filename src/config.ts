// The one place that reads process.env: every environment variable, its default and its check.
// A bad value stops start-up with a message naming the variable.
import { z } from 'zod';

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const EnvSchema = z.object({
  CDSR_MAPPINGS_DIR: z.string().min(1).default('./mappings'),
  CDSR_DEFAULT_FACILITY_ID: optionalText,
  // The sandbox's ids (the spec's sample PartnerID and its test AppID) until ACR gives real ones.
  NRDR_PARTNER_ID: z.string().min(1).default('10000'),
  NRDR_APP_ID: z.string().min(1).default('10019'),
  CDSR_BATCH_MAX_ENCOUNTERS: z.coerce.number().int().min(1).max(10_000).default(100),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {}

export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const r = EnvSchema.safeParse(env);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
}
