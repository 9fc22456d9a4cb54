// The tag in real headless Chromium against the real collector (the Sillage
// binary on the embedded default): what the "What must be shown"
// asks of the browser. Each test opens a fresh browser profile; the tests
// run one after another and share the collector, whose accepted-events
// counter each test reads before and after.
//
// "Accepted by the collector" is read twice: from the collector
// (sillage_collector_events_accepted_total, which counts every copy it
// acknowledged, so a duplicate shows) and from the requests the browser
// made (their bodies: messageIds, anonymousId, consent; their answers).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSillage, startPages, openBrowser, accepted, transitions, eventually, lakeEvents, visitorUserAgent } from './harness.mjs';

const T = { timeout: 60000 };
let s; // the Sillage binary
let site; // the test pages
let b; // the browser of the current test
let base; // accepted events before the current test
const delivered = new Set(); // messageIds the browser saw acknowledged, all tests

before(async () => {
  s = await startSillage();
  site = await startPages(s.collector);
}, { timeout: 180000 });

afterEach(() => {
  if (b) assert.deepEqual(b.strays, [], 'the browser asked for something off loopback');
});

async function closeBrowser() {
  if (!b) return;
  for (const e of b.delivered()) delivered.add(e.messageId);
  await b.close();
  b = undefined;
}

after(async () => {
  await closeBrowser();
  await site?.close();
  await s?.stop();
});

async function fresh() {
  await closeBrowser();
  b = await openBrowser(s.collector);
  base = await accepted(s);
  return b.page;
}

// acceptedExactly waits until the collector has accepted n events since
// the test began, then checks that no more arrive for a second (a retried
// or doubly sent copy would).
async function acceptedExactly(n) {
  await eventually(async () => (await accepted(s)) - base >= n, 20000,
    async () => `collector accepted ${(await accepted(s)) - base} events, want ${n}; browser sent ${JSON.stringify(b.events().map((e) => [e.type, e.event, e.status]))}`);
  await sleep(1000);
  assert.equal((await accepted(s)) - base, n, `the collector accepted more than was sent: a duplicate; browser sent ${JSON.stringify(b.events().map((e) => [e.type, e.event, e.messageId, e.status, e.kind]))}`);
}

// closeTab closes a tab as a visitor does (beforeunload, pagehide and
// visibilitychange run), keeping the browser open with another tab.
async function closeTab(page) {
  await page.context().newPage();
  await Promise.all([page.waitForEvent('close'), page.close({ runBeforeUnload: true })]);
}

function distinct(events) {
  return new Set(events.map((e) => e.messageId)).size;
}

function names(events) {
  return events.map((e) => (e.type === 'track' ? e.event : e.type));
}

async function localStorageOf(page) {
  return page.evaluate(() => Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])));
}

test('one page view on load, and no more', T, async () => {
  const page = await fresh();
  await page.goto(site.origin + '/demo');
  await acceptedExactly(1);
  assert.deepEqual(names(b.delivered()), ['page']);
  const [pv] = b.delivered();
  assert.equal(pv.properties.url, site.origin + '/demo');
  assert.equal(pv.properties.title, 'Sillage demo shop');
  assert.equal(pv.context.library.name, 'sillage.js');
  assert.equal(pv.context.userAgent, visitorUserAgent(), 'the browser presents as a visitor, not as HeadlessChrome (a bot)');
});

test('single-page-app navigation: one page view per pushState, replaceState and popstate', T, async () => {
  const page = await fresh();
  await page.goto(site.origin + '/app');
  await page.evaluate(() => history.replaceState({}, '', location.href)); // a router settling: no view
  await page.evaluate(() => { history.pushState({}, '', '/app/cart'); document.title = 'Cart'; });
  await eventually(() => b.delivered().length === 2, 10000, 'second page view');
  await page.evaluate(() => history.pushState({}, '', '/app/checkout'));
  await eventually(() => b.delivered().length === 3, 10000, 'third page view');
  await page.evaluate(() => history.replaceState({}, '', '/app/checkout?step=2'));
  await eventually(() => b.delivered().length === 4, 10000, 'fourth page view');
  await page.goBack(); // popstate to /app/cart
  await acceptedExactly(5);
  const pages = b.delivered();
  assert.deepEqual(names(pages), ['page', 'page', 'page', 'page', 'page']);
  assert.deepEqual(pages.map((e) => new URL(e.properties.url).pathname + new URL(e.properties.url).search),
    ['/app', '/app/cart', '/app/checkout', '/app/checkout?step=2', '/app/cart']);
  assert.equal(pages[1].properties.title, 'Cart');
  assert.equal(pages[1].properties.referrer, site.origin + '/app');
  assert.equal(distinct(pages), 5);
});

test('add to cart and sign up on the demo shop, with consent: delivered and the signup enters its segment', T, async () => {
  const page = await fresh();
  await page.goto(site.origin + '/demo');
  await page.click('#grant');
  await page.click('.card .add');
  const email = `ada-${Date.now()}@example.com`;
  await page.fill('#signup [name=email]', email);
  await page.fill('#signup [name=name]', 'Ada');
  await page.click('#signup button');
  await acceptedExactly(4);
  const ev = b.delivered();
  assert.deepEqual(names(ev), ['page', 'Product Added', 'identify', 'Signed Up']);
  assert.equal(distinct(ev), 4);
  const [, added, identify, signed] = ev;
  assert.equal(added.properties.product_id, 'p-1001');
  assert.equal(added.properties.price, 19.9);
  assert.equal(added.properties.quantity, 1);
  assert.equal(identify.userId, 'demo-' + email);
  assert.deepEqual(identify.traits, { email, name: 'Ada' });
  assert.equal(signed.userId, 'demo-' + email);
  assert.deepEqual(signed.context.consent.categoryPreferences, { analytics: true, personalisation: true, marketing: true, advertising: true });
  assert.equal(new Set(ev.map((e) => e.anonymousId)).size, 1);
  // Through the whole pipeline: the enricher, the segmenter, Kafka.
  await eventually(async () => (await transitions(s)).some((t) => t.segment === 'signed_up' && t.profile_id === signed.userId && t.transition === 'ENTERED'), 20000,
    async () => `no signed_up entry for ${signed.userId}: ${JSON.stringify(await transitions(s))}`);
});

test('consent denied: nothing stored, and the id sent lives only for one page load', T, async () => {
  const page = await fresh();
  await page.goto(site.origin + '/demo');
  await page.click('#deny');
  await page.click('.card .add');
  await acceptedExactly(2);
  await page.reload();
  await page.click('.card .add');
  await acceptedExactly(4);
  const ev = b.delivered();
  assert.deepEqual(names(ev), ['page', 'Product Added', 'page', 'Product Added']);
  assert.equal(ev[0].context.consent, undefined, 'before the choice: no consent claimed');
  for (const e of ev.slice(1)) assert.equal(e.context.consent.categoryPreferences.analytics, false);
  for (const e of ev) assert.equal(e.userId, undefined);
  assert.equal(ev[0].anonymousId, ev[1].anonymousId, 'one id within a page load');
  assert.equal(ev[2].anonymousId, ev[3].anonymousId);
  assert.notEqual(ev[0].anonymousId, ev[2].anonymousId, 'a new id after a reload: visits cannot be linked');
  assert.deepEqual(Object.keys(await localStorageOf(page)), ['sillage_consent'], 'only the choice is stored');
  assert.deepEqual(JSON.parse((await localStorageOf(page)).sillage_consent), { analytics: false, personalisation: false, marketing: false, advertising: false });
  assert.deepEqual(await b.context.cookies(), [], 'no cookie on any site');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
});

test('consent granted later: the page load\'s id is persisted and reused after a reload', T, async () => {
  const page = await fresh();
  await page.goto(site.origin + '/demo');
  await acceptedExactly(1);
  assert.deepEqual(await localStorageOf(page), {}, 'nothing stored before the choice');
  await page.click('#grant');
  await page.click('.card .add');
  await acceptedExactly(2);
  const stored = await localStorageOf(page);
  assert.deepEqual(Object.keys(stored).sort(), ['sillage_aid', 'sillage_consent']);
  await page.reload();
  await page.click('.card:nth-child(2) .add');
  await acceptedExactly(4);
  const ev = b.delivered();
  assert.deepEqual(names(ev), ['page', 'Product Added', 'page', 'Product Added']);
  assert.equal(new Set(ev.map((e) => e.anonymousId)).size, 1, 'the same id before the choice, after it, and after a reload');
  assert.equal(ev[0].anonymousId, stored.sillage_aid);
  for (const e of ev.slice(1)) assert.equal(e.context.consent.categoryPreferences.analytics, true);
  assert.equal(distinct(ev), 4);
  assert.deepEqual((await b.context.cookies()).map((c) => [c.name, c.value]), [['sillage_aid', stored.sillage_aid]],
    'the only cookie is the server-set id');
});

test('server-set first-party cookie: set with analytics consent, keeps the id when script storage is wiped, deleted on withdrawal', T, async () => {
  const page = await fresh();
  await page.goto(site.origin + '/demo');
  await acceptedExactly(1);
  assert.deepEqual(await b.context.cookies(), [], 'no cookie before the choice');
  await page.click('#grant');
  await page.click('.card .add');
  await acceptedExactly(2);
  const id = (await localStorageOf(page)).sillage_aid;
  await eventually(async () => (await b.context.cookies()).length === 1, 5000, async () => JSON.stringify(await b.context.cookies()));
  const [ck] = await b.context.cookies();
  assert.equal(ck.name, 'sillage_aid');
  assert.equal(ck.value, id, 'the collector set the id the tag sent');
  assert.equal(ck.domain, '127.0.0.1', 'first-party: the host the page and the collector share');
  assert.equal(ck.httpOnly, false);
  assert.equal(ck.sameSite, 'Lax');
  assert.ok(ck.expires * 1000 > Date.now() + 300 * 86400 * 1000, 'lasts about a year');

  // The browser wipes what scripts stored (as Safari does after 7 days);
  // the consent choice is kept here as a CMP would restore it.
  await page.evaluate(() => { localStorage.removeItem('sillage_aid'); localStorage.removeItem('sillage_queue'); });
  await page.reload();
  await page.click('.card:nth-child(2) .add');
  await acceptedExactly(4);
  const ev = b.delivered();
  assert.deepEqual(names(ev), ['page', 'Product Added', 'page', 'Product Added']);
  assert.equal(ev[2].anonymousId, id, 'the id comes back from the server-set cookie');
  assert.equal(ev[3].anonymousId, id);
  assert.equal((await localStorageOf(page)).sillage_aid, id);

  await page.evaluate(() => sillage.consent({ analytics: false })); // the banner is gone: as a privacy page would
  await page.click('.card .add');
  await acceptedExactly(5);
  const last = b.delivered()[4];
  assert.notEqual(last.anonymousId, id, 'a fresh id after the withdrawal');
  assert.deepEqual(await b.context.cookies(), [], 'the cookie is gone with the consent');
});

test('offline then online: each event queued while offline is delivered exactly once', T, async () => {
  const page = await fresh();
  await page.goto(site.origin + '/app');
  await acceptedExactly(1);
  await b.context.setOffline(true);
  assert.equal(await page.evaluate(() => navigator.onLine), false);
  await page.evaluate(() => { for (let i = 1; i <= 5; i++) sillage.track('Offline ' + i, { i }); });
  await sleep(1500);
  assert.equal((await accepted(s)) - base, 1, 'nothing delivered while offline');
  await b.context.setOffline(false);
  await acceptedExactly(6);
  const ev = b.delivered();
  assert.deepEqual(names(ev), ['page', 'Offline 1', 'Offline 2', 'Offline 3', 'Offline 4', 'Offline 5']);
  assert.equal(distinct(ev), 6);
});

test('collector unreachable: retried with backoff, same messageIds, each delivered once', T, async () => {
  const page = await fresh();
  let failures = 0;
  await b.context.route(s.collector + '/v1/**', (route) => {
    if (failures < 3) {
      failures++;
      return route.abort('connectionrefused');
    }
    return route.continue();
  });
  await page.goto(site.origin + '/app');
  await page.evaluate(() => sillage.track('Product Added', { product_id: 'p-1' }));
  await acceptedExactly(2);
  assert.equal(failures, 3);
  const tried = b.events();
  assert.ok(tried.length > 2, 'the failed attempts were made');
  assert.deepEqual(new Set(tried.map((e) => e.messageId)), new Set(b.delivered().map((e) => e.messageId)), 'retries reuse the messageIds');
  assert.equal(distinct(b.delivered()), 2);
});

test('offline, tab closed, next visit: the stored queue is delivered once (analytics consent)', T, async () => {
  const page = await fresh();
  await page.goto(site.origin + '/app');
  await page.evaluate(() => sillage.consent({ analytics: true }));
  await acceptedExactly(1);
  await b.context.setOffline(true);
  await page.evaluate(() => { sillage.track('Queued A'); sillage.track('Queued B'); });
  const queued = JSON.parse((await localStorageOf(page)).sillage_queue);
  assert.deepEqual(queued.map((e) => e.event), ['Queued A', 'Queued B']);
  await closeTab(page);
  await b.context.setOffline(false);
  const next = await b.context.newPage();
  await next.goto(site.origin + '/app/next');
  await acceptedExactly(4);
  const ev = b.delivered();
  assert.deepEqual(names(ev), ['page', 'Queued A', 'Queued B', 'page']);
  assert.deepEqual(ev.slice(1, 3).map((e) => e.messageId), queued.map((e) => e.messageId));
  assert.equal(distinct(ev), 4);
  await eventually(async () => !(await localStorageOf(next)).sillage_queue, 5000, 'the stored queue is emptied');
});

test('navigation away: the last event still arrives', T, async () => {
  const page = await fresh();
  await page.goto(site.origin + '/app');
  await acceptedExactly(1);
  // A click handler tracks and the link navigates at once.
  await page.evaluate(() => document.getElementById('away').addEventListener('click', () => sillage.track('Outbound Link Clicked')));
  await Promise.all([page.waitForURL(site.origin + '/away'), page.click('#away')]);
  await acceptedExactly(2);
  // The site tracks in its own pagehide handler, after the tag's: no timer
  // runs any more, only sendBeacon can take it.
  await page.goto(site.origin + '/app');
  await acceptedExactly(3);
  await page.evaluate(() => addEventListener('pagehide', () => sillage.track('Page Left')));
  await page.goto(site.origin + '/away');
  await acceptedExactly(4);
  // A tab closed right after an event.
  await page.goto(site.origin + '/app');
  await acceptedExactly(5);
  await page.evaluate(() => sillage.track('Last Words'));
  await closeTab(page);
  await acceptedExactly(6);
  // Which events arrived: the browser does not always report requests made
  // while a page unloads; the lake has them.
  const want = ['Last Words', 'Outbound Link Clicked', 'Page Left'];
  let lake = [];
  await eventually(async () => (lake = (await lakeEvents(s)).filter((r) => want.includes(r.event))).length >= 3, 20000,
    () => `lake has ${JSON.stringify(lake.map((r) => r.event))}`);
  assert.deepEqual(lake.map((r) => r.event).sort(), want);
});

test('the lake has every event the collector accepted, once', T, async () => {
  await closeBrowser();
  const total = await accepted(s);
  let rows = [];
  await eventually(async () => (rows = await lakeEvents(s)).length >= total, 30000, () => `lake has ${rows.length} events, the collector accepted ${total}`);
  const ids = rows.map((r) => r.event_id);
  assert.equal(new Set(ids).size, ids.length, 'no event twice in the lake');
  assert.equal(rows.length, total, 'as many events as accepted: none lost, none duplicated');
  const missing = [...delivered].filter((id) => !ids.includes(id));
  assert.deepEqual(missing, [], 'every event the browser saw acknowledged is in the lake');
});
