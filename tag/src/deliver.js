// deliver posts one event. The body is sent as text/plain, a "simple"
// request that needs no CORS preflight and that sendBeacon can send too.
// While the page is visible it uses fetch with keepalive (the request
// survives a navigation) and retries network errors, 429 and 5xx with
// exponential backoff and jitter, with the same body and so the same
// messageId: the collector's downstream deduplicates. When the page is
// hidden (being closed or switched away) it hands the event to sendBeacon.
var RETRIES = 5;

export function deliver(url, e, attempt) {
  var nav = navigator;
  e.sentAt = new Date().toISOString();
  var body = JSON.stringify(e);
  attempt = attempt || 0;
  if ((document.visibilityState == 'hidden' || !window.fetch) && nav.sendBeacon && nav.sendBeacon(url, body)) return;
  if (!window.fetch) return;
  fetch(url, { method: 'POST', body: body, keepalive: body.length < 60000, credentials: 'omit' })
    .then(function (r) {
      if (r.status == 429 || r.status >= 500) throw r;
    })
    ['catch'](function () {
      if (attempt < RETRIES) {
        setTimeout(function () {
          deliver(url, e, attempt + 1);
        }, 1000 * Math.pow(2, attempt) * (1 + Math.random()));
      }
    });
}
