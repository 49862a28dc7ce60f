// `cdsr-adapter subscribe` as a process: the options reach the command, the key is read from the
// variable --key-env names (there is no option that takes it), and neither the key nor the EHR
// token is printed. The stub FHIR server runs in this process, so the command is spawned without
// blocking it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startFhirStub } from '../../test/fhir-stub.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { BACKPORT_PROFILE, BACKPORT_TOPIC_CANONICAL } from '../fhir/subscription.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
const TOPIC = 'http://ehr.example.org/SubscriptionTopic/imaging-order';

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((ok, fail) => {
    // only what the command needs: PATH for node, the variables under test
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) => ok({ code, out, err }));
  });
}

describe('cdsr-adapter subscribe (the process)', () => {
  it('creates from the options and the variables, then finds it again; the key and the token are never printed', async () => {
    const stub = await startFhirStub({
      resourceType: 'CapabilityStatement',
      fhirVersion: '4.0.1',
      rest: [
        {
          mode: 'server',
          resource: [{ type: 'Subscription', supportedProfile: [BACKPORT_PROFILE], extension: [{ url: BACKPORT_TOPIC_CANONICAL, valueCanonical: TOPIC }] }],
        },
      ],
    });
    try {
      const env = { ADAPTER_SEND_KEY: 'k-proc-93e1', EHR_TOKEN: 't-proc-11aa' };
      const args = [
        'subscribe',
        '--fhir-server',
        stub.base,
        '--endpoint',
        'https://cdsr.example.org/fhir',
        '--key-env',
        'ADAPTER_SEND_KEY',
        '--token-env',
        'EHR_TOKEN',
      ];
      const first = await run([...args, '--payload', 'id-only'], env);
      assert.equal(first.code, 0, first.err);
      assert.equal(
        first.out,
        `created Subscription/sub-1 at ${stub.base} (R4 backport form, topic ${TOPIC}, payload id-only); status requested\n` +
          'the EHR makes it active after its handshake reaches https://cdsr.example.org/fhir: check with --show\n',
      );
      const posted = stub.requests.find((r) => r.method === 'POST');
      assert.equal(posted?.authorization, 'Bearer t-proc-11aa');
      assert.deepEqual((posted?.body as { channel: { header: string[] } }).channel.header, ['Authorization: Bearer k-proc-93e1']);
      const second = await run([...args, '--payload', 'id-only', '--show'], env);
      assert.equal(second.code, 0, second.err);
      assert.match(second.out, /^1 Subscription\(s\) at .* point at https:\/\/cdsr\.example\.org\/fhir \(FHIR 4\.0\.1\):\n/);
      assert.match(second.out, /\nsub-1 +requested +http:\/\/ehr\.example\.org\/SubscriptionTopic\/imaging-order +id-only +Authorization: \*\*\*\*\n$/);
      for (const r of [first, second]) for (const secret of Object.values(env)) assert.ok(!(r.out + r.err).includes(secret), secret);
      // a key cannot be given on the command line
      const refused = await run([...args, '--key', 'k-proc-93e1'], env);
      assert.equal(refused.code, 1);
      assert.match(refused.err, /^error: unknown option '--key'/);
      assert.equal(stub.subscriptions.size, 1);
    } finally {
      await stub.close();
    }
  });
});
