// The delivery queue. Every event waits in it until the collector has
// acknowledged it (2xx), so nothing is dropped by a network error, a 408,
// 429 or 5xx, or a browser that is offline:
//   - Events go in batches (POST <host>/v1/batch, at most BATCH events and
//     BYTES characters; a larger event alone, without keepalive) as
//     text/plain JSON: a "simple" request, no CORS preflight, that
//     sendBeacon can send too. One batch is in flight at a time.
//   - A failed batch is retried with exponential backoff and jitter (1 s,
//     doubling, at most 30 s) with the same events and so the same
//     messageIds; the collector's downstream drops copies. While the browser
//     says it is offline nothing is tried; the "online" event flushes.
//   - Other 4xx answers drop the batch: sending it again cannot succeed.
//   - The queue holds at most MAX events; when full, the oldest not in
//     flight is dropped.
//   - With analytics consent the queue is mirrored in localStorage
//     ("sillage_queue") so that what a page could not send goes with the
//     next page of the site; without it, it lives in memory only.
//   - When the page is hidden (closed, navigated away, tab switched) the
//     events not in flight go by navigator.sendBeacon, which outlives the
//     page. A batch in flight is a keepalive fetch, which outlives it too
//     even though the browser fails its promise at unload: it is neither
//     beaconed nor kept for the next page (either would send it twice),
//     unless the page becomes visible again, when it is retried if it
//     failed. Offline, everything stays in the stored queue instead.
import { store } from './util.js';

var w = window;
var d = document;
var nav = navigator;
var KEY = 'sillage_queue';
var MAX = 100;
var BATCH = 20;
var BYTES = 16000; // characters: keepalive requests and beacons are limited to 64 KB (of UTF-8)

var q = []; // events not yet acknowledged, oldest first
var sending = null; // the batch in flight
var away = null; // the batch in flight when the page was hidden
var gone = false; // pagehide has fired: no timer will run again
var timer = 0;
var delay = 0; // current backoff, 0 when the last attempt succeeded
var url = '';
var key = '';
var keep = false; // mirror the queue in localStorage (analytics granted)

// start sets where batches go, takes over what an earlier page left in
// storage (persist: analytics consent) and sends.
export function start(u, k, persist) {
  url = u;
  key = k;
  keep = persist;
  var old = null;
  try {
    old = persist && JSON.parse(store(KEY));
  } catch (e) {}
  if (old && old.length) q = old.concat(q);
  save();
  soon(0);
}

// persist turns the localStorage copy on (analytics granted) or deletes it.
export function persist(on) {
  keep = on;
  if (!on) store(KEY, null);
  save();
}

export function push(e) {
  q.push(e);
  if (q.length > MAX) {
    for (var i = 0; busy(sending, q[i]) || busy(away, q[i]); i++);
    q.splice(i, 1);
  }
  save();
  if (gone || d.visibilityState == 'hidden') beacon();
  else soon(0);
}

function save() {
  if (!keep) return;
  var s = q.filter(function (e) { return !busy(away, e); });
  store(KEY, s.length ? JSON.stringify(s) : null);
}

function busy(b, e) {
  return b && b.indexOf(e) >= 0;
}

function soon(ms) {
  if (!timer) timer = setTimeout(flush, ms);
}

function done(b) {
  q = q.filter(function (e) { return b.indexOf(e) < 0; });
  save();
}

// next returns the next batch of events not in flight, and its body.
function next() {
  var b = [];
  var n = 0;
  for (var i = 0; i < q.length && b.length < BATCH; i++) {
    if (busy(sending, q[i]) || busy(away, q[i])) continue;
    n += JSON.stringify(q[i]).length + 1;
    if (b.length && n > BYTES) break;
    b.push(q[i]);
  }
  return b.length && [b, JSON.stringify({ batch: b, writeKey: key, sentAt: new Date().toISOString() })];
}

function online() {
  return key && nav.onLine !== false;
}

export function flush() {
  clearTimeout(timer);
  timer = 0;
  // After pagehide the page may live on for a moment (and hear "online"):
  // what it has not sent by then is the next page's.
  if (!online() || sending || gone) return;
  if (!w.fetch) return beacon();
  var n = next();
  if (!n) return;
  sending = n[0];
  // With analytics consent the collector's first-party cookie goes along
  // (the collector sets and renews it); without, no cookie at all.
  fetch(url, { method: 'POST', body: n[1], keepalive: n[1].length < BYTES + 1000, credentials: keep ? 'include' : 'omit' })
    .then(function (r) {
      if (r.status == 408 || r.status == 429 || r.status >= 500) throw r;
      delay = 0;
      done(n[0]);
    })
    ['catch'](function () {
      delay = Math.min(delay * 2 || 1000, 30000);
    })
    .then(function () {
      sending = null;
      clearTimeout(timer);
      timer = 0;
      soon(delay * (1 + Math.random()));
    });
}

// beacon hands every event not in flight to sendBeacon, while it takes them.
function beacon() {
  var n;
  while (online() && nav.sendBeacon && (n = next()) && nav.sendBeacon(url, n[1])) done(n[0]);
  save();
}

function hidden(ev) {
  if (ev.type == 'pagehide' || d.visibilityState == 'hidden') {
    gone = gone || ev.type == 'pagehide';
    if (sending && online()) away = sending;
    beacon();
  } else {
    gone = false;
    away = null;
    flush();
  }
}

if (w.addEventListener) {
  w.addEventListener('pagehide', hidden);
  w.addEventListener('pageshow', hidden);
  d.addEventListener('visibilitychange', hidden);
  w.addEventListener('online', function () {
    delay = 0;
    flush();
  });
}
