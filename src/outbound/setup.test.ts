// Wiring of the ACR Connect credentials: the ACR_REFRESH_TOKEN flow keeps what ACR rotates in the
// store when CDSR_SECRET_KEY is set, and says at start-up that it cannot when it is not; a refresh
// token ACR refuses is said in the log either way.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../config.js';
import { MemoryCredentials } from '../../test/credentials.js';
import { buildSandbox } from '../sandbox/server.js';
import { configuredNrdr } from './setup.js';

const BASE = {
  NRDR_BASE_URL: 'http://127.0.0.1:9/NonPQRSapi/cdsr/transactions',
  NRDR_PARTNER_ID: '10000',
  NRDR_APP_ID: '10019',
  ACR_TOKEN_URL: 'http://127.0.0.1:9/connect/token',
  ACR_CLIENT_ID: 'client',
};

function wired(env: Record<string, string>): { warnings: string[] } {
  const warnings: string[] = [];
  const log = { info: () => undefined, warn: (o: object, m: string) => void warnings.push(`${JSON.stringify(o)} ${m}`) };
  configuredNrdr(loadConfig({ ...BASE, ...env }))?.keepTokensIn?.(new MemoryCredentials(), log);
  return { warnings };
}

describe('outbound wiring: where a rotated refresh token is kept', () => {
  it('ACR_REFRESH_TOKEN without CDSR_SECRET_KEY: a warning that a rotated token lives in memory only', () => {
    assert.deepEqual(wired({ ACR_REFRESH_TOKEN: 'r0' }).warnings, [
      '{"event":"config","variable":"CDSR_SECRET_KEY"} ACR_REFRESH_TOKEN is set without CDSR_SECRET_KEY: a refresh token ACR rotates is kept in memory only, and after a restart the one in ACR_REFRESH_TOKEN is presented again (ACR refuses it once rotated)',
    ]);
  });

  it('ACR refusing the refresh token is said in the log, also without CDSR_SECRET_KEY', async () => {
    const sb = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] } });
    const url = await sb.app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const warnings: string[] = [];
      const log = { info: () => undefined, warn: (o: object, m: string) => void warnings.push(`${JSON.stringify(o)} ${m}`) };
      const target = configuredNrdr(loadConfig({ ...BASE, ACR_TOKEN_URL: `${url}/connect/token`, ACR_REFRESH_TOKEN: 'not-issued-by-acr' }))!;
      target.keepTokensIn?.(new MemoryCredentials(), log);
      await assert.rejects(target.tokens!.token(), { name: 'TokenError' });
      assert.deepEqual(warnings.slice(1), [
        '{"event":"acr_refresh_token_refused","status":400,"code":"invalid_grant"} ACR refused the refresh token: nothing is submitted until a new one is put in ACR_REFRESH_TOKEN (or an operator signs in at /auth/acr/start)',
      ]);
    } finally {
      await sb.app.close();
    }
  });

  it('with CDSR_SECRET_KEY, or with client credentials (nothing rotates), or a fixed ACR_TOKEN: no warning', () => {
    const key = Buffer.alloc(32, 3).toString('base64');
    assert.deepEqual(wired({ ACR_REFRESH_TOKEN: 'r0', CDSR_SECRET_KEY: key }).warnings, []);
    assert.deepEqual(wired({ ACR_CLIENT_SECRET: 's', ACR_REFRESH_TOKEN: 'r0' }).warnings, []);
    assert.deepEqual(wired({ ACR_TOKEN: 't', ACR_REFRESH_TOKEN: 'r0' }).warnings, []);
  });
});
