// uuid returns a random (version 4) UUID.
export function uuid() {
  var c = window.crypto;
  if (c && c.randomUUID) return c.randomUUID();
  var b = [];
  var i;
  if (c && c.getRandomValues) b = c.getRandomValues(new Uint8Array(16));
  else for (i = 0; i < 16; i++) b[i] = (Math.random() * 256) | 0;
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  var s = '';
  for (i = 0; i < 16; i++) s += (i == 4 || i == 6 || i == 8 || i == 10 ? '-' : '') + (b[i] + 256).toString(16).slice(1);
  return s;
}

// store reads localStorage[k], or writes v there (null removes it). Storage
// may be missing or throw (privacy modes, quota): then nothing is kept.
export function store(k, v) {
  try {
    var ls = window.localStorage;
    if (arguments.length < 2) return ls.getItem(k);
    if (v == null) ls.removeItem(k);
    else ls.setItem(k, v);
  } catch (e) {}
}

// assign copies the own properties of b (if an object) onto a.
export function assign(a, b) {
  if (b && typeof b == 'object') for (var k in b) if (Object.prototype.hasOwnProperty.call(b, k)) a[k] = b[k];
  return a;
}
