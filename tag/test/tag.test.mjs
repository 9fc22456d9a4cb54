import { test } from 'node:test';
import assert from 'node:assert/strict';
import { page, Storage, SNIPPET } from './browser.mjs';

const load = `sillage.load({writeKey: 'wk', host: 'https://c.example'});`;

test('calls queued in the snippet stub are replayed in order after load', async () => {
  const p = page({
    before: SNIPPET + `sillage.track('Early', {a: 1}); sillage.load({writeKey: 'wk', host: 'https://c.example/'}); sillage.identify('u1', {plan: 'pro'});`,
  });
  await p.flush();
  assert.deepEqual(p.sent.map((s) => s.body.type + ':' + (s.body.event || '')), ['track:Early', 'page:', 'identify:']);
  assert.deepEqual(p.sent.map((s) => s.url), ['https://c.example/v1/track', 'https://c.example/v1/page', 'https://c.example/v1/identify']);
  const [track, pv, identify] = p.sent.map((s) => s.body);
  assert.equal(track.writeKey, 'wk');
  assert.deepEqual(track.properties, { a: 1 });
  assert.equal(pv.properties.url, 'https://shop.example/p/1?x=1');
  assert.equal(pv.properties.referrer, 'https://ref.example/');
  assert.equal(pv.context.page.path, '/p/1');
  assert.equal(pv.context.userAgent, 'FakeBrowser/1.0');
  assert.equal(pv.context.locale, 'fr-FR');
  assert.equal(pv.context.library.name, 'sillage.js');
  assert.equal(identify.userId, 'u1');
  assert.deepEqual(identify.traits, { plan: 'pro' });
  for (const { body, init } of p.sent) {
    assert.match(body.messageId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!Number.isNaN(Date.parse(body.timestamp)) && !Number.isNaN(Date.parse(body.sentAt)));
    assert.equal(init.keepalive, true);
    assert.equal(init.headers, undefined, 'no custom header, so no CORS preflight');
  }
  assert.equal(new Set(p.sent.map((s) => s.body.messageId)).size, 3);

  // A call through the old stub reference after load goes straight through.
  p.run(`s.track('Late')`);
  await p.flush();
  assert.equal(p.sent.at(-1).body.event, 'Late');
});

test('the host defaults to where tag.js was loaded from; data-write-key loads without a snippet', async () => {
  const p = page({ attrs: { 'data-write-key': 'wk2' } });
  await p.flush();
  assert.equal(p.sent.length, 1);
  assert.equal(p.sent[0].url, 'https://collector.example/v1/page');
  assert.equal(p.sent[0].body.writeKey, 'wk2');
});

test('page: false in load skips the automatic page view; load twice is ignored', async () => {
  const p = page({ before: SNIPPET + `sillage.load({writeKey: 'wk', page: false}); sillage.load({writeKey: 'other'});` });
  await p.flush();
  assert.equal(p.sent.length, 0);
});

test('before analytics consent nothing is stored and the anonymous id lives only in this page load', async () => {
  const storage = new Storage();
  const first = page({ storage, before: SNIPPET + load + `sillage.track('A'); sillage.identify('u1');` });
  await first.flush();
  assert.deepEqual(storage.writes, []);
  const ids = new Set(first.sent.map((s) => s.body.anonymousId));
  assert.equal(ids.size, 1, 'one id for the whole page load');
  for (const s of first.sent) assert.equal(s.body.context.consent, undefined, 'no consent given: none claimed');

  const second = page({ storage, before: SNIPPET + load });
  await second.flush();
  assert.notEqual(second.sent[0].body.anonymousId, first.sent[0].body.anonymousId, 'a later page load is not linkable');
  assert.equal(second.sent[0].body.userId, undefined, 'the user id was not persisted');
});

test('a denial is sent with every event and stores only the choice', async () => {
  const storage = new Storage();
  const p = page({ storage, before: SNIPPET + load + `sillage.consent({analytics: false, marketing: false}); sillage.track('A');` });
  await p.flush();
  assert.deepEqual(storage.keys(), ['sillage_consent']);
  assert.deepEqual(p.sent.at(-1).body.context.consent, { categoryPreferences: { analytics: false, marketing: false } });
});

test('analytics consent persists this page load\'s id and the user id, reused on the next visit', async () => {
  const storage = new Storage();
  const p = page({ storage, before: SNIPPET + load + `sillage.track('Before');` });
  await p.flush();
  const memId = p.sent[0].body.anonymousId;
  p.run(`sillage.consent({analytics: true, marketing: false}); sillage.identify('u9'); sillage.track('After');`);
  await p.flush();
  assert.deepEqual(storage.keys(), ['sillage_aid', 'sillage_consent', 'sillage_uid']);
  assert.equal(storage.getItem('sillage_aid'), memId, 'the events of this page load stay linked');
  const after = p.sent.at(-1).body;
  assert.equal(after.anonymousId, memId);
  assert.equal(after.userId, 'u9');
  assert.deepEqual(after.context.consent, { categoryPreferences: { analytics: true, marketing: false } });
  assert.deepEqual(JSON.parse(p.run(`JSON.stringify(sillage.consent())`)), { analytics: true, marketing: false });

  const next = page({ storage, before: SNIPPET + load });
  await next.flush();
  assert.equal(next.sent[0].body.anonymousId, memId);
  assert.equal(next.sent[0].body.userId, 'u9');
  assert.deepEqual(next.sent[0].body.context.consent, { categoryPreferences: { analytics: true, marketing: false } });
});

test('withdrawing analytics consent deletes the identifiers and starts a new in-memory id', async () => {
  const storage = new Storage();
  const p = page({ storage, before: SNIPPET + load + `sillage.consent({analytics: true}); sillage.identify('u1'); sillage.consent({analytics: false}); sillage.track('X');` });
  await p.flush();
  assert.deepEqual(storage.keys(), ['sillage_consent']);
  const x = p.sent.at(-1).body;
  assert.notEqual(x.anonymousId, p.sent[0].body.anonymousId);
  assert.equal(x.userId, undefined);
});

test('5xx and 429 are retried with backoff and the same messageId; 4xx is not', async () => {
  const p = page({ status: (n) => [503, 429, 200][n] ?? 200, before: SNIPPET + `sillage.load({writeKey: 'wk', page: false}); sillage.track('R');` });
  await p.flush();
  assert.equal(p.timers.length, 1);
  assert.ok(p.timers[0].ms >= 1000 && p.timers[0].ms <= 2000);
  p.timers.shift().fn();
  await p.flush();
  assert.equal(p.timers.length, 1);
  assert.ok(p.timers[0].ms >= 2000 && p.timers[0].ms <= 4000);
  p.timers.shift().fn();
  await p.flush();
  assert.equal(p.timers.length, 0);
  assert.equal(p.sent.length, 3);
  assert.equal(new Set(p.sent.map((s) => s.body.messageId)).size, 1);

  const q = page({ status: 400, before: SNIPPET + `sillage.load({writeKey: 'wk', page: false}); sillage.track('R');` });
  await q.flush();
  assert.equal(q.timers.length, 0);
});

test('when the page is hidden events go by sendBeacon', async () => {
  const p = page({ before: SNIPPET + `sillage.load({writeKey: 'wk', page: false});` });
  p.win.document.visibilityState = 'hidden';
  p.run(`sillage.track('Leaving')`);
  await p.flush();
  assert.deepEqual(p.sent.map((s) => s.via + ':' + s.body.event), ['beacon:Leaving']);
});

test('unknown methods in the queue and bad arguments are ignored', async () => {
  const p = page({ before: `window.sillage = [['nope', 1], ['track'], ['load', {writeKey: 'wk', page: false}], ['track', 'ok']];` });
  await p.flush();
  assert.deepEqual(p.sent.map((s) => s.body.event), ['ok']);
});

test('broken localStorage does not break tracking', async () => {
  const storage = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('quota'); }, removeItem() { throw new Error('x'); } };
  const p = page({ storage, before: SNIPPET + load + `sillage.consent({analytics: true}); sillage.track('A');` });
  await p.flush();
  assert.equal(p.sent.at(-1).body.event, 'A');
  assert.ok(p.sent.at(-1).body.anonymousId);
});
