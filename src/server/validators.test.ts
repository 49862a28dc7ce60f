import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../../test/server.js';
import { compiledSchemas } from './validators.js';

describe('the routes’ validators', () => {
  it('are compiled once per process: a second application compiles no schema, and still refuses what its schema refuses', async () => {
    const first = await startTestServer();
    const after = compiledSchemas();
    await first.close();
    assert.ok(after > 10, `${after} schemas compiled by the first application`);
    const second = await startTestServer();
    try {
      assert.equal(compiledSchemas(), after);
      const r = await second.fetch('/api/records?nosuch=1');
      assert.equal(r.status, 400);
      assert.match(await r.text(), /nosuch/);
    } finally {
      await second.close();
    }
  });
});
