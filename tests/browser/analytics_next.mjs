// The real @segment/analytics-next (from node_modules, served by this script: no CDN) in
// Debian's Chromium, on a page of another origin, pointed at a Tailor server by `cdnURL`
// alone. Four visitors, each in a fresh browser context:
//   proven     page, track, a consent choice (context.consent), identify and an order with
//              the backend's user hash (integrations.Tailor.userHash)
//   unproven   identify as a known customer without proof
//   declined   a consent choice declining analytics, then a page and a product view
//   batching   the batching delivery strategy, twenty events in batches of three
//   sdk        analytics.js with Tailor's SDK imported from Tailor: decide for analytics.js's
//              anonymousId, the SDK's events through analytics.js
// The server refuses some calls (its per-key rate limit, 429 + Retry-After): analytics.js
// must retry until every message is stored. Requests to any host but this machine's are
// blocked and reported. Prints one JSON line with what happened, for the Rust test to check
// against what Tailor stored.
//
// Usage: node analytics_next.mjs TAILOR_BASE PAGE_PORT WRITE_KEY IDENTITY_SECRET
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createHmac } from 'node:crypto';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [tailor, pagePort, writeKey, secret] = process.argv.slice(2);
if (!secret) {
  console.error('usage: node analytics_next.mjs TAILOR_BASE PAGE_PORT WRITE_KEY IDENTITY_SECRET');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const umd = join(here, 'node_modules/@segment/analytics-next/dist/umd');
const version = JSON.parse(await readFile(join(here, 'node_modules/@segment/analytics-next/package.json'))).version;
const userHash = (id) => createHmac('sha256', secret).update(id).digest('hex');

// The store's page and analytics.js's files, on another origin than Tailor.
const page = `<!doctype html><html><head><title>Test shop</title>
<script src="/ajs/index.js"></script></head><body><h1>Test shop</h1></body></html>`;
const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/html' }).end(page);
  } else if (path.startsWith('/ajs/')) {
    const file = normalize(join(umd, path.slice(5)));
    if (!file.startsWith(umd)) return res.writeHead(403).end();
    readFile(file).then((b) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(b),
      () => res.writeHead(404).end());
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(Number(pagePort), '127.0.0.1', r));
const origin = `http://127.0.0.1:${pagePort}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const blocked = [];
const result = { version, origin };

/** The messages a Tailor ingest request carried (a batch's several, else one). */
function messages(request) {
  const body = JSON.parse(request.postData() || '{}');
  return Array.isArray(body.batch) ? body.batch : [body];
}

/**
 * Opens the shop in a fresh context, runs `script` in it (with `args`), then waits until
 * `expected` messages were answered 200 by Tailor, retries included. Returns the script's
 * result and every ingest answer's status.
 */
async function visit(name, expected, script, args) {
  const context = await browser.newContext();
  await context.route('**/*', (route) => {
    const host = new URL(route.request().url()).hostname;
    if (host === '127.0.0.1' || host === 'localhost') return route.continue();
    blocked.push(route.request().url());
    return route.abort();
  });
  const tab = await context.newPage();
  const statuses = [];
  const stored = [];
  const sent = [];
  tab.on('console', (m) => { if (m.type() === 'error') console.error(`[${name}] ${m.text()}`); });
  tab.on('request', (r) => {
    if (r.url().startsWith(`${tailor}/v1/`) && r.method() === 'POST') sent.push({ path: new URL(r.url()).pathname, body: JSON.parse(r.postData() || '{}') });
  });
  tab.on('response', async (r) => {
    const url = new URL(r.url());
    if (!r.url().startsWith(tailor) || r.request().method() !== 'POST' || !/^\/v1\/[tipsgab]$/.test(url.pathname)) return;
    statuses.push(r.status());
    if (r.status() === 200) stored.push(...messages(r.request()));
  });
  await tab.goto(`${origin}/`);
  const value = await tab.evaluate(script, { tailor, writeKey, ...args });
  const deadline = Date.now() + 60_000;
  while (stored.length < expected && Date.now() < deadline) await tab.waitForTimeout(100);
  if (stored.length < expected) throw new Error(`${name}: ${stored.length} of ${expected} messages stored; answers ${statuses}`);
  await context.close();
  const paths = [...new Set(sent.map((s) => s.path))].sort();
  return { ...value, statuses, paths, stored: stored.length, sent };
}

try {
  result.proven = await visit('proven', 5, async ({ tailor, writeKey, hash }) => {
    const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({ writeKey, cdnURL: tailor });
    const proof = { integrations: { Tailor: { userHash: hash } } };
    const consent = { consent: { categoryPreferences: { Analytics: true, Personalization: true, Advertising: false } } };
    await analytics.page('Home');
    await analytics.track('Product Viewed', { product_id: 'sku-1', name: 'Runner', price: 25 });
    await analytics.track('Cart Viewed', {}, { context: consent });
    await analytics.identify('cust-proven', { plan: 'gold', email: 'proven@shop.example' }, proof);
    await analytics.track('Order Completed', { order_id: 'o-1', total: 25, revenue: 25, currency: 'USD',
      products: [{ product_id: 'sku-1', price: 25, quantity: 1 }] }, proof);
    return { anonymousId: analytics.user().anonymousId() };
  }, { hash: userHash('cust-proven') });

  result.unproven = await visit('unproven', 3, async ({ tailor, writeKey }) => {
    const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({ writeKey, cdnURL: tailor });
    await analytics.page('Home');
    await analytics.identify('cust-known', { email: 'attacker@evil.example', name: 'Mallory' });
    await analytics.track('Product Viewed', { product_id: 'sku-2', price: 40 });
    return { anonymousId: analytics.user().anonymousId() };
  }, {});

  // A shopper who declines analytics: the consent change is kept, their browsing is not.
  result.declined = await visit('declined', 3, async ({ tailor, writeKey }) => {
    const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({ writeKey, cdnURL: tailor });
    const declined = { consent: { categoryPreferences: { Analytics: false, Personalization: false, Advertising: false } } };
    await analytics.track('Segment Consent Preference Updated', {}, { context: declined });
    await analytics.page('Home', {}, { context: declined });
    await analytics.track('Product Viewed', { product_id: 'sku-3', price: 12 }, { context: declined });
    return { anonymousId: analytics.user().anonymousId() };
  }, {});

  // Spend the key's allowance first (decisions store no events), so the first batches are
  // refused whatever the timing of the visits before.
  for (let n = 0; n < 4; n++) {
    await fetch(`${tailor}/v1/decide`, { method: 'POST', headers: { Authorization: `Bearer ${writeKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ anonymousId: 'drain', placements: ['home.hero'] }) });
  }
  result.batching = await visit('batching', 20, async ({ tailor, writeKey }) => {
    const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({ writeKey, cdnURL: tailor }, {
      integrations: { 'Segment.io': { deliveryStrategy: { strategy: 'batching', config: { size: 3, timeout: 200 } } } },
    });
    // Waves of three: each fills a batch, so the batches leave one after another, faster
    // than the server's limit allows.
    await analytics.page('Catalog');
    for (let wave = 0; wave < 19; wave += 3) {
      const sends = [];
      for (let n = wave; n < Math.min(wave + 3, 19); n++) sends.push(analytics.track('Product Viewed', { product_id: `sku-b${n}`, price: 5 + n }));
      await Promise.all(sends);
    }
    return { anonymousId: analytics.user().anonymousId() };
  }, {});

  result.sdk = await visit('sdk', 2, async ({ tailor, writeKey }) => {
    const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({ writeKey, cdnURL: tailor });
    const { Tailor } = await import(`${tailor}/sdk/tailor.js`);
    const sdk = new Tailor({ host: tailor, writeKey, analytics });
    await analytics.page('Home');
    const reply = await sdk.decide(['home.hero', 'recs.home'], { page: 'home' });
    await sdk.track('Promotion Clicked', { promotion_id: 'x', decisionId: reply.decisionId });
    return { anonymousId: analytics.user().anonymousId(), decisionId: reply.decisionId, placements: Object.keys(reply.decisions) };
  }, {});
  result.sdk.decide = await (async () => {
    // The decide request's body, as the SDK sent it (recorded by `visit`).
    const d = result.sdk.sent.find((s) => s.path === '/v1/decide');
    return d ? d.body : null;
  })();
} finally {
  await browser.close();
  server.close();
}
result.blocked = blocked;
for (const v of ['proven', 'unproven', 'batching', 'sdk']) {
  result[v].sent = result[v].sent.filter((s) => s.path !== '/v1/decide').map((s) => s.body);
}
console.log(JSON.stringify(result));
