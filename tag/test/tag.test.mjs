import { test } from 'node:test';
import assert from 'node:assert/strict';
import { page, Storage, SNIPPET } from './browser.mjs';

const load = `sillage.load({writeKey: 'wk', host: 'https://c.example'});`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('calls queued in the snippet stub are replayed in order after load, in one batch', async () => {
  const p = page({
    before: SNIPPET + `sillage.track('Early', {a: 1}); sillage.load({writeKey: 'wk', host: 'https://c.example/'}); sillage.identify('u1', {plan: 'pro'});`,
  });
  await p.flush();
  assert.equal(p.sent.length, 1, 'one request');
  const [req] = p.sent;
  assert.equal(req.url, 'https://c.example/v1/batch');
  assert.equal(req.body.writeKey, 'wk');
  assert.ok(!Number.isNaN(Date.parse(req.body.sentAt)));
  assert.equal(req.init.keepalive, true);
  assert.equal(req.init.credentials, 'omit');
  assert.equal(req.init.headers, undefined, 'no custom header, so no CORS preflight');
  assert.deepEqual(p.events().map((e) => e.type + ':' + (e.event || '')), ['track:Early', 'page:', 'identify:']);
  const [track, pv, identify] = p.events();
  assert.deepEqual(track.properties, { a: 1 });
  assert.equal(pv.properties.url, 'https://shop.example/p/1?x=1');
  assert.equal(pv.properties.referrer, 'https://ref.example/');
  assert.equal(pv.context.page.path, '/p/1');
  assert.equal(pv.context.userAgent, 'FakeBrowser/1.0');
  assert.equal(pv.context.locale, 'fr-FR');
  assert.equal(pv.context.library.name, 'sillage.js');
  assert.equal(identify.userId, 'u1');
  assert.deepEqual(identify.traits, { plan: 'pro' });
  for (const e of p.events()) {
    assert.match(e.messageId, UUID);
    assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
  }
  assert.equal(new Set(p.events().map((e) => e.messageId)).size, 3);

  // A call through the old stub reference after load goes straight through.
  p.run(`s.track('Late')`);
  await p.flush();
  assert.equal(p.events().at(-1).event, 'Late');
});

test('the host defaults to where tag.js was loaded from; data-write-key loads without a snippet', async () => {
  const p = page({ attrs: { 'data-write-key': 'wk2' } });
  await p.flush();
  assert.equal(p.sent.length, 1);
  assert.equal(p.sent[0].url, 'https://collector.example/v1/batch');
  assert.equal(p.sent[0].body.writeKey, 'wk2');
  assert.equal(p.events()[0].type, 'page');
});

test('page: false in load skips the automatic page view; load twice is ignored', async () => {
  const p = page({ before: SNIPPET + `sillage.load({writeKey: 'wk', page: false}); sillage.load({writeKey: 'other'});` });
  await p.flush();
  assert.equal(p.sent.length, 0);
  p.run(`history.pushState({}, '', '/other')`);
  await p.flush();
  assert.equal(p.sent.length, 0, 'no automatic page views at all');
});

test('single-page-app navigation: one page view per URL change, none for the same URL', async () => {
  const p = page({ before: SNIPPET + load });
  await p.flush();
  p.run(`history.replaceState({}, '', location.href)`); // a router settling on load
  await p.flush();
  assert.equal(p.events().length, 1, 'no double first page view');
  p.run(`history.pushState({}, '', '/cart'); document.title = 'Cart'`);
  await p.flush();
  p.run(`history.replaceState({}, '', '/cart?step=2')`);
  await p.flush();
  p.run(`history.pushState({}, '', '/a'); history.pushState({}, '', '/b')`); // a redirect: one view
  await p.flush();
  p.run(`location.href = 'https://shop.example/cart'; location.pathname = '/cart'`);
  p.win.dispatch('popstate');
  await p.flush();
  const pages = p.events().filter((e) => e.type == 'page');
  assert.deepEqual(pages.map((e) => e.properties.url), [
    'https://shop.example/p/1?x=1', 'https://shop.example/cart', 'https://shop.example/cart?step=2',
    'https://shop.example/b', 'https://shop.example/cart',
  ]);
  assert.equal(pages[1].properties.title, 'Cart', 'the title the app set');
  assert.equal(pages[1].properties.referrer, 'https://shop.example/p/1?x=1', 'the previous page is the referrer');
  assert.equal(pages[1].context.page.referrer, 'https://shop.example/p/1?x=1');
  assert.equal(new Set(pages.map((e) => e.messageId)).size, 5);
});

test('history: false keeps the first page view only', async () => {
  const p = page({ before: SNIPPET + `sillage.load({writeKey: 'wk', history: false});` });
  p.run(`history.pushState({}, '', '/other')`);
  await p.flush();
  assert.equal(p.events().length, 1);
});

test('before analytics consent nothing is stored and the anonymous id lives only in this page load', async () => {
  const storage = new Storage();
  const first = page({ storage, status: 0, before: SNIPPET + load + `sillage.track('A'); sillage.identify('u1');` });
  await first.tick(5000); // failing deliveries are not stored either
  assert.deepEqual(storage.writes, []);
  const ids = new Set(first.events().map((e) => e.anonymousId));
  assert.equal(ids.size, 1, 'one id for the whole page load');
  for (const e of first.events()) assert.equal(e.context.consent, undefined, 'no consent given: none claimed');

  const second = page({ storage, before: SNIPPET + load });
  await second.flush();
  assert.equal(second.events().length, 1, 'nothing carried over from the first page');
  assert.notEqual(second.events()[0].anonymousId, first.events()[0].anonymousId, 'a later page load is not linkable');
  assert.equal(second.events()[0].userId, undefined, 'the user id was not persisted');
});

test('a denial is sent with every event and stores only the choice', async () => {
  const storage = new Storage();
  const p = page({ storage, before: SNIPPET + load + `sillage.consent({analytics: false, marketing: false}); sillage.track('A');` });
  await p.flush();
  assert.deepEqual(storage.keys(), ['sillage_consent']);
  assert.deepEqual(p.events().at(-1).context.consent, { categoryPreferences: { analytics: false, marketing: false } });
});

test('analytics consent persists this page load\'s id and the user id, reused on the next visit', async () => {
  const storage = new Storage();
  const p = page({ storage, before: SNIPPET + load + `sillage.track('Before');` });
  await p.flush();
  const memId = p.events()[0].anonymousId;
  p.run(`sillage.consent({analytics: true, marketing: false}); sillage.identify('u9'); sillage.track('After');`);
  await p.flush();
  assert.deepEqual(storage.keys(), ['sillage_aid', 'sillage_consent', 'sillage_uid'], 'the delivered queue is not kept');
  assert.equal(storage.getItem('sillage_aid'), memId, 'the events of this page load stay linked');
  const after = p.events().at(-1);
  assert.equal(after.anonymousId, memId);
  assert.equal(after.userId, 'u9');
  assert.deepEqual(after.context.consent, { categoryPreferences: { analytics: true, marketing: false } });
  assert.deepEqual(JSON.parse(p.run(`JSON.stringify(sillage.consent())`)), { analytics: true, marketing: false });

  const next = page({ storage, before: SNIPPET + load });
  await next.flush();
  assert.equal(next.events()[0].anonymousId, memId);
  assert.equal(next.events()[0].userId, 'u9');
  assert.deepEqual(next.events()[0].context.consent, { categoryPreferences: { analytics: true, marketing: false } });
});

test('withdrawing analytics consent deletes the identifiers and starts a new in-memory id', async () => {
  const storage = new Storage();
  const p = page({ storage, before: SNIPPET + load + `sillage.consent({analytics: true}); sillage.identify('u1'); sillage.consent({analytics: false}); sillage.track('X');` });
  await p.flush();
  assert.deepEqual(storage.keys(), ['sillage_consent']);
  const x = p.events().at(-1);
  assert.notEqual(x.anonymousId, p.events()[0].anonymousId);
  assert.equal(x.userId, undefined);
});

test('network errors, 408, 429 and 5xx are retried with backoff and the same messageIds; other 4xx are not', async () => {
  const p = page({ status: (n) => [503, 0, 429, 408][n] ?? 200, before: SNIPPET + `sillage.load({writeKey: 'wk', page: false}); sillage.track('R');` });
  await p.flush();
  const waits = [];
  for (let i = 0; i < 4; i++) {
    const [ms] = p.timers();
    waits.push(ms);
    await p.tick(ms);
  }
  assert.equal(p.sent.length, 5);
  assert.deepEqual(p.timers(), [], 'delivered: nothing more to do');
  for (const [i, ms] of waits.entries()) assert.ok(ms >= 1000 * 2 ** i && ms <= 2000 * 2 ** i, `wait ${i}: ${ms} ms`);
  assert.equal(new Set(p.events().map((e) => e.messageId)).size, 1);

  const q = page({ status: 400, before: SNIPPET + `sillage.load({writeKey: 'wk', page: false}); sillage.track('R');` });
  await q.tick(60000);
  assert.equal(q.sent.length, 1);
});

test('events made during a failing delivery wait for it and go together afterwards', async () => {
  let fail = true;
  const p = page({ status: () => (fail ? 503 : 200), before: SNIPPET + `sillage.load({writeKey: 'wk', page: false}); sillage.track('A');` });
  await p.flush();
  p.run(`sillage.track('B'); sillage.track('C')`);
  await p.flush();
  assert.equal(p.sent.length, 1, 'no request while backing off');
  fail = false;
  await p.tick(2000);
  assert.equal(p.sent.length, 2);
  assert.deepEqual(p.sent[1].body.batch.map((e) => e.event), ['A', 'B', 'C']);
  assert.equal(p.sent[1].body.batch[0].messageId, p.sent[0].body.batch[0].messageId);
});

test('offline: nothing is tried until the browser is online again', async () => {
  const p = page({ before: SNIPPET + `sillage.load({writeKey: 'wk', page: false});` });
  p.win.navigator.onLine = false;
  p.run(`sillage.track('A'); sillage.track('B')`);
  await p.tick(60000);
  assert.equal(p.sent.length, 0);
  p.win.navigator.onLine = true;
  p.win.dispatch('online');
  await p.flush();
  assert.deepEqual(p.events().map((e) => e.event), ['A', 'B']);
});

test('with analytics consent the undelivered queue is stored and sent by the next page, once', async () => {
  const storage = new Storage();
  const p = page({ storage, status: 0, before: SNIPPET + `sillage.consent({analytics: true});` + load + `sillage.track('A');` });
  await p.flush();
  const stored = JSON.parse(storage.getItem('sillage_queue'));
  assert.deepEqual(stored.map((e) => e.type + ':' + (e.event || '')), ['page:', 'track:A']);

  const next = page({ storage, before: SNIPPET + load });
  await next.flush();
  assert.deepEqual(next.events().map((e) => e.type + ':' + (e.event || '')), ['page:', 'track:A', 'page:']);
  assert.deepEqual(next.events().slice(0, 2).map((e) => e.messageId), stored.map((e) => e.messageId));
  assert.equal(storage.getItem('sillage_queue'), null, 'delivered: the stored queue is gone');
});

test('the queue is bounded: past 100 events the oldest are dropped', async () => {
  const p = page({ before: SNIPPET + `sillage.load({writeKey: 'wk', page: false});` });
  p.win.navigator.onLine = false;
  p.run(`for (var i = 0; i < 130; i++) sillage.track('E' + i)`);
  p.win.navigator.onLine = true;
  p.win.dispatch('online');
  await p.tick(1000);
  const names = p.events().map((e) => e.event);
  assert.equal(names.length, 100);
  assert.equal(names[0], 'E30');
  assert.equal(names.at(-1), 'E129');
  assert.ok(p.sent.every((s) => s.body.batch.length <= 20), 'at most 20 events a request');
});

test('batches stay under the keepalive limit; a larger event goes alone, without keepalive', async () => {
  const p = page({ before: SNIPPET + `sillage.load({writeKey: 'wk', page: false});` });
  p.win.navigator.onLine = false;
  p.run(`sillage.track('Small 1', {s: 'x'.repeat(9000)}); sillage.track('Small 2', {s: 'x'.repeat(9000)}); sillage.track('Huge', {s: 'é'.repeat(20000)}); sillage.track('Small 3')`);
  p.win.navigator.onLine = true;
  p.win.dispatch('online');
  await p.flush();
  assert.deepEqual(p.sent.map((s) => [s.body.batch.map((e) => e.event).join(','), s.init.keepalive]),
    [['Small 1', true], ['Small 2', true], ['Huge', false], ['Small 3', true]]);
});

test('when the page is hidden, pending events go by sendBeacon and are not kept for the next page', async () => {
  const storage = new Storage();
  const p = page({ storage, status: 0, before: SNIPPET + `sillage.consent({analytics: true}); sillage.load({writeKey: 'wk', page: false}); sillage.track('Failed');` });
  await p.flush(); // the first delivery failed; a retry waits
  p.win.document.visibilityState = 'hidden';
  p.win.dispatch('pagehide');
  p.run(`sillage.track('Leaving')`);
  assert.deepEqual(p.sent.map((s) => s.via + ':' + s.body.batch.map((e) => e.event)), ['fetch:Failed', 'beacon:Failed', 'beacon:Leaving']);
  assert.equal(p.sent[2].url, 'https://collector.example/v1/batch');
  assert.equal(storage.getItem('sillage_queue'), null);
});

test('a fetch in flight at unload is neither beaconed nor stored, though its promise fails; retried if the page comes back', async () => {
  const storage = new Storage();
  let fail;
  const p = page({
    storage,
    status: (n) => (n == 0 ? new Promise((resolve) => { fail = () => resolve(0); }) : 200),
    before: SNIPPET + `sillage.consent({analytics: true}); sillage.load({writeKey: 'wk', page: false}); sillage.track('InFlight');`,
  });
  await p.flush();
  assert.equal(p.sent.length, 1);
  p.win.document.visibilityState = 'hidden';
  p.win.dispatch('pagehide');
  fail(); // what Chromium does to a keepalive fetch's promise at unload; the request goes on
  await p.flush();
  p.win.document.dispatch('visibilitychange');
  assert.deepEqual(p.sent.map((s) => s.via), ['fetch'], 'not sent a second time');
  assert.equal(storage.getItem('sillage_queue'), null, 'not left for the next page either');

  p.win.document.visibilityState = 'visible'; // it was a tab switch after all
  p.win.document.dispatch('visibilitychange');
  await p.flush();
  assert.deepEqual(p.sent.map((s) => s.via + ':' + s.body.batch[0].event), ['fetch:InFlight', 'fetch:InFlight']);
  assert.equal(p.sent[1].body.batch[0].messageId, p.sent[0].body.batch[0].messageId);
});

test('an event made in a pagehide handler after the tag\'s own goes by sendBeacon', async () => {
  const p = page({ before: SNIPPET + `sillage.load({writeKey: 'wk', page: false});` });
  p.win.dispatch('pagehide'); // the page is still "visible" in some browsers at this point
  p.run(`sillage.track('Bye')`);
  assert.deepEqual(p.sent.map((s) => s.via + ':' + s.body.batch[0].event), ['beacon:Bye']);
});

test('leaving while offline keeps the pending events for the next page', async () => {
  const storage = new Storage();
  const p = page({ storage, before: SNIPPET + `sillage.consent({analytics: true}); sillage.load({writeKey: 'wk', page: false});` });
  p.win.navigator.onLine = false;
  p.run(`sillage.track('Offline')`);
  p.win.document.visibilityState = 'hidden';
  p.win.document.dispatch('visibilitychange');
  assert.equal(p.sent.length, 0);
  assert.deepEqual(JSON.parse(storage.getItem('sillage_queue')).map((e) => e.event), ['Offline']);
  // A closed tab can still hear "online" for a moment: the stored events
  // are the next page's to send, not this one's.
  p.win.dispatch('pagehide');
  p.win.navigator.onLine = true;
  p.win.dispatch('online');
  await p.flush();
  assert.equal(p.sent.length, 0);
  assert.deepEqual(JSON.parse(storage.getItem('sillage_queue')).map((e) => e.event), ['Offline']);
});

test('unknown methods in the queue and bad arguments are ignored', async () => {
  const p = page({ before: `window.sillage = [['nope', 1], ['track'], ['load', {writeKey: 'wk', page: false}], ['track', 'ok']];` });
  await p.flush();
  assert.deepEqual(p.events().map((e) => e.event), ['ok']);
});

test('broken localStorage does not break tracking', async () => {
  const storage = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('quota'); }, removeItem() { throw new Error('x'); } };
  const p = page({ storage, before: SNIPPET + load + `sillage.consent({analytics: true}); sillage.track('A');` });
  await p.flush();
  assert.equal(p.events().at(-1).event, 'A');
  assert.ok(p.events().at(-1).anonymousId);
});
