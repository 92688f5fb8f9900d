// Sends a fixed, known set of Segment calls to a Tailor server through the official
// Node library, @segment/analytics-node, configured as a customer would: only `host`
// is changed. crates/tailor/tests/segment_clients.rs runs this and then checks the
// resulting profile through the admin API.
//
// Usage: node tests/compat/segment_node.mjs URL WRITE_KEY RUN_ID
// Exit status: 0 when every event was delivered, 1 on any delivery error (the library's
// `error` event, a non-2xx reply, or a 200 reply that lists `rejected` messages), 2 on
// wrong usage.
//
// Option names below are those of @segment/analytics-node 3.x (src/app/settings.ts):
// `host` + `path` (the batch URL, default "/v1/batch"), `flushAt` (events per batch;
// `maxEventsInBatch` is its deprecated alias), `flushInterval` (ms), `maxRetries`,
// `httpClient` (an HTTPClient or a fetch-like function).

import { Analytics } from '@segment/analytics-node'

const [url, writeKey, runId] = process.argv.slice(2)
if (!url || !writeKey || !runId) {
  console.error('usage: node segment_node.mjs URL WRITE_KEY RUN_ID')
  process.exit(2)
}

const failures = []
const replies = []

// The library treats any 2xx as delivered and never reads the body. Tailor answers a
// batch with 200 even when it drops invalid messages (listing them in `rejected`), so
// read each reply here to catch a message the server refused to store.
async function inspectingFetch(input, init) {
  const response = await globalThis.fetch(input, init)
  const text = await response.clone().text()
  let body = null
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: recorded as text below
  }
  replies.push({ status: response.status, body: body ?? text })
  if (response.status < 200 || response.status >= 300) {
    failures.push(`HTTP ${response.status} from ${input}: ${text}`)
  } else if (!body || body.success !== true) {
    failures.push(`reply from ${input} is not {"success":true,…}: ${text}`)
  } else if (Array.isArray(body.rejected) && body.rejected.length > 0) {
    failures.push(`server rejected messages: ${JSON.stringify(body.rejected)}`)
  }
  return response
}

const analytics = new Analytics({
  writeKey,
  host: url,
  path: '/v1/batch',
  // One batch for the whole run keeps the calls in order on the wire.
  flushAt: 50,
  flushInterval: 1000,
  // Fail fast against a broken server instead of backing off for minutes.
  maxRetries: 2,
  httpRequestTimeout: 10000,
  httpClient: inspectingFetch,
})

// The library reports every event it could not deliver here (code `delivery_failure`).
analytics.on('error', (err) => {
  const reason = err?.reason instanceof Error ? err.reason.message : String(err?.reason)
  const event = err?.ctx?.event
  const what = event ? `${event.type}${event.event ? ` ${JSON.stringify(event.event)}` : ''}` : 'library'
  failures.push(`${what}: ${err?.code}: ${reason}`)
})

const userId = `node-${runId}`
const anonymousId = `node-anon-${runId}`
const previousId = `node-old-${runId}`

// Explicit timestamps one second apart: the calls follow one another in event time as
// they do in the script, whatever the clock's resolution.
const start = Date.now() - 60_000
let step = 0
const at = () => new Date(start + 1000 * step++)

// Before the person is known: an anonymous visit.
analytics.page({ anonymousId, name: 'Home', properties: { path: '/', url: 'https://shop.example/' }, timestamp: at() })
analytics.track({
  anonymousId,
  event: 'Product Viewed',
  properties: { product_id: 'sku-1', name: 'Trail Runner', category: 'Shoes/Running', brand: 'Acme', price: 80 },
  timestamp: at(),
})

// Identification ties the anonymous visit to the user.
analytics.identify({
  userId,
  anonymousId,
  traits: { email: `${userId}@example.com`, name: 'Node Tester' },
  timestamp: at(),
})

// E-commerce Spec v2.
analytics.track({
  userId,
  event: 'Product Viewed',
  properties: { product_id: 'sku-2', name: 'Mountain Boot', category: 'Shoes/Trail', price: 120 },
  timestamp: at(),
})
analytics.track({
  userId,
  event: 'Product Added',
  properties: { cart_id: `cart-${runId}`, product_id: 'sku-1', category: 'Shoes/Running', price: 80, quantity: 2 },
  timestamp: at(),
})
analytics.track({
  userId,
  event: 'Product Added',
  properties: { cart_id: `cart-${runId}`, product_id: 'sku-2', category: 'Shoes/Trail', price: 120, quantity: 1 },
  timestamp: at(),
})
analytics.track({
  userId,
  event: 'Order Completed',
  properties: {
    checkout_id: `co-${runId}`,
    order_id: `order-${runId}`,
    total: 280,
    subtotal: 280,
    currency: 'USD',
    products: [
      { product_id: 'sku-1', category: 'Shoes/Running', price: 80, quantity: 2 },
      { product_id: 'sku-2', category: 'Shoes/Trail', price: 120, quantity: 1 },
    ],
  },
  timestamp: at(),
})
// After the order the cart is empty; this starts a new one.
analytics.track({
  userId,
  event: 'Product Added',
  properties: { product_id: 'sku-3', category: 'Accessories/Socks', price: 12.5, quantity: 1 },
  timestamp: at(),
})

analytics.page({ userId, category: 'Shop', name: 'Checkout', properties: { path: '/checkout' }, timestamp: at() })
analytics.screen({ userId, name: 'Settings', properties: { variant: 'dark' }, timestamp: at() })
analytics.group({ userId, groupId: `group-${runId}`, traits: { name: 'Acme Inc', plan: 'enterprise' }, timestamp: at() })

// A second identity of the same person, seen before it is aliased.
analytics.page({ userId: previousId, name: 'Old Account', timestamp: at() })
analytics.alias({ previousId, userId, timestamp: at() })

try {
  await analytics.closeAndFlush({ timeout: 30_000 })
} catch (e) {
  failures.push(`closeAndFlush: ${e instanceof Error ? e.message : String(e)}`)
}

if (replies.length === 0) {
  failures.push('the library made no HTTP request at all')
}
console.log(`segment_node: ${replies.length} request(s): ${JSON.stringify(replies)}`)
if (failures.length > 0) {
  console.error(`segment_node: ${failures.length} failure(s):\n  ${failures.join('\n  ')}`)
  process.exit(1)
}
console.log(`segment_node: ${step} calls delivered for ${userId}`)
