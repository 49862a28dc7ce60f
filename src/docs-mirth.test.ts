// The Mirth Connect channel that docs/mirth/ ships, against what the adapter takes: its HTTP Sender
// posts where POST /hl7v2 listens, with a content type and a key header the route reads, queues
// what cannot be delivered now, treats AE and AR as errors, and lets through exactly the message
// types mappings/hl7v2.yaml handles. Read from the files, so a changed route, content type or table
// fails here until the channel follows.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { SaxesParser } from 'saxes';
import { parse as parseYaml } from 'yaml';
import { PACKAGE_ROOT } from './paths.js';
import { HL7_TYPES } from './server/app.js';
import { lines, withTestServer } from '../test/server.js';

const CHANNEL_FILE = join(PACKAGE_ROOT, 'docs', 'mirth', 'cdsr-adapter-channel.xml');

interface Element {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: Element[];
  text: string;
}

/** The element tree of an XML text; saxes throws on anything not well formed, as Mirth's import would refuse it. */
function parseXml(xml: string): Element {
  const parser = new SaxesParser();
  const top: Element = { name: '', attrs: {}, children: [], text: '' };
  const open: Element[] = [top];
  parser.on('opentag', (tag) => {
    const el: Element = { name: tag.name, attrs: tag.attributes, children: [], text: '' };
    open[open.length - 1]!.children.push(el);
    open.push(el);
  });
  parser.on('text', (t) => (open[open.length - 1]!.text += t));
  parser.on('closetag', () => void open.pop());
  parser.write(xml).close();
  assert.equal(top.children.length, 1, 'one root element');
  return top.children[0]!;
}

/** The one child element at the end of a path of names (an error naming the path when there is none or several). */
function at(el: Element, ...path: string[]): Element {
  let cur = el;
  for (const [i, name] of path.entries()) {
    const found = cur.children.filter((c) => c.name === name);
    assert.equal(found.length, 1, `${[el.name, ...path.slice(0, i + 1)].join(' > ')}: ${found.length} elements`);
    cur = found[0]!;
  }
  return cur;
}

/** The text of a leaf element. */
function value(el: Element, ...path: string[]): string {
  const leaf = at(el, ...path);
  assert.deepEqual(
    leaf.children.map((c) => c.name),
    [],
    `${path.join(' > ')} is not a leaf`,
  );
  return leaf.text;
}

const channel = parseXml(readFileSync(CHANNEL_FILE, 'utf8'));
const connectors = at(channel, 'destinationConnectors').children;
const destination = connectors[0]!;
const http = at(destination, 'properties');
const queue = at(http, 'destinationConnectorProperties');

/** The HTTP Sender's headers, as Mirth 4 stores them: name → values. */
function headers(): [string, string[]][] {
  return at(http, 'headers').children.map((entry) => {
    assert.deepEqual(
      entry.children.map((c) => c.name),
      ['string', 'list'],
    );
    return [value(entry, 'string'), at(entry, 'list').children.map((v) => v.text)];
  });
}

/** The configuration map of a site, for the request Mirth would make. */
const SITE_MAP: Readonly<Record<string, string>> = { cdsrAdapterUrl: 'http://adapter.example:8780', cdsrSendKey: 'mirth-key-0001' };
/** Mirth's ${…} replacement with the configuration map (an unknown name fails: the README must name every entry). */
function replaced(template: string): string {
  return template.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    assert.ok(name in SITE_MAP, `\${${name}} is not one of the configuration map entries docs/mirth/README.md names`);
    return SITE_MAP[name]!;
  });
}

/** The message types of mappings/hl7v2.yaml (messages: - type:), as the adapter reads them. */
function handledTypes(): string[] {
  const doc = parseYaml(readFileSync(join(PACKAGE_ROOT, 'mappings', 'hl7v2.yaml'), 'utf8')) as { messages: { type: string }[] };
  return doc.messages.map((m) => m.type).sort();
}

/** The source filter's script run on an MSH-9 (E4X values are read through toString, as here). */
function filterAccepts(script: string, type: string): boolean {
  const [code, event] = type.split('^');
  const msg = { MSH: { 'MSH.9': { 'MSH.9.1': code, 'MSH.9.2': event } } };
  return runInNewContext(`(function () {\n${script}\n})()`, { msg }) as boolean;
}

const sample = (n: string) => readFileSync(join(PACKAGE_ROOT, 'samples', 'hl7v2', n), 'utf8');

describe('docs/mirth channel', () => {
  it('is a Mirth 4 channel: a Channel Reader source and one HTTP Sender destination', () => {
    assert.equal(channel.name, 'channel');
    const version = channel.attrs.version ?? '';
    assert.match(version, /^4\.\d+\.\d+$/);
    // every versioned element is of the channel's version, as Mirth's export writes them
    const versions = new Set<string>();
    const walk = (el: Element): void => {
      if (el.attrs.version !== undefined) versions.add(el.attrs.version);
      el.children.forEach(walk);
    };
    walk(channel);
    assert.deepEqual([...versions], [version]);
    assert.equal(value(channel, 'sourceConnector', 'transportName'), 'Channel Reader');
    assert.equal(at(channel, 'sourceConnector', 'properties').attrs.class, 'com.mirth.connect.connectors.vm.VmReceiverProperties');
    assert.equal(connectors.length, 1);
    assert.equal(value(destination, 'transportName'), 'HTTP Sender');
    assert.equal(value(destination, 'enabled'), 'true');
    assert.equal(http.attrs.class, 'com.mirth.connect.connectors.http.HttpDispatcherProperties');
  });

  it('posts the message as it is to /hl7v2, in a content type the route takes', () => {
    assert.equal(value(http, 'host'), '${cdsrAdapterUrl}/hl7v2');
    assert.equal(value(http, 'method'), 'post');
    assert.equal(value(http, 'content'), '${message.encodedData}');
    assert.equal(value(http, 'contentType'), 'x-application/hl7-v2+er7');
    assert.ok(HL7_TYPES.includes(value(http, 'contentType')));
    assert.equal(value(http, 'dataTypeBinary'), 'false');
    assert.equal(value(http, 'charset'), 'UTF-8');
    // the destination sends what the source received: no transformer, same data type
    assert.deepEqual(at(destination, 'transformer', 'elements').children, []);
    assert.equal(value(destination, 'transformer', 'outboundDataType'), 'HL7V2');
  });

  it('sends the key in Authorization: Bearer, from the configuration map, never written in the file', () => {
    assert.deepEqual(headers(), [['Authorization', ['Bearer ${cdsrSendKey}']]]);
    assert.equal(value(http, 'useHeadersVariable'), 'false');
    assert.equal(value(http, 'useAuthentication'), 'false');
    assert.equal(value(http, 'username'), '');
    assert.equal(value(http, 'password'), '');
    const readme = readFileSync(join(PACKAGE_ROOT, 'docs', 'mirth', 'README.md'), 'utf8');
    for (const name of Object.keys(SITE_MAP)) assert.ok(readme.includes(`\`${name}\``), `docs/mirth/README.md names ${name}`);
  });

  it("the request Mirth makes, with a site's configuration map, is answered AA by the adapter; a wrong key is refused", () =>
    withTestServer(
      async (s) => {
        const url = new URL(replaced(value(http, 'host')));
        assert.equal(url.origin, SITE_MAP.cdsrAdapterUrl);
        const send = (key: string) =>
          s.fetch(url.pathname, {
            method: value(http, 'method').toUpperCase(),
            body: sample('01-orm-new.hl7'),
            headers: {
              'content-type': value(http, 'contentType'),
              ...Object.fromEntries(headers().map(([name, [v]]) => [name, replaced(v!).replace(SITE_MAP.cdsrSendKey!, key)])),
            },
          });
        const ok = await send(SITE_MAP.cdsrSendKey!);
        assert.equal(ok.status, 200);
        assert.deepEqual(lines(await ok.text()).slice(1), ['MSA|AA|MSG0001']);
        assert.equal((await send('another-key')).status, 401);
      },
      { roles: { CDSR_SEND_API_KEYS: [SITE_MAP.cdsrSendKey!] } },
    ));

  it('queues what cannot be delivered now, retries it every 10 s with no limit, and never resends an AE or AR', () => {
    assert.equal(value(queue, 'queueEnabled'), 'true');
    assert.equal(value(queue, 'sendFirst'), 'true'); // Queue: On Failure
    assert.equal(value(queue, 'retryIntervalMillis'), '10000');
    // Mirth's queue retries without a limit on its own; retryCount is the retries *before* queueing,
    // and those would resend an ERROR too, which is what an AE becomes (fix the table, then replay)
    assert.equal(value(queue, 'retryCount'), '0');
    // one thread, no rotation: a message waiting in the queue holds back the later ones, in order
    assert.equal(value(queue, 'threadCount'), '1');
    assert.equal(value(queue, 'rotate'), 'false');
  });

  it('validates the response as HL7 v2: AA sent, AE and AR errors, as the adapter answers them', () =>
    withTestServer(async (s) => {
      assert.equal(value(queue, 'validateResponse'), 'true');
      const response = at(destination, 'responseTransformer');
      assert.equal(value(response, 'inboundDataType'), 'HL7V2');
      const v = at(response, 'inboundProperties', 'responseValidationProperties');
      const codes = (name: string) => value(v, name).split(',');
      assert.equal(value(v, 'validateMessageControlId'), 'true');
      const classOf = (msa1: string) =>
        [
          codes('successfulACKCode').includes(msa1) && 'sent',
          codes('errorACKCode').includes(msa1) && 'error',
          codes('rejectedACKCode').includes(msa1) && 'rejected',
        ].filter(Boolean);
      const orm = sample('01-orm-new.hl7');
      const answers: [string, string][] = [];
      for (const body of [
        orm,
        // a modality code with no crosswalk row: AE
        orm.replace('MSG0001', 'MSG0101').replace('|CT|SC', '|ZZ|SC').replace('^CPT|', '^L|'),
        // a message type the tables do not handle: AR
        orm.replace('MSG0001', 'MSG0102').replace('ORM^O01^ORM_O01', 'ADT^A01^ADT_A01'),
      ]) {
        const r = await s.fetch('/hl7v2', { method: 'POST', body, headers: { 'content-type': value(http, 'contentType') } });
        const msa = lines(await r.text())
          .find((l) => l.startsWith('MSA|'))!
          .split('|');
        answers.push([msa[1]!, msa[2]!]);
      }
      assert.deepEqual(answers, [
        ['AA', 'MSG0001'],
        ['AE', 'MSG0101'],
        ['AR', 'MSG0102'],
      ]);
      assert.deepEqual(
        answers.map(([msa1]) => classOf(msa1)),
        [['sent'], ['error'], ['rejected']],
      );
    }));

  it('lets through exactly the message types mappings/hl7v2.yaml handles', () => {
    const rules = at(channel, 'sourceConnector', 'filter', 'elements').children;
    assert.deepEqual(
      rules.map((r) => [r.name, value(r, 'enabled')]),
      [['com.mirth.connect.plugins.javascriptrule.JavaScriptRule', 'true']],
    );
    const script = value(rules[0]!, 'script');
    const listed = /var handled = \[([^\]]*)\];/.exec(script)?.[1];
    assert.ok(listed !== undefined, 'the filter lists its types in `var handled = [...]`');
    const types = [...listed.matchAll(/'([^']*)'/g)].map((m) => m[1]!).sort();
    assert.deepEqual(types, handledTypes());
    for (const t of handledTypes()) assert.equal(filterAccepts(script, t), true, t);
    for (const t of ['ADT^A01', 'SIU^S12', 'ORM^O02', 'ORU^R30', 'OMI^O24']) assert.equal(filterAccepts(script, t), false, t);
  });
});
