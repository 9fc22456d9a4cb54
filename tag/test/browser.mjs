// A fake browser to run the built tag in node's vm: enough of window,
// document, navigator, localStorage, fetch and sendBeacon to observe what
// the tag stores and sends. Real-browser tests come with Chromium.
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

// page runs the tag in a new page load. opts: storage (shared between loads
// to model a later visit), before(win) to set up the snippet stub, status
// (HTTP status fetch answers, or a function of the attempt), script attrs.
export function page(opts = {}) {
  const sent = []; // {via, url, body}
  const timers = [];
  let attempt = 0;
  const win = {
    crypto: globalThis.crypto,
    localStorage: opts.storage || new Storage(),
    location: { href: 'https://shop.example/p/1?x=1', pathname: '/p/1', search: '?x=1' },
    setTimeout: (fn, ms) => timers.push({ fn, ms }),
    fetch: (url, init) => {
      const status = typeof opts.status === 'function' ? opts.status(attempt++) : opts.status || 200;
      sent.push({ via: 'fetch', url, init, body: JSON.parse(init.body) });
      return Promise.resolve({ status });
    },
  };
  win.window = win;
  win.document = {
    referrer: 'https://ref.example/',
    title: 'Product 1',
    visibilityState: 'visible',
    currentScript: {
      src: 'https://collector.example/tag.js',
      getAttribute: (n) => (opts.attrs || {})[n] ?? null,
    },
  };
  win.navigator = {
    userAgent: 'FakeBrowser/1.0',
    language: 'fr-FR',
    sendBeacon: (url, body) => { sent.push({ via: 'beacon', url, body: JSON.parse(body) }); return true; },
  };
  const ctx = vm.createContext(win);
  if (opts.before) vm.runInContext(opts.before, ctx);
  vm.runInContext(code, ctx);
  // Promise callbacks run on node's queue; flush() lets them settle.
  const flush = () => new Promise((r) => setImmediate(r));
  return { win, sent, timers, flush, run: (js) => vm.runInContext(js, ctx) };
}

// The async snippet a site pastes in its <head>, minus the <script> element
// injection (the test runs the tag right after it).
export const SNIPPET = `
  var s = window.sillage = window.sillage || [];
  ['load','page','track','identify','consent','reset'].forEach(function (m) {
    s[m] = function () { s.push([m].concat([].slice.call(arguments))); };
  });
`;
