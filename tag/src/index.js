// Sillage's browser tag. Written in ES5 (the build checks it) so that it
// runs, or fails quietly, in every browser.
//
// Identifiers and consent (see README.md):
//   - Before analytics consent, events carry an anonymousId that lives only
//     in this page load's memory: nothing is written to cookies or storage,
//     and two page loads cannot be linked.
//   - Once analytics is granted, that id is persisted in localStorage
//     ("sillage_aid") and reused on later visits; the userId given to
//     identify() is persisted too ("sillage_uid"). Requests then carry
//     credentials, and a collector whose source has a cookie answers with
//     a first-party "sillage_aid" cookie holding the id: server-set, it
//     outlives the caps browsers put on script storage, and the tag reads
//     it first.
//   - Withdrawing analytics deletes both, the cookie, and the stored
//     delivery queue, and starts a fresh in-memory id.
//   - Events not yet delivered are kept in localStorage ("sillage_queue")
//     only with analytics consent, in memory otherwise (queue.js).
//   - The consent choice itself is kept in localStorage ("sillage_consent")
//     so it applies on the next page; it identifies no one.
//
// Consent signals (see README.md): the site's sillage.consent() call wins;
// otherwise an IAB TCF v2 CMP (__tcfapi) sets the choice through the
// purpose table TCF below. Global Privacy Control forces marketing and
// advertising off in what is sent, whatever the choice. The raw signals go
// with each event too: context.consent.gpc and context.consent.tcf.
import { uuid, store, assign } from './util.js';
import { start, persist, push } from './queue.js';

var w = window;
var d = document;
var nav = navigator;
var AID = 'sillage_aid';
var UID = 'sillage_uid';
var CONSENT = 'sillage_consent';
var METHODS = ['load', 'page', 'track', 'identify', 'alias', 'consent', 'reset', 'productViewed', 'productAdded', 'signedUp'];
// TCF maps Sillage's consent categories to the IAB TCF v2 purposes that
// must all have the user's consent (purpose.consents) to grant it; purpose
// 1 (store and/or access information on a device) is needed by every one.
//   2 limited data to select ads, 3 profiles for personalised ads, 4 select
//   personalised ads, 5 profiles to personalise content, 6 select
//   personalised content, 7 measure ad performance, 8 measure content
//   performance, 9 understand audiences through statistics.
var TCF = { analytics: [1, 8, 9], personalisation: [1, 5, 6], marketing: [1, 3, 4], advertising: [1, 2, 3, 4, 7] };

var queued = w.sillage;
if (!(queued && queued.loaded)) {
  var writeKey = '';
  var last = ''; // the URL of the last page view
  var referrer = d.referrer;
  var memId = uuid();
  var prefs = null;
  var userId = null;
  var own = false; // the site called consent(choice) on this page: the CMP's choice does not override it
  var tcf = ''; // the CMP's TC string
  try {
    prefs = JSON.parse(store(CONSENT)) || null;
  } catch (e) {}
  if (analytics()) userId = store(UID);
  var script = d.currentScript;

  var api = {
    loaded: true,
    VERSION: __VERSION__,

    // load({writeKey, host, page, history}) configures the tag and sends
    // the first page view unless page is false; then, unless history is
    // false too, one page view per URL change of a single-page app
    // (history.pushState, replaceState, popstate). host defaults to where
    // tag.js came from.
    load: function (o) {
      if (writeKey || !o || !o.writeKey) return;
      writeKey = String(o.writeKey);
      var host = o.host || (script && script.src ? script.src.replace(/^(\w+:\/\/[^/]+).*$/, '$1') : '');
      start(host.replace(/\/$/, '') + '/v1/batch', writeKey, analytics());
      if (o.page === false) return;
      api.page();
      if (o.history === false) return;
      var h = w.history;
      ['pushState', 'replaceState'].forEach(function (m) {
        var f = h && h[m];
        if (f)
          h[m] = function () {
            var r = f.apply(this, arguments);
            changed();
            return r;
          };
      });
      w.addEventListener('popstate', changed);
    },

    // page(name, properties). The referrer of a page view after the first
    // is the URL of the one before.
    page: function (name, props) {
      var l = w.location;
      if (last && last != l.href) referrer = last;
      last = l.href;
      make('page', {
        name: name || undefined,
        properties: assign({ url: l.href, path: l.pathname, search: l.search, referrer: referrer, title: d.title }, props)
      });
    },

    track: function (event, props) {
      if (event) make('track', { event: String(event), properties: assign({}, props) });
    },

    // identify(userId, traits) or identify(traits).
    identify: function (id, traits) {
      if (id && typeof id == 'object') {
        traits = id;
        id = null;
      }
      if (id != null) {
        userId = String(id);
        if (analytics()) store(UID, userId);
      }
      make('identify', { traits: assign({}, traits) });
    },

    // alias(userId, previousId) links previousId (by default the current
    // user id, or else the anonymous id) to userId. Later events keep the
    // current ids, as in Segment's analytics.js.
    alias: function (to, from) {
      if (to == null || to === '') return;
      make('alias', { userId: String(to), previousId: String(from != null && from !== '' ? from : userId || anonymousId()) });
    },

    // consent({analytics: true, marketing: false, ...}) records the visitor's
    // choice per category; it goes with every later event as
    // context.consent.categoryPreferences. consent() returns the choice in
    // force (with Global Privacy Control, marketing and advertising off).
    consent: function (p) {
      if (!p) return effective();
      own = true;
      return choose(p);
    },

    // The three events the product exists for (Segment's e-commerce and
    // B2B SaaS specs).
    productViewed: function (props) {
      api.track('Product Viewed', props);
    },
    productAdded: function (props) {
      api.track('Product Added', props);
    },
    signedUp: function (id, traits, props) {
      api.identify(id, traits);
      api.track('Signed Up', props);
    },

    // reset() forgets the user and the anonymous id (e.g. on logout).
    reset: function () {
      userId = null;
      store(UID, null);
      store(AID, null);
      cookie(1);
      memId = uuid();
    },

    push: function (args) {
      if (args && api[args[0]] && METHODS.indexOf(args[0]) >= 0) api[args[0]].apply(api, [].slice.call(args, 1));
    }
  };

  function choose(p) {
    var had = analytics();
    prefs = assign(assign({}, prefs), p);
    store(CONSENT, JSON.stringify(prefs));
    if (had && !analytics()) api.reset();
    persist(analytics());
    return effective();
  }

  // effective returns the choice in force: Global Privacy Control turns
  // marketing and advertising off.
  function effective() {
    var c = assign({}, prefs);
    if (gpc()) c.marketing = c.advertising = false;
    return c;
  }

  function gpc() {
    return nav.globalPrivacyControl === true;
  }

  // fromTcf is the CMP's event listener: once the TC data is loaded or the
  // user has made a choice, it keeps the TC string and, when GDPR applies
  // and the site has not called consent() itself, sets the choice from the
  // purposes consented (TCF above; legitimate interest grants nothing).
  function fromTcf(t, ok) {
    if (!ok || !t || (t.eventStatus != 'tcloaded' && t.eventStatus != 'useractioncomplete')) return;
    tcf = String(t.tcString || '');
    if (own || t.gdprApplies === false) return;
    var c = (t.purpose && t.purpose.consents) || {};
    var p = { necessary: true };
    for (var k in TCF)
      p[k] = TCF[k].every(function (n) {
        return c[n] === true;
      });
    choose(p);
  }

  function analytics() {
    return !!(prefs && prefs.analytics === true);
  }

  // changed sends a page view when a single-page app changed the URL. It
  // waits a moment, so that the app can set the new title first and so that
  // a burst of changes (a redirect) makes one page view; the first page
  // view, or an app's replaceState of the same URL, makes none.
  function changed() {
    setTimeout(function () {
      if (w.location.href != last) api.page();
    }, 0);
  }

  function anonymousId() {
    if (!analytics()) return memId;
    var id = cookie() || store(AID) || memId;
    store(AID, id);
    return id;
  }

  // cookie reads the server-set id cookie, or deletes it (del), on this
  // host and each parent domain. document.cookie may throw (sandboxed
  // frames): then there is no cookie.
  function cookie(del) {
    try {
      var m = /(?:^|;\s*)sillage_aid=([A-Za-z0-9._~-]+)/.exec(d.cookie);
      if (!del) return m && m[1];
      var h = w.location.hostname.split('.');
      while (h.length) {
        d.cookie = AID + '=; Max-Age=0; Path=/; Domain=' + h.join('.');
        h.shift();
      }
      d.cookie = AID + '=; Max-Age=0; Path=/';
    } catch (e) {}
  }

  function make(type, e) {
    e.type = type;
    e.messageId = uuid();
    e.timestamp = new Date().toISOString();
    e.anonymousId = anonymousId();
    if (userId && !e.userId) e.userId = userId;
    e.context = {
      library: { name: 'sillage.js', version: api.VERSION },
      page: { url: w.location.href, path: w.location.pathname, referrer: referrer, title: d.title },
      userAgent: nav.userAgent,
      locale: nav.language
    };
    if (prefs || gpc() || tcf) {
      var c = (e.context.consent = { categoryPreferences: effective() });
      if (gpc()) c.gpc = true;
      if (tcf) c.tcf = tcf;
    }
    push(e);
  }

  // A CMP (or its stub) may answer at once: before the queued calls run, so
  // that the first page view carries its choice.
  try {
    if (typeof w.__tcfapi == 'function') w.__tcfapi('addEventListener', 2, fromTcf);
  } catch (e) {}
  w.sillage = api;
  if (queued && queued.push) {
    // Calls made through the stub after this point go straight to the tag.
    queued.push = api.push;
    for (var i = 0; i < queued.length; i++) api.push(queued[i]);
  }
  if (!writeKey && script && script.getAttribute('data-write-key')) {
    api.load({ writeKey: script.getAttribute('data-write-key'), host: script.getAttribute('data-host') });
  }
}
