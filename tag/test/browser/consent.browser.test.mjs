// Consent signals and the product's helpers in real headless Chromium
// against the real collector: Global Privacy Control and an IAB TCF v2 CMP,
// both defined by an init script (Chromium has no switch that sets
// navigator.globalPrivacyControl, and no CMP runs off the network), then
// alias and the helpers. What the tag sent is read from the requests the
// browser made; that the collector took it, from its accepted-events
// counter.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSillage, startPages, openBrowser, accepted, eventually } from './harness.mjs';

const T = { timeout: 60000 };
let s;
let site;
let b;
let base;

before(async () => {
  s = await startSillage();
  site = await startPages(s.collector);
}, { timeout: 180000 });

afterEach(async () => {
  if (!b) return;
  const strays = b.strays;
  await b.close();
  b = undefined;
  assert.deepEqual(strays, [], 'the browser asked for something off loopback');
});

after(async () => {
  await site?.close();
  await s?.stop();
});

// fresh opens a browser whose pages first run init (a function, see
// BrowserContext.addInitScript), and reads the collector's counter.
async function fresh(init, arg) {
  b = await openBrowser(s.collector);
  if (init) await b.context.addInitScript(init, arg);
  base = await accepted(s);
  return b.page;
}

// acceptedExactly waits until the collector has accepted n events since the
// test began and checks that no more arrive for a second.
async function acceptedExactly(n) {
  await eventually(async () => (await accepted(s)) - base >= n, 20000,
    async () => `collector accepted ${(await accepted(s)) - base} events, want ${n}; browser sent ${JSON.stringify(b.events().map((e) => [e.type, e.event, e.status]))}`);
  await sleep(1000);
  assert.equal((await accepted(s)) - base, n, 'a duplicate');
  assert.equal(b.delivered().length, n, 'every event the browser sent was acknowledged');
}

test('Global Privacy Control: marketing and advertising sent as off whatever the site grants, and the signal with them', T, async () => {
  const page = await fresh(() => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true }));
  await page.goto(site.origin + '/app');
  assert.equal(await page.evaluate(() => navigator.globalPrivacyControl), true);
  await page.evaluate(() => { sillage.consent({ analytics: true, marketing: true, advertising: true }); sillage.productViewed({ product_id: 'p-1' }); });
  await acceptedExactly(2);
  const [pv, viewed] = b.delivered();
  assert.deepEqual(pv.context.consent, { categoryPreferences: { marketing: false, advertising: false }, gpc: true });
  assert.equal(viewed.event, 'Product Viewed');
  assert.deepEqual(viewed.context.consent, { categoryPreferences: { analytics: true, marketing: false, advertising: false }, gpc: true });
  assert.deepEqual(await page.evaluate(() => sillage.consent()), { analytics: true, marketing: false, advertising: false });
});

// A CMP as an init script: __tcfapi answers addEventListener at once with
// "tcloaded" and the consents given; window.userAction(consents) plays a
// later choice made in the CMP's banner.
function cmp(first) {
  const listeners = [];
  const data = (eventStatus, consents) => ({
    tcString: 'CPtest-' + eventStatus, eventStatus, gdprApplies: true, cmpStatus: 'loaded',
    purpose: { consents: Object.fromEntries(consents.map((n) => [n, true])), legitimateInterests: {} },
  });
  window.__tcfapi = (cmd, version, cb) => {
    if (cmd !== 'addEventListener' || version !== 2) return;
    listeners.push(cb);
    cb(data('tcloaded', first), true);
  };
  window.userAction = (consents) => listeners.forEach((cb) => cb(data('useractioncomplete', consents), true));
}

test('IAB TCF v2: the CMP\'s purposes set the consent of the first page view and of later events, with the TC string', T, async () => {
  const page = await fresh(cmp, [1, 8, 9]);
  await page.goto(site.origin + '/app');
  await acceptedExactly(1);
  const [pv] = b.delivered();
  assert.deepEqual(pv.context.consent, {
    categoryPreferences: { necessary: true, analytics: true, personalisation: false, marketing: false, advertising: false },
    tcf: 'CPtest-tcloaded',
  });
  const stored = await page.evaluate(() => ({ ...localStorage }));
  assert.equal(stored.sillage_aid, pv.anonymousId, 'analytics granted through TCF: the id is persisted');

  await page.evaluate(() => { userAction([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]); sillage.productAdded({ product_id: 'p-2', price: 5, quantity: 1 }); });
  await page.evaluate(() => sillage.signedUp('tcf-user', { email: 'tcf@example.com' }, { method: 'email' }));
  await page.evaluate(() => sillage.alias('tcf-user-2'));
  await acceptedExactly(5);
  const [, added, identify, signed, alias] = b.delivered();
  assert.deepEqual([added.event, identify.type, signed.event, alias.type], ['Product Added', 'identify', 'Signed Up', 'alias']);
  for (const e of [added, identify, signed, alias]) {
    assert.deepEqual(e.context.consent, {
      categoryPreferences: { necessary: true, analytics: true, personalisation: true, marketing: true, advertising: true },
      tcf: 'CPtest-useractioncomplete',
    });
    assert.equal(e.anonymousId, pv.anonymousId);
  }
  assert.equal(signed.userId, 'tcf-user');
  assert.deepEqual([alias.userId, alias.previousId], ['tcf-user-2', 'tcf-user']);

  // The visitor withdraws everything in the CMP.
  await page.evaluate(() => { userAction([]); sillage.track('After Withdrawal'); });
  await acceptedExactly(6);
  const last = b.delivered()[5];
  assert.equal(last.context.consent.categoryPreferences.analytics, false);
  assert.equal(last.userId, undefined);
  assert.notEqual(last.anonymousId, pv.anonymousId);
  assert.deepEqual(Object.keys(await page.evaluate(() => ({ ...localStorage }))), ['sillage_consent']);
});
