// alias, the product's three event helpers, Global Privacy Control and IAB
// TCF v2 (__tcfapi), in the fake browser of browser.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { page, Storage, SNIPPET } from './browser.mjs';

const load = `sillage.load({writeKey: 'wk', host: 'https://c.example', page: false});`;

test('alias sends userId and previousId, by default the current user id, else the anonymous id', async () => {
  const p = page({ before: SNIPPET + load + `sillage.alias('u2'); sillage.identify('u1'); sillage.alias('u3'); sillage.alias('u4', 'old'); sillage.alias(); sillage.track('After');` });
  await p.flush();
  const ev = p.events();
  assert.deepEqual(ev.map((e) => e.type), ['alias', 'identify', 'alias', 'alias', 'track'], 'alias() without a user id sends nothing');
  const [a1, , a2, a3, after] = ev;
  assert.deepEqual([a1.userId, a1.previousId], ['u2', a1.anonymousId]);
  assert.deepEqual([a2.userId, a2.previousId], ['u3', 'u1']);
  assert.deepEqual([a3.userId, a3.previousId], ['u4', 'old']);
  assert.equal(after.userId, 'u1', 'alias does not change the current user, as in analytics.js');
});

test('productViewed, productAdded and signedUp send the spec\'s events; the stub queues them', async () => {
  const p = page({
    before: SNIPPET + `sillage.productViewed({product_id: 'p1', price: 9.5}); sillage.productAdded({product_id: 'p1', quantity: 2});` +
      `sillage.signedUp('u7', {email: 'a@example.com'}, {method: 'email'}); sillage.signedUp('u8');` + load,
  });
  await p.flush();
  assert.deepEqual(p.events().map((e) => [e.type, e.event, e.userId, e.properties || e.traits]), [
    ['track', 'Product Viewed', undefined, { product_id: 'p1', price: 9.5 }],
    ['track', 'Product Added', undefined, { product_id: 'p1', quantity: 2 }],
    ['identify', undefined, 'u7', { email: 'a@example.com' }],
    ['track', 'Signed Up', 'u7', { method: 'email' }],
    ['identify', undefined, 'u8', {}],
    ['track', 'Signed Up', 'u8', {}],
  ]);
});

test('Global Privacy Control forces marketing and advertising off in what is sent, and says so', async () => {
  const storage = new Storage();
  const p = page({
    storage,
    before: `navigator.globalPrivacyControl = true;` + SNIPPET + load + `sillage.track('Before'); sillage.consent({analytics: true, marketing: true, advertising: true}); sillage.track('After');`,
  });
  await p.flush();
  const [before, after] = p.events();
  assert.deepEqual(before.context.consent, { categoryPreferences: { marketing: false, advertising: false }, gpc: true }, 'before any choice');
  assert.deepEqual(after.context.consent, { categoryPreferences: { analytics: true, marketing: false, advertising: false }, gpc: true });
  assert.deepEqual(JSON.parse(p.run(`JSON.stringify(sillage.consent())`)), { analytics: true, marketing: false, advertising: false });
  assert.deepEqual(JSON.parse(storage.getItem('sillage_consent')), { analytics: true, marketing: true, advertising: true }, 'the site\'s choice is kept as made');
  assert.ok(storage.getItem('sillage_aid'), 'analytics is not affected');

  for (const v of [false, undefined, 'true', 1]) {
    const q = page({ before: `navigator.globalPrivacyControl = ${JSON.stringify(v) ?? 'undefined'};` + SNIPPET + load + `sillage.track('A'); sillage.consent({marketing: true}); sillage.track('B');` });
    await q.flush();
    assert.equal(q.events()[0].context.consent, undefined, `globalPrivacyControl ${v}`);
    assert.deepEqual(q.events()[1].context.consent, { categoryPreferences: { marketing: true } }, `globalPrivacyControl ${v}`);
  }
});

// cmp returns JS defining a __tcfapi that keeps its listeners (fire(data)
// calls them, window.tcfCalls records the calls), answering at once with
// data when given.
function cmp(data) {
  return `
    var listeners = [];
    window.tcfCalls = [];
    window.__tcfapi = function (cmd, version, cb) {
      tcfCalls.push([cmd, version]);
      if (cmd !== 'addEventListener') return;
      listeners.push(cb);
      ${data ? `cb(${JSON.stringify(data)}, true);` : ''}
    };
    window.fire = function (d, ok) { listeners.forEach(function (cb) { cb(d, ok !== false); }); };
  `;
}

const purposes = (...n) => Object.fromEntries(n.map((i) => [i, true]));
const tc = (eventStatus, consents, extra = {}) => ({ tcString: 'CP-' + eventStatus, eventStatus, gdprApplies: true, purpose: { consents, legitimateInterests: purposes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11) }, ...extra });

test('TCF: each category is granted only by consent to all its purposes', async () => {
  const cases = [
    { consents: purposes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), want: { analytics: true, personalisation: true, marketing: true, advertising: true } },
    { consents: purposes(1, 8, 9), want: { analytics: true, personalisation: false, marketing: false, advertising: false } },
    { consents: purposes(8, 9, 5, 6), want: { analytics: false, personalisation: false, marketing: false, advertising: false }, name: 'no purpose 1' },
    { consents: purposes(1, 8), want: { analytics: false, personalisation: false, marketing: false, advertising: false } },
    { consents: purposes(1, 5, 6), want: { analytics: false, personalisation: true, marketing: false, advertising: false } },
    { consents: purposes(1, 3, 4), want: { analytics: false, personalisation: false, marketing: true, advertising: false } },
    { consents: purposes(1, 2, 3, 4, 7), want: { analytics: false, personalisation: false, marketing: true, advertising: true } },
    { consents: { 1: 'true', 8: 1, 9: true }, want: { analytics: false, personalisation: false, marketing: false, advertising: false }, name: 'only true counts' },
    { consents: {}, want: { analytics: false, personalisation: false, marketing: false, advertising: false } },
  ];
  for (const c of cases) {
    const p = page({ before: cmp(tc('tcloaded', c.consents)) + SNIPPET + `sillage.load({writeKey: 'wk'});` });
    await p.flush();
    assert.deepEqual(p.events()[0].context.consent, { categoryPreferences: { necessary: true, ...c.want }, tcf: 'CP-tcloaded' }, c.name || JSON.stringify(c.consents));
  }
});

test('TCF: the first page view carries the CMP\'s choice; a later user action changes it, as consent() does', async () => {
  const storage = new Storage();
  const p = page({ storage, before: cmp(tc('tcloaded', purposes(1, 8, 9))) + SNIPPET + `sillage.load({writeKey: 'wk'});` });
  await p.flush();
  assert.deepEqual(JSON.parse(p.run(`JSON.stringify(tcfCalls)`)), [['addEventListener', 2]]);
  const pv = p.events()[0];
  assert.equal(pv.context.consent.categoryPreferences.analytics, true);
  assert.equal(storage.getItem('sillage_aid'), pv.anonymousId, 'analytics granted: the id is persisted');

  p.run(`fire(${JSON.stringify(tc('cmpuishown', {}))})`); // not a choice
  p.run(`fire(${JSON.stringify(tc('useractioncomplete', {}))}, false)`); // not a success
  p.run(`sillage.track('Still')`);
  p.run(`fire(${JSON.stringify(tc('useractioncomplete', purposes(1, 2, 3, 4, 7)))})`);
  p.run(`sillage.track('Changed')`);
  await p.flush();
  const [, still, changed] = p.events();
  assert.deepEqual(still.context.consent, pv.context.consent);
  assert.deepEqual(changed.context.consent, {
    categoryPreferences: { necessary: true, analytics: false, personalisation: false, marketing: true, advertising: true },
    tcf: 'CP-useractioncomplete',
  });
  assert.notEqual(changed.anonymousId, pv.anonymousId, 'analytics withdrawn: a fresh in-memory id');
  assert.deepEqual(storage.keys(), ['sillage_consent']);
});

test('TCF: a CMP that answers later; the site\'s own consent() wins; gdprApplies false sends only the string', async () => {
  const p = page({ before: cmp() + SNIPPET + `sillage.load({writeKey: 'wk'});` });
  await p.flush();
  p.run(`fire(${JSON.stringify(tc('tcloaded', purposes(1, 8, 9)))}); sillage.track('A')`);
  await p.flush();
  assert.equal(p.events()[0].context.consent, undefined, 'before the CMP answers: no consent claimed');
  assert.equal(p.events()[1].context.consent.categoryPreferences.analytics, true);

  const own = page({ before: cmp() + SNIPPET + `sillage.load({writeKey: 'wk', page: false}); sillage.consent({analytics: false, marketing: true});` });
  own.run(`fire(${JSON.stringify(tc('useractioncomplete', purposes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)))}); sillage.track('A')`);
  await own.flush();
  assert.deepEqual(own.events()[0].context.consent, { categoryPreferences: { analytics: false, marketing: true }, tcf: 'CP-useractioncomplete' });

  const outside = page({ before: cmp(tc('tcloaded', {}, { gdprApplies: false, tcString: '' })) + SNIPPET + `sillage.load({writeKey: 'wk'});` });
  await outside.flush();
  assert.equal(outside.events()[0].context.consent, undefined, 'GDPR does not apply and the string is empty: nothing to send');

  const gpc = page({ before: `navigator.globalPrivacyControl = true;` + cmp(tc('tcloaded', purposes(1, 2, 3, 4, 7, 8, 9))) + SNIPPET + `sillage.load({writeKey: 'wk'});` });
  await gpc.flush();
  assert.deepEqual(gpc.events()[0].context.consent, {
    categoryPreferences: { necessary: true, analytics: true, personalisation: false, marketing: false, advertising: false },
    gpc: true, tcf: 'CP-tcloaded',
  });
});

test('a broken __tcfapi does not break tracking', async () => {
  for (const api of [`window.__tcfapi = function () { throw new Error('boom'); };`, `window.__tcfapi = 'nope';`,
    `window.__tcfapi = function (c, v, cb) { cb(null, true); cb({eventStatus: 'tcloaded'}, true); };`]) {
    const p = page({ before: api + SNIPPET + `sillage.load({writeKey: 'wk'});` });
    await p.flush();
    assert.equal(p.events().length, 1, api);
  }
});
