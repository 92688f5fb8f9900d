// The SDK against a recorded fetch and linkedom's DOM: who it decides for, what it renders
// (escaped), the "why" popover, impressions and clicks with decisionId, and consent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHTML } from 'linkedom';
import { Tailor, STANDARD_PLACEMENTS, renderPlacement, safeUrl } from '../tailor.js';

const XSS = '<img src=x onerror="alert(1)"><script>alert(2)</script>';

/** A reply for every standard placement, with hostile text wherever text goes. */
function reply() {
  const product = (id, name) => ({ id, name, category: ['Shoes', 'Running'], price: 89.5, currency: 'USD' });
  return {
    decisionId: 'd-1',
    personalized: true,
    decisions: {
      'nav.categories': { kind: 'navigation', categories: [{ name: 'Shoes', path: 'Shoes', children: [] }, { name: XSS, path: 'A B/C', children: [] }], newForYou: ['Bags/Totes'], explanation: 'Categories you browse most come first' },
      'home.hero': { kind: 'hero', item: { id: 'hero-1', kind: 'banner', title: `Spring ${XSS}`, body: 'New in', link_url: 'javascript:alert(3)' }, explanation: 'Because you like Shoes' },
      'promo.banner': { kind: 'promotion', item: { id: 'promo-1', kind: 'promotion', title: '10% off', link_url: '/cart' }, explanation: 'You left 1 item(s) in your cart' },
      'recs.home': { kind: 'recommendations', items: [{ product: product('p1', `Runner ${XSS}`), score: 1, reason: 'Popular in Shoes' }, { product: product('p2', 'Trail'), score: 0.5, reason: XSS }], explanation: 'Picked from what you viewed' },
      'recs.product': { kind: 'recommendations', items: [], explanation: 'Nothing yet' },
      'recs.cart': { kind: 'recommendations', items: [{ product: product('p3', 'Socks'), score: 1, reason: 'Goes with your cart' }], explanation: 'Goes with your cart' },
      'checkout.flow': { kind: 'checkout', variant: 'express', explanation: 'Express checkout, since you ordered before' },
      'rank.listing': { kind: 'ranking', ranking: [], explanation: 'No products to rank' },
      'onsite.message': { kind: 'message', message: { key: 'm1', title: 'Welcome back', body: XSS, products: ['p1'], decisionId: 'd-mail' }, explanation: 'A message from the journey "win-back"' },
    },
  };
}

/** A middle-button click (opens a tab: the SDK tracks it without navigating). */
function middleClick(document) {
  const e = new document.defaultView.Event('click', { bubbles: true });
  Object.defineProperty(e, 'button', { value: 1 });
  return e;
}

/** A page with one slot per standard placement, a recording fetch, and a Tailor. */
function setup(options = {}) {
  const slots = STANDARD_PLACEMENTS.map((id) => `<div data-tailor-placement="${id}"></div>`).join('');
  const { document } = parseHTML(`<!doctype html><html><head><title>Shop</title></head><body>${slots}</body></html>`);
  const sent = [];
  const fetch = async (url, init) => {
    const body = JSON.parse(init.body);
    sent.push({ url, init, body });
    const answer = url.endsWith('/v1/decide') ? (options.reply ?? reply()) : { success: true };
    return { ok: true, status: 200, json: async () => answer };
  };
  const tailor = new Tailor({ writeKey: 'wk', host: 'https://tailor.test/', document, fetch, analytics: null, ...options.tailor });
  return { document, sent, tailor, events: () => sent.filter((s) => s.url.endsWith('/v1/t')).map((s) => s.body) };
}

test('decide asks for the current visitor with the backend proof', async () => {
  const { sent, tailor } = setup({ tailor: { userId: 'u-7', userHash: 'abc123' } });
  const r = await tailor.decide(['home.hero'], { page: 'home' });
  assert.equal(r.decisionId, 'd-1');
  assert.equal(tailor.decisionId, 'd-1');
  const { url, init, body } = sent[0];
  assert.equal(url, 'https://tailor.test/v1/decide');
  assert.equal(init.headers.Authorization, 'Bearer wk');
  assert.deepEqual(body.placements, ['home.hero']);
  assert.deepEqual(body.context, { page: 'home' });
  assert.equal(body.userId, 'u-7');
  assert.equal(body.userHash, 'abc123');
  assert.ok(body.anonymousId, 'a first-party anonymousId');

  // The same browser keeps its own id; a profile token wins over a user hash.
  const second = new Tailor({ writeKey: 'wk', document: tailor.doc, fetch: tailor.fetch, analytics: null, userId: 'u-7', profileToken: 'tpt_x', userHash: 'h' });
  await second.decide(['home.hero']);
  assert.equal(sent[1].body.anonymousId, body.anonymousId);
  assert.equal(sent[1].body.profileToken, 'tpt_x');
  assert.equal(sent[1].body.userHash, undefined);
  assert.equal(sent[1].url, '/v1/decide', 'same origin by default');
});

test('a decide refused for a moment is asked once more', async () => {
  const { document } = parseHTML('<html><body></body></html>');
  let calls = 0;
  const fetch = async () => {
    calls += 1;
    if (calls === 1) return { ok: false, status: 429, headers: new Map([['Retry-After', '0']]), json: async () => ({}) };
    return { ok: true, status: 200, headers: new Map(), json: async () => reply() };
  };
  const tailor = new Tailor({ writeKey: 'wk', document, fetch, analytics: null });
  assert.equal((await tailor.decide(['home.hero'])).decisionId, 'd-1');
  assert.equal(calls, 2);
});

test("analytics.js's anonymousId is reused, and events go through it with the proof", async () => {
  const tracked = [];
  const analytics = {
    user: async () => ({ anonymousId: () => 'ajs-anon-1' }),
    track: async (event, properties, options) => tracked.push({ event, properties, options }),
  };
  const { sent, tailor } = setup({ tailor: { analytics, userId: 'u-7', userHash: 'abc' } });
  await tailor.decide(['recs.home']);
  assert.equal(sent[0].body.anonymousId, 'ajs-anon-1');
  await tailor.track('Product Added', { product_id: 'p1' });
  assert.equal(tracked[0].event, 'Product Added');
  assert.deepEqual(tracked[0].options.integrations, { Tailor: { userHash: 'abc' } });
  assert.equal(sent.length, 1, 'no event posted by the SDK itself');
});

test('every standard placement renders, escaped, with its reason', async () => {
  const { document, tailor } = setup();
  const r = await tailor.personalize({ page: 'home' });
  assert.equal(r.decisionId, 'd-1');
  for (const id of STANDARD_PLACEMENTS) {
    const slot = document.querySelector(`[data-tailor-placement="${id}"]`);
    const why = slot.querySelector('.tailor-why-popover');
    assert.ok(why, `${id} has a why popover`);
    assert.equal(why.textContent, r.decisions[id].explanation, id);
    assert.equal(slot.dataset.tailorKind, r.decisions[id].kind);
  }
  // Hostile text is text: no element, no handler, no script came from an answer.
  assert.equal(document.querySelectorAll('img, script').length, 0);
  assert.ok(document.body.textContent.includes('<script>alert(2)</script>'));
  assert.ok(!document.body.innerHTML.includes('<img'), document.body.innerHTML);
  // Links: a javascript: URL is neutralized, paths are encoded.
  const hero = document.querySelector('[data-tailor-placement="home.hero"]');
  assert.equal(hero.querySelector('a').getAttribute('href'), '#');
  assert.equal(hero.querySelector('h2').textContent, `Spring ${XSS}`);
  const nav = [...document.querySelectorAll('.tailor-nav a')].map((a) => a.getAttribute('href'));
  assert.deepEqual(nav, ['/c/Shoes', '/c/A%20B/C', '/c/Bags/Totes']);
  const next = document.querySelector('.tailor-nav .tailor-new-for-you');
  assert.equal(next.textContent, 'New for you: Totes');
  const cards = document.querySelectorAll('[data-tailor-placement="recs.home"] .tailor-card');
  assert.equal(cards.length, 2);
  assert.equal(cards[0].querySelector('a').getAttribute('href'), '/products/p1');
  assert.equal(cards[0].querySelector('.tailor-price').textContent, '$89.50');
  assert.equal(cards[0].querySelector('.tailor-reason').textContent, 'Popular in Shoes');
  const checkout = document.querySelector('[data-tailor-placement="checkout.flow"]');
  assert.equal(checkout.dataset.tailorVariant, 'express');
  assert.ok(checkout.textContent.includes('Checkout: express'));
  const message = document.querySelector('.tailor-message');
  assert.ok(message.textContent.startsWith('Welcome back'));
});

test("a ranking reorders the store's own list, with a reason per moved product", async () => {
  const cards = ['p1', 'p2', 'p3', 'p4'].map((id) =>
    `<div class="card" data-product-id="${id}"><a href="/p/${id}">${id}</a><div class="reason">store note</div></div>`).join('');
  const page = `<!doctype html><html><body><div class="grid" data-tailor-placement="rank.listing" data-tailor-list>${cards}</div></body></html>`;
  const answer = (ranking, explanation) => ({
    decisionId: 'd-9', personalized: true,
    decisions: { 'rank.listing': { kind: 'ranking', ranking, explanation, propensity: 1 } },
  });
  const run = async (reply) => {
    const { document } = parseHTML(page);
    const sent = [];
    const fetch = async (url, init) => {
      sent.push({ url, body: JSON.parse(init.body) });
      return { ok: true, status: 200, json: async () => (url.endsWith('/v1/decide') ? reply : { success: true }) };
    };
    const tailor = new Tailor({ writeKey: 'wk', document, fetch, analytics: null });
    await tailor.personalize({ page: 'category' });
    await new Promise((r) => setTimeout(r, 10));
    const order = [...document.querySelectorAll('[data-product-id]')].map((n) => n.dataset.productId);
    return { document, sent, order };
  };

  const moved = answer([
    { id: 'p3', was: 3, reason: `Moved up: you've been browsing ${XSS}` },
    { id: 'p1', was: 1 }, { id: 'p4' }, { id: 'p2', was: 2, reason: 'Moved down: out of stock' },
  ], '1 moved up for you');
  const { document, sent, order } = await run(moved);
  // The store's list went out in the store's order, with the page's own context.
  assert.deepEqual(sent[0].body.context, { page: 'category', productIds: ['p1', 'p2', 'p3', 'p4'] });
  assert.deepEqual(order, ['p3', 'p1', 'p4', 'p2']);
  const reason = (id) => document.querySelector(`[data-product-id="${id}"] .tailor-reason`)?.textContent;
  assert.equal(reason('p3'), `Moved up: you've been browsing ${XSS}`, 'text, never markup');
  assert.equal(reason('p2'), 'Moved down: out of stock');
  assert.equal(reason('p1'), undefined, 'a product that only made room says nothing');
  assert.equal(document.querySelectorAll('script, img').length, 0);
  assert.ok(document.querySelector('[data-product-id="p3"]').classList.contains('tailor-moved'));
  // The store's own markup (links, notes) moved with its products, untouched.
  assert.equal(document.querySelector('[data-product-id="p3"] a').getAttribute('href'), '/p/p3');
  assert.equal(document.querySelectorAll('.reason').length, 4);
  const slot = document.querySelector('[data-tailor-placement="rank.listing"]');
  assert.equal(slot.firstChild.querySelector('.tailor-why-popover').textContent, '1 moved up for you');
  assert.equal(slot.dataset.tailorKind, 'ranking');
  // The impression: the head of the new order, with the decision.
  const list = sent.map((s) => s.body).find((b) => b.event === 'Product List Viewed');
  assert.equal(list.properties.decisionId, 'd-9');
  assert.deepEqual(list.properties.products.map((p) => p.product_id), ['p3', 'p1', 'p4', 'p2']);

  // A new visitor's answer is the store's order: nothing moves, nothing is explained per product.
  const same = await run(answer(['p1', 'p2', 'p3', 'p4'].map((id) => ({ id })), "The store's order"));
  assert.deepEqual(same.order, ['p1', 'p2', 'p3', 'p4']);
  assert.equal(same.document.querySelectorAll('.tailor-reason').length, 0);
});

test("the catalog's pictures render for banners and products, only from http(s) URLs and paths", async () => {
  const r = reply();
  r.decisions['home.hero'].item.image_url = '/img/hero-1.svg';
  r.decisions['promo.banner'].item.image_url = 'javascript:alert(4)';
  r.decisions['recs.home'].items[0].product.image_url = 'https://cdn.shop.test/p1.svg';
  r.decisions['recs.home'].items[1].product.image_url = 'data:image/svg+xml,<svg onload=alert(5)>';
  const { document, tailor } = setup({ reply: r });
  await tailor.personalize({ page: 'home' });
  const images = [...document.querySelectorAll('img')];
  assert.deepEqual(images.map((i) => i.getAttribute('src')), ['/img/hero-1.svg', 'https://cdn.shop.test/p1.svg']);
  const hero = document.querySelector('[data-tailor-placement="home.hero"] img');
  assert.equal(hero.getAttribute('alt'), `Spring ${XSS}`, 'the alt text is an attribute value, never markup');
  assert.equal(hero.getAttribute('class'), 'tailor-banner-image');
  const card = document.querySelector('[data-tailor-placement="recs.home"] .tailor-card a img');
  assert.equal(card.getAttribute('class'), 'tailor-product-image');
  assert.equal(document.querySelectorAll('script').length, 0);
  assert.equal(document.querySelectorAll('[onerror], [onload]').length, 0);
});

test('the why popover opens and closes', () => {
  const { document } = parseHTML('<html><body></body></html>');
  const box = renderPlacement({ kind: 'checkout', variant: 'standard', explanation: 'The standard checkout' }, { doc: document });
  const button = box.querySelector('.tailor-why-button');
  const popover = box.querySelector('.tailor-why-popover');
  assert.equal(popover.hidden, true);
  button.dispatchEvent(new document.defaultView.Event('click'));
  assert.equal(popover.hidden, false);
  assert.equal(button.getAttribute('aria-expanded'), 'true');
  button.dispatchEvent(new document.defaultView.Event('click'));
  assert.equal(popover.hidden, true);
});

test('impressions and clicks carry the decisionId', async () => {
  const { document, tailor, events } = setup({ tailor: { userId: 'u-7', userHash: 'h7' } });
  await tailor.personalize({ page: 'home' });
  await new Promise((r) => setTimeout(r, 10));
  const viewed = events();
  const names = viewed.map((e) => e.event);
  assert.ok(names.includes('Promotion Viewed') && names.includes('Product List Viewed'), names.join());
  for (const e of viewed) {
    assert.equal(e.properties.decisionId, 'd-1', e.event);
    assert.equal(e.writeKey, 'wk');
    assert.equal(e.type, 'track');
    assert.equal(e.userId, 'u-7');
    assert.deepEqual(e.integrations, { Tailor: { userHash: 'h7' } });
  }
  const list = viewed.find((e) => e.event === 'Product List Viewed' && e.properties.placement === 'recs.home');
  assert.deepEqual(list.properties.products.map((p) => p.product_id), ['p1', 'p2']);

  // A click (not a plain one: no navigation in this DOM) tracks the product with the decision.
  const link = document.querySelector('[data-tailor-placement="recs.home"] .tailor-card a');
  link.dispatchEvent(middleClick(document));
  await new Promise((r) => setTimeout(r, 10));
  const clicked = events().filter((e) => e.event === 'Product Clicked');
  assert.equal(clicked.length, 1);
  assert.equal(clicked[0].properties.product_id, 'p1');
  assert.equal(clicked[0].properties.decisionId, 'd-1');
  assert.equal(clicked[0].properties.placement, 'recs.home');
  assert.equal(clicked[0].properties.position, 1);
  const promo = document.querySelector('[data-tailor-placement="promo.banner"] a');
  promo.dispatchEvent(middleClick(document));
  await new Promise((r) => setTimeout(r, 10));
  const promoClick = events().find((e) => e.event === 'Promotion Clicked');
  assert.equal(promoClick.properties.promotion_id, 'promo-1');
  assert.equal(promoClick.properties.decisionId, 'd-1');
});

test("the consent banner writes Segment's categoryPreferences", async () => {
  const store = new Map();
  globalThis.localStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
  try {
    const middlewares = [];
    const tracked = [];
    const analytics = { addSourceMiddleware: (m) => middlewares.push(m) };
    const { document, tailor, events } = setup();
    const banner = tailor.consentBanner({ categories: ['Analytics', 'Personalization', 'Advertising'] });
    document.body.append(banner);
    const boxes = banner.querySelectorAll('input[type=checkbox]');
    boxes[0].checked = true;
    boxes[1].checked = true;
    const save = [...banner.querySelectorAll('button')].find((b) => b.textContent === 'Save my choices');
    save.dispatchEvent(new document.defaultView.Event('click'));
    await new Promise((r) => setTimeout(r, 10));
    const expected = { Analytics: true, Personalization: true, Advertising: false };
    assert.deepEqual(JSON.parse(store.get('tailor_consent')), expected);
    assert.equal(document.querySelector('.tailor-consent'), null, 'the banner is gone');
    const update = events().find((e) => e.event === 'Segment Consent Preference Updated');
    assert.deepEqual(update.context.consent.categoryPreferences, expected);
    // Later events carry it; a new page does not ask again.
    await tailor.track('Cart Viewed');
    assert.deepEqual(events().at(-1).context.consent.categoryPreferences, expected);
    const again = new Tailor({ writeKey: 'wk', document, fetch: tailor.fetch, analytics });
    assert.equal(again.consentBanner(), null);
    // analytics.js's events get it through a source middleware.
    assert.equal(middlewares.length, 1);
    const payload = { obj: { type: 'track', context: { page: {} } } };
    middlewares[0]({ payload, next: (p) => tracked.push(p) });
    assert.deepEqual(tracked[0].obj.context.consent.categoryPreferences, expected);
    assert.equal(tracked[0].obj.integrations, undefined, 'no proof without a signed-in shopper');
  } finally {
    delete globalThis.localStorage;
  }
});

test("the signed-in shopper's proof rides on their own analytics.js events", () => {
  const middlewares = [];
  const analytics = { addSourceMiddleware: (m) => middlewares.push(m) };
  const { document } = parseHTML('<html><body></body></html>');
  new Tailor({ writeKey: 'wk', document, fetch: async () => ({}), analytics, userId: 'u-7', userHash: 'h7' });
  assert.equal(middlewares.length, 1);
  const run = (obj) => { let out; middlewares[0]({ payload: { obj }, next: (p) => { out = p.obj; } }); return out; };
  assert.deepEqual(run({ type: 'identify', userId: 'u-7' }).integrations, { Tailor: { userHash: 'h7' } });
  assert.equal(run({ type: 'track', userId: 'someone-else' }).integrations, undefined);
  assert.equal(run({ type: 'page', anonymousId: 'a' }).integrations, undefined);
});

test('only http(s) URLs and paths are links', () => {
  for (const [url, expected] of [
    ['https://shop.test/a', 'https://shop.test/a'],
    ['/p/1', '/p/1'],
    ['javascript:alert(1)', '#'],
    [' JaVaScRiPt:alert(1)', '#'],
    ['data:text/html,x', '#'],
    ['//evil.test/x', '#'],
    ['/\\evil.test', '#'],
    [null, '#'],
  ]) {
    assert.equal(safeUrl(url), expected, String(url));
  }
});
