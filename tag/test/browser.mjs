// A fake browser to run the built tag in node's vm: enough of window,
// document, navigator, history, localStorage, timers, fetch and sendBeacon
// to observe what the tag stores and sends, with a virtual clock. The
// real-browser tests (Chromium) are in test/browser/.
import vm from 'node:vm';
import { readFileSync } from 'node:fs';
import { OUT } from '../build.mjs';

const code = readFileSync(OUT, 'utf8');

export class Storage {
  constructor() { this.map = new Map(); this.writes = []; }
  getItem(k) { return this.map.has(k) ? this.map.get(k) : null; }
  setItem(k, v) { this.writes.push(k); this.map.set(k, String(v)); }
  removeItem(k) { this.map.delete(k); }
  keys() { return [...this.map.keys()].sort(); }
}

function target() {
  const on = {};
  return {
    addEventListener: (t, fn) => (on[t] = on[t] || []).push(fn),
    dispatch: (t) => (on[t] || []).forEach((fn) => fn({ type: t })),
  };
}

// page runs the tag in a new page load. opts: storage (shared between loads
// to model a later visit), before (JS run first, e.g. the snippet stub),
// status (HTTP status fetch answers, or a function of the attempt that may
// return a promise of it; 0 makes fetch fail like a network error), attrs (of the script element).
// sent: one entry per request {via, url, init, body}; events(): every event
// sent, in order.
export function page(opts = {}) {
  const sent = [];
  let timers = [];
  let now = 0;
  let seq = 0;
  let attempt = 0;
  const win = Object.assign(target(), {
    crypto: globalThis.crypto,
    localStorage: opts.storage || new Storage(),
    location: { href: 'https://shop.example/p/1?x=1', pathname: '/p/1', search: '?x=1' },
    setTimeout: (fn, ms) => { timers.push({ id: ++seq, fn, at: now + (ms || 0), ms: ms || 0 }); return seq; },
    clearTimeout: (id) => { timers = timers.filter((t) => t.id !== id); },
    fetch: (url, init) => {
      const status = typeof opts.status === 'function' ? opts.status(attempt++) : opts.status ?? 200;
      sent.push({ via: 'fetch', url, init, body: JSON.parse(init.body) });
      return Promise.resolve(status).then((st) => (st ? { status: st } : Promise.reject(new TypeError('Failed to fetch'))));
    },
  });
  win.window = win;
  win.history = {
    pushState: (s, t, u) => { win.location.href = new URL(u, win.location.href).href; win.location.pathname = new URL(win.location.href).pathname; },
  };
  win.history.replaceState = win.history.pushState;
  win.document = Object.assign(target(), {
    referrer: 'https://ref.example/',
    title: 'Product 1',
    visibilityState: 'visible',
    currentScript: {
      src: 'https://collector.example/tag.js',
      getAttribute: (n) => (opts.attrs || {})[n] ?? null,
    },
  });
  win.navigator = {
    userAgent: 'FakeBrowser/1.0',
    language: 'fr-FR',
    onLine: true,
    sendBeacon: (url, body) => { sent.push({ via: 'beacon', url, body: JSON.parse(body) }); return true; },
  };
  const ctx = vm.createContext(win);
  const settle = () => new Promise((r) => setImmediate(r));
  // tick(ms) advances the virtual clock by ms, running the timers due and
  // letting promise callbacks settle in between.
  const tick = async (ms = 0) => {
    const end = now + ms;
    for (;;) {
      await settle();
      const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      timers = timers.filter((t) => t !== due);
      now = Math.max(now, due.at);
      due.fn();
    }
    now = end;
    await settle();
  };
  if (opts.before) vm.runInContext(opts.before, ctx);
  vm.runInContext(code, ctx);
  return {
    win,
    sent,
    timers: () => timers.map((t) => t.ms),
    flush: () => tick(0),
    tick,
    run: (js) => vm.runInContext(js, ctx),
    events: () => sent.flatMap((s) => s.body.batch),
  };
}

// The async snippet a site pastes in its <head>, minus the <script> element
// injection (the test runs the tag right after it).
export const SNIPPET = `
  var s = window.sillage = window.sillage || [];
  ['load','page','track','identify','alias','consent','reset','productViewed','productAdded','signedUp'].forEach(function (m) {
    s[m] = function () { s.push([m].concat([].slice.call(arguments))); };
  });
`;
