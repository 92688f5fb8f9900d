// Drives the demo storefront in a real browser (Debian's Chromium): the storefront SDK
// (/sdk/tailor.js) renders every standard placement with its reason, clicks carry the
// decisionId, and the page adapts to what the visitor does; the preference center changes
// only the consent the shopper changed (the consent ledger is read through the admin API).
// Usage: TAILOR_ADMIN_KEY=… node storefront.mjs BASE_URL [SCREENSHOT_DIR]
// Exits non-zero with a message on the first failed expectation.
import { chromium } from 'playwright-core';

const base = process.argv[2];
const shots = process.argv[3];
const adminKey = process.env.TAILOR_ADMIN_KEY;
if (!base || !adminKey) {
  console.error('usage: TAILOR_ADMIN_KEY=… node storefront.mjs BASE_URL [SCREENSHOT_DIR]');
  process.exit(2);
}

const STANDARD = ['nav.categories', 'home.hero', 'promo.banner', 'recs.home', 'recs.product', 'recs.cart',
  'checkout.flow', 'onsite.message', 'rank.listing'];

const expect = (ok, what) => {
  if (!ok) throw new Error(`expected ${what}`);
  console.log(`ok: ${what}`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Every event the SDK sends, as it sent it.
  const tracked = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/t')) tracked.push(JSON.parse(r.postData() || '{}'));
  });
  const names = () => tracked.map((t) => t.event);
  // The placements seen rendered with a reason, over the whole walk.
  const explained = new Map();

  /** Opens `path` and waits for the SDK to have rendered the page's decision. */
  const open = async (path) => {
    await page.goto(`${base}${path}`);
    await page.waitForSelector('body[data-tailor-ready]');
    const ready = await page.$eval('body', (b) => b.dataset.tailorReady);
    expect(ready !== 'failed', `the SDK decided for ${path}`);
    for (const [id, why] of await reasons()) explained.set(id, why);
    return ready;
  };
  /** Each placement slot of the page and the reason its popover holds. */
  const reasons = () => page.$$eval('[data-tailor-placement]', (slots) => slots.map((s) => [
    s.dataset.tailorPlacement, s.querySelector('.tailor-why-popover')?.textContent ?? '',
  ]));
  const status = () => page.textContent('[data-tailor-status]');
  // The pages' Content Security Policy refuses inline script and style: the storefront must
  // need none (Chromium reports each refusal on the console).
  const refused = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) refused.push(m.text()); });

  // 1. A new anonymous visitor sees what everyone sees, and says why.
  const firstDecision = await open('/as');
  expect((await status()).includes('not personalized'), 'a new visitor is told the page is not personalized');
  expect((await page.textContent('h2[data-title-personalized]')).includes('Popular right now'), 'a new visitor gets popular products');
  expect((await page.$$('[data-tailor-placement="recs.home"] .tailor-card')).length >= 4, 'a row of recommended products');
  expect((await page.$$('.tailor-nav a')).length >= 4, 'the SDK rendered the navigation');
  // The catalog's pictures (drawn by the demo, at the URLs its catalog gives) load.
  for (const [what, selector] of [['the hero banner', '[data-tailor-placement="home.hero"] img'],
    ['the first recommended product', '[data-tailor-placement="recs.home"] .tailor-card:first-child img']]) {
    await page.waitForFunction((s) => document.querySelector(s)?.complete, selector);
    const width = await page.$eval(selector, (i) => i.naturalWidth);
    expect(width > 0, `${what} has a picture (${width} px wide)`);
  }
  if (shots) await page.screenshot({ path: `${shots}/home.png` });
  // The "why am I seeing this" popover opens on a click.
  const why = page.locator('[data-tailor-placement="recs.home"] .tailor-why-button');
  await why.click();
  const shown = await page.locator('[data-tailor-placement="recs.home"] .tailor-why-popover').textContent();
  expect(await page.locator('[data-tailor-placement="recs.home"] .tailor-why-popover').isVisible() && shown.length > 5,
    `the why popover shows "${shown}"`);
  await page.waitForTimeout(200);
  expect(tracked.some((t) => t.event === 'Product List Viewed' && t.properties.decisionId === firstDecision),
    'the recommendations sent an impression with their decisionId');

  /** Opens the category page at `path` on `tab`: the store's order as the server sent it,
   *  and the order and reasons after the SDK applied the ranking placement. */
  const categoryPage = async (tab, path) => {
    const response = await tab.goto(`${base}${path}`);
    const html = await response.text();
    const storeOrder = [...html.matchAll(/data-product-id="([^"]+)"/g)].map((m) => m[1]);
    await tab.waitForSelector('body[data-tailor-ready]');
    const shown = await tab.$$eval('[data-tailor-placement="rank.listing"] [data-product-id]', (cards) => cards.map((c) => c.dataset.productId));
    const why = await tab.$$eval('[data-tailor-placement="rank.listing"] .tailor-reason', (rs) => rs.map((r) => r.textContent));
    const listWhy = await tab.$eval('[data-tailor-placement="rank.listing"] .tailor-why-popover', (e) => e.textContent).catch(() => '');
    return { storeOrder, shown, why, listWhy };
  };
  const categoryPath = await page.$eval('.tailor-nav a', (a) => a.getAttribute('href'));

  // 1b. On a category page, an anonymous newcomer (a fresh browser) gets the store's order.
  const newcomer = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  newcomer.on('pageerror', (e) => errors.push(e.message));
  await newcomer.goto(`${base}/as`);
  const plain = await categoryPage(newcomer, categoryPath);
  expect(plain.storeOrder.length >= 5, `the category page ${categoryPath} lists ${plain.storeOrder.length} products`);
  expect(JSON.stringify(plain.shown) === JSON.stringify(plain.storeOrder), 'a newcomer sees the category in the store\'s order');
  expect(plain.why.length === 0, `and no product says it moved (${plain.why.slice(0, 2).join('; ')})`);
  expect(plain.listWhy.includes("store's order"), `the list explains itself: "${plain.listWhy}"`);
  await newcomer.close();

  // 2. Clicking a recommendation tracks it with the decision; viewing it and adding it to
  // the cart send Segment events, and the cart page adapts.
  await page.click('[data-tailor-placement="recs.home"] .tailor-card a');
  await page.waitForURL(/\/p\//);
  await page.waitForSelector('body[data-tailor-ready]');
  const clicked = tracked.find((t) => t.event === 'Product Clicked');
  expect(clicked && clicked.properties.decisionId === firstDecision && clicked.properties.placement === 'recs.home',
    `Product Clicked carries the decisionId ${firstDecision}`);
  for (const [id, reason] of await reasons()) explained.set(id, reason);
  await page.waitForFunction(() => document.querySelector('.product-page img')?.complete);
  expect(await page.$eval('.product-page img', (i) => i.naturalWidth) > 0, 'the product page shows its picture');
  if (shots) await page.screenshot({ path: `${shots}/product.png` });
  await page.waitForTimeout(200);
  expect(names().includes('Product Viewed'), 'Product Viewed was sent');
  const added = await page.$('button.primary');
  expect(added !== null, 'an Add to cart button on an in-stock product');
  await added.click();
  await page.waitForURL(/\/cart$/);
  await page.waitForSelector('body[data-tailor-ready]');
  for (const [id, reason] of await reasons()) explained.set(id, reason);
  const text = await page.textContent('body');
  expect(text.includes('Your cart'), 'the cart page lists the added product');
  const promo = await page.textContent('[data-tailor-placement="promo.banner"] .tailor-promo-banner').catch(() => '');
  expect(promo.length > 0, `the cart brings a promotion: ${promo}`);
  expect((await page.textContent('[data-tailor-placement="checkout.flow"]')).includes('Checkout:'), 'a checkout variant is chosen');
  if (shots) await page.screenshot({ path: `${shots}/cart.png` });

  // 3. Back home, the same visitor now gets a personalized page.
  await open('/');
  expect((await status()).includes('personalized for you'), 'the next page view is personalized');

  // 4. Browsing as a simulated shopper with history (the backend signs their id): every
  // placement explains itself in the shopper's own terms.
  const shopper = await page.$eval('select[name=user] option:nth-child(2)', (o) => o.value);
  // Picked in the header, whose script switches on change.
  const landed = page.waitForResponse((r) => r.url() === `${base}/` && r.request().isNavigationRequest()
    && r.request().redirectedFrom()?.url().includes(`/as?user=${encodeURIComponent(shopper)}`));
  await page.selectOption('select[name=user]', shopper);
  await landed;
  await page.waitForSelector('body[data-tailor-ready]');
  for (const [id, why] of await reasons()) explained.set(id, why);
  expect((await status()).includes('personalized for you'), `${shopper}'s page is personalized`);
  const whys = (await reasons()).map(([, w]) => w);
  expect(whys.length >= 5 && whys.every((w) => w.length > 5), `${whys.length} explanations on the page`);
  expect(whys.some((w) => w.includes('Because') || w.includes('you')), 'at least one explanation names what drove it');
  await page.locator('[data-tailor-placement="home.hero"] .tailor-why-button').click();
  if (shots) await page.screenshot({ path: `${shots}/shopper.png` });
  // Their favourite category's page (the first of their navigation) comes in their order.
  const favourite = await page.$eval('.tailor-nav a', (a) => a.getAttribute('href'));
  const ranked = await categoryPage(page, favourite);
  for (const [id, why] of await reasons()) explained.set(id, why);
  expect(ranked.shown.length === ranked.storeOrder.length && [...ranked.shown].sort().join() === [...ranked.storeOrder].sort().join(),
    `${favourite}: the same ${ranked.shown.length} products`);
  expect(JSON.stringify(ranked.shown) !== JSON.stringify(ranked.storeOrder), `${shopper} sees ${favourite} reordered`);
  const up = ranked.why.filter((w) => w.startsWith('Moved up'));
  expect(up.length > 0, `moved products say why: "${up[0]}"`);
  const firstMoved = await page.$eval('[data-tailor-placement="rank.listing"] .card.tailor-moved .tailor-reason', (r) => r.textContent);
  expect(firstMoved.length > 8, `the first moved product on screen explains itself: "${firstMoved}"`);
  expect(/moved up for you/.test(ranked.listWhy), `the list explains itself: "${ranked.listWhy}"`);
  if (shots) await page.screenshot({ path: `${shots}/category.png` });
  await open('/cart');

  // 5. The preference center: what Tailor knows, the SDK's consent banner, boxes that show
  //    the consent Tailor applies, and saves that record consent only for the boxes the
  //    shopper changed — the consent ledger is read after each save.
  const consentOf = async () => {
    const r = await fetch(`${base}/v1/consent/${encodeURIComponent(shopper)}`,
      { headers: { authorization: `Bearer ${adminKey}` } });
    if (!r.ok) throw new Error(`GET /v1/consent: ${r.status}`);
    return r.json();
  };
  const CHANNELS = ['email', 'push', 'sms'];
  const boxesMatch = async (c, when) => {
    for (const ch of CHANNELS) {
      const stored = c.purposes[ch]?.allowed === true;
      expect(await page.isChecked(`input[name=${ch}]`) === stored, `${when}: the ${ch} box shows what is stored (${stored})`);
    }
  };
  const save = () => Promise.all([page.waitForURL(/\/preferences$/), page.click('text=Save my preferences')]);
  await open('/preferences');
  let prefs = await page.textContent('body');
  expect(prefs.includes('What we know about you') && prefs.includes('Consent'), 'the shopper sees what Tailor knows');
  expect((await page.$$('.tailor-consent input[type=checkbox]')).length === 3, "the SDK's consent banner is on the page");
  // The choice holds for this browser: later events (the order below) carry it, and an
  // event without analytics consent would not be stored.
  await page.check('.tailor-consent input[name=Analytics]');
  await page.check('.tailor-consent input[name=Personalization]');
  await page.click('.tailor-consent button:has-text("Save my choices")');
  await page.waitForTimeout(300);
  const consent = tracked.find((t) => t.event === 'Segment Consent Preference Updated');
  const prefsSent = consent?.context?.consent?.categoryPreferences;
  expect(prefsSent?.Analytics === true && prefsSent?.Personalization === true && prefsSent?.Advertising === false,
    `the consent banner sent context.consent.categoryPreferences ${JSON.stringify(prefsSent)}`);
  // The ledger once the banner's choice is in (read until two reads agree).
  let stored = await consentOf();
  for (let i = 0; i < 20; i++) {
    await page.waitForTimeout(100);
    const again = await consentOf();
    if (again.ledger.length === stored.ledger.length) break;
    stored = again;
  }
  await page.reload();
  await boxesMatch(stored, 'first visit');
  // A favourite category only: no consent changes, nothing in the ledger.
  const last = await page.$$eval('input[name^=category_]', (els) => els[els.length - 1].value);
  await page.check(`input[value="${last}"]`);
  await save();
  expect(await page.isChecked(`input[value="${last}"]`), 'the declared category is saved');
  let now = await consentOf();
  expect(now.ledger.length === stored.ledger.length, `saving a category adds nothing to the consent ledger (${now.ledger.length})`);
  for (const ch of CHANNELS) {
    expect(now.purposes[ch]?.allowed === stored.purposes[ch]?.allowed, `saving a category leaves ${ch} as it was`);
  }
  await boxesMatch(now, 'after saving a category');
  // Flip email, then set it granted: one ledger entry each, naming email only.
  const flips = (await page.isChecked('input[name=email]')) ? [false, true] : [true];
  for (const granted of flips) {
    stored = now;
    if (granted) await page.check('input[name=email]'); else await page.uncheck('input[name=email]');
    await save();
    now = await consentOf();
    const added = now.ledger.slice(stored.ledger.length);
    expect(added.length === 1 && added[0].source === 'preference center'
      && JSON.stringify(added[0].categoryPreferences) === JSON.stringify({ email: granted }),
      `saving email ${granted ? 'on' : 'off'} records exactly that: ${JSON.stringify(added)}`);
    expect(now.purposes.email.allowed === granted, `email is ${granted ? 'granted' : 'withdrawn'}`);
    for (const ch of ['push', 'sms']) {
      expect(now.purposes[ch]?.allowed === stored.purposes[ch]?.allowed, `${ch} is untouched`);
    }
    await boxesMatch(now, `after saving email ${granted ? 'on' : 'off'}`);
  }
  prefs = await page.textContent('body');
  expect(prefs.includes('email: granted'), 'the declared channel is consent');
  await open('/');
  const heroWhy = await page.$eval('[data-tailor-placement="home.hero"] .tailor-why-popover', (e) => e.textContent);
  expect(heroWhy.includes('you told us'), `the hero follows what they declared: ${heroWhy}`);
  if (shots) await page.screenshot({ path: `${shots}/preferences.png` });

  // 6. Placing the order: it carries the cart page's decision, and empties the cart.
  await open('/as');
  await page.click('[data-tailor-placement="recs.home"] .tailor-card a');
  await page.waitForURL(/\/p\//);
  await page.click('button.primary');
  await page.waitForURL(/\/cart$/);
  const cartDecision = await page.waitForSelector('body[data-tailor-ready]').then(() => page.$eval('body', (b) => b.dataset.tailorReady));
  await page.click('text=Place order');
  await page.waitForURL((u) => !u.pathname.startsWith('/cart'));
  await open('/cart');
  expect((await page.textContent('body')).includes('Your cart is empty'), 'the order emptied the cart');
  const order = tracked.find((t) => t.event === 'Order Completed');
  expect(order?.context?.consent?.categoryPreferences?.Analytics === true, 'the order carries the consent choice');
  expect(order && order.properties.decisionId === cartDecision, `Order Completed carries the decisionId ${cartDecision}`);

  // Every standard placement was rendered with its reason somewhere on the walk.
  const missing = STANDARD.filter((id) => !(explained.get(id)?.length > 5));
  expect(missing.length === 0, `every standard placement rendered with a reason (missing: ${missing.join(', ') || 'none'})`);
  expect(errors.length === 0, `no script errors (${errors.join('; ')})`);
  expect(refused.length === 0, `no Content Security Policy refusals: ${refused.join(' | ')}`);
} finally {
  await browser.close();
}
