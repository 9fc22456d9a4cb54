// @segment/analytics-node, pointed at a real Sillage collector, delivers
// every call it makes: each is acknowledged, counted as accepted, and on the
// raw topic with the fields the SDK sent.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Analytics } from '@segment/analytics-node'
import { startSillage, metrics, sumMetric, readRaw, DEMO_WRITE_KEY } from './sillage.mjs'

let s
before(async () => { s = await startSillage() })
after(async () => { await s?.stop() })

const ACCEPTED = 'sillage_collector_events_accepted_total'
const REFUSED = 'sillage_collector_events_refused_total'

const consent = { consent: { categoryPreferences: { analytics: true, personalisation: true, marketing: false } } }
const when = new Date('2024-06-01T12:00:00.250Z')

// Every call the SDK offers, with and without the optional fields.
const calls = [
  { method: 'track', args: { userId: 'u-1', event: 'Product Added', properties: { product_id: 'p1', price: 9.5 }, context: consent, timestamp: when, messageId: 'sdk-track-1' },
    want: { type: 'track', event: 'Product Added', user_id: 'u-1', consent: { analytics: true, personalisation: true, marketing: false } } },
  { method: 'track', args: { anonymousId: 'a-1', event: 'Product Viewed', properties: { product_id: 'p2' } },
    want: { type: 'track', event: 'Product Viewed', anonymous_id: 'a-1', consent: { analytics: false } } },
  { method: 'track', args: { userId: '42', event: 'Order Completed', integrations: { All: false }, properties: { revenue: 19 } },
    want: { type: 'track', event: 'Order Completed', user_id: '42' } },
  { method: 'page', args: { userId: 'u-1', category: 'Shop', name: 'Product', properties: { url: 'https://shop.example/p/1', path: '/p/1', title: 'P1' }, context: consent },
    want: { type: 'page', event: 'Product', page_url: 'https://shop.example/p/1', page_path: '/p/1', consent: { analytics: true } } },
  { method: 'page', args: { anonymousId: 'a-1' }, want: { type: 'page', anonymous_id: 'a-1' } },
  { method: 'screen', args: { userId: 'u-1', name: 'Checkout', properties: { step: 2 }, context: consent },
    want: { type: 'screen', event: 'Checkout', user_id: 'u-1' } },
  { method: 'identify', args: { userId: 'u-1', anonymousId: 'a-1', traits: { email: 'ada@example.com', plan: 'pro' }, context: consent },
    want: { type: 'identify', user_id: 'u-1', anonymous_id: 'a-1', consent: { analytics: true } } },
  { method: 'identify', args: { anonymousId: 'a-2', traits: { newsletter: true } }, want: { type: 'identify', anonymous_id: 'a-2' } },
  { method: 'group', args: { userId: 'u-1', groupId: 'g-1', traits: { name: 'ACME' }, context: consent },
    want: { type: 'group', user_id: 'u-1', group_id: 'g-1' } },
  { method: 'alias', args: { userId: 'u-1', previousId: 'a-1', context: consent },
    want: { type: 'alias', user_id: 'u-1', previous_id: 'a-1' } }
]

test('@segment/analytics-node delivers every call to the collector', async () => {
  const before = await metrics(s)
  const analytics = new Analytics({
    writeKey: DEMO_WRITE_KEY,
    host: s.collector,
    flushAt: 4, // several batches, the last one partial
    flushInterval: 500,
    maxRetries: 2,
    httpRequestTimeout: 10_000
  })
  const failures = []
  const statuses = []
  analytics.on('error', (e) => failures.push(e))
  analytics.on('http_response', (r) => statuses.push(r.status))

  const delivered = await Promise.all(calls.map(({ method, args }) => new Promise((resolve) => {
    analytics[method](args, (err, ctx) => resolve({ err, event: ctx?.event }))
  })))
  await analytics.closeAndFlush({ timeout: 20_000 })

  assert.deepEqual(failures, [], 'the SDK reported no delivery failure')
  for (const [i, d] of delivered.entries()) {
    assert.equal(d.err, undefined, `${calls[i].method} #${i}: ${d.err}`)
  }
  assert.ok(statuses.length >= 3, `several batches were sent (statuses ${statuses})`)
  assert.ok(statuses.every((st) => st === 200), `every batch got 200 (statuses ${statuses})`)

  const after = await metrics(s)
  assert.equal(sumMetric(after, ACCEPTED) - sumMetric(before, ACCEPTED), calls.length, 'accepted events')
  assert.equal(sumMetric(after, REFUSED) - sumMetric(before, REFUSED), 0, 'refused events')

  // The raw topic has each event once, as the SDK sent it.
  const ids = delivered.map((d) => d.event.messageId)
  assert.equal(new Set(ids).size, calls.length)
  const raw = await readRaw(s, (evs) => ids.every((id) => evs.some((e) => e.event_id === id)))
  const byId = new Map(raw.map((e) => [e.event_id, e]))
  for (const [i, c] of calls.entries()) {
    const e = byId.get(ids[i])
    assert.ok(e, `${c.method} #${i} (messageId ${ids[i]}) is on the raw topic (it has ${raw.map((r) => r.event_id)})`)
    assert.equal(raw.filter((r) => r.event_id === ids[i]).length, 1, `${ids[i]} is there once`)
    assert.equal(e.source, 'demo')
    assert.equal(e.library_name, '@segment/analytics-node')
    assert.ok(e.library_version, 'library version')
    assert.equal(e.ip, '127.0.0.1')
    assert.ok(e.sent_at > 0, 'sentAt of the batch is kept')
    assert.ok(e.consent.necessary, 'necessary is always granted')
    assert.equal(e.key, e.anonymous_id || e.user_id, 'keyed by anonymous id, else user id')
    for (const [k, v] of Object.entries(c.want)) {
      if (k === 'consent') {
        for (const [cat, granted] of Object.entries(v)) assert.equal(e.consent[cat], granted, `${ids[i]} consent.${cat}`)
      } else {
        assert.equal(e[k], v, `${ids[i]}.${k}`)
      }
    }
  }
  const tracked = byId.get('sdk-track-1')
  assert.equal(Number(tracked.timestamp instanceof Date ? tracked.timestamp.getTime() : tracked.timestamp), when.getTime())
  assert.deepEqual(JSON.parse(tracked.properties_json), { product_id: 'p1', price: 9.5 })
  assert.deepEqual(JSON.parse(byId.get(ids[6]).traits_json), { email: 'ada@example.com', plan: 'pro' })
})

test('a wrong write key is refused, and the SDK reports it', async () => {
  const analytics = new Analytics({ writeKey: 'not-a-key', host: s.collector, flushAt: 1, maxRetries: 0 })
  const statuses = []
  analytics.on('http_response', (r) => statuses.push(r.status))
  const err = await new Promise((resolve) => analytics.track({ userId: 'u', event: 'E' }, (e) => resolve(e)))
  await analytics.closeAndFlush({ timeout: 10_000 })
  assert.ok(err, 'the callback gets an error')
  assert.deepEqual(statuses, [401])
})
