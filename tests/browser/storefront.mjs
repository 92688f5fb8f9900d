// Drives the demo storefront in a real browser (Debian's Chromium) and checks that the page
// adapts to what the visitor does. Usage: node storefront.mjs BASE_URL [SCREENSHOT_DIR]
// with TAILOR_ADMIN_KEY set (the consent ledger is read through the admin API).
// Exits non-zero with a message on the first failed expectation.
import { chromium } from 'playwright-core';

const base = process.argv[2];
const shots = process.argv[3];
const adminKey = process.env.TAILOR_ADMIN_KEY;
if (!base || !adminKey) {
  console.error('usage: TAILOR_ADMIN_KEY=… node storefront.mjs BASE_URL [SCREENSHOT_DIR]');
  process.exit(2);
}

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
  const tracked = [];
  page.on('request', r => { if (r.url().endsWith('/v1/track')) tracked.push(JSON.parse(r.postData() || '{}').event); });

  // 1. A new anonymous visitor sees what everyone sees, and says why.
  await page.goto(`${base}/as`);
  let text = await page.textContent('body');
  expect(text.includes('not personalized'), 'a new visitor is told the page is not personalized');
  expect(text.includes('Popular right now'), 'a new visitor gets popular products');
  expect((await page.$$('.grid .card')).length >= 4, 'a row of recommended products');

  // 2. Viewing a product and adding it to the cart sends Segment events, and the cart page adapts.
  await page.click('.grid .card a');
  await page.waitForURL(/\/p\//);
  await page.waitForTimeout(300);
  expect(tracked.includes('Product Clicked') && tracked.includes('Product Viewed'), 'Product Clicked and Product Viewed were sent');
  const added = await page.$('button.primary');
  expect(added !== null, 'an Add to cart button on an in-stock product');
  await added.click();
  await page.waitForURL(/\/cart$/);
  text = await page.textContent('body');
  expect(text.includes('Your cart'), 'the cart page lists the added product');
  expect(/You left 1 item\(s\) worth \$[0-9.]+ in your cart/.test(text), 'the promotion explains the cart-completion offer');
  expect(text.includes('Checkout:'), 'a checkout variant is chosen');
  if (shots) await page.screenshot({ path: `${shots}/cart.png` });

  // 3. Back home, the same visitor now gets a personalized page.
  await page.goto(`${base}/`);
  text = await page.textContent('body');
  expect(text.includes('personalized for you'), 'the next page view is personalized');

  // 4. Browsing as a simulated shopper with history: every block explains itself.
  const shopper = await page.$eval('select[name=user] option:nth-child(2)', o => o.value);
  await page.goto(`${base}/as?user=${encodeURIComponent(shopper)}`);
  text = await page.textContent('body');
  expect(text.includes('personalized for you'), `${shopper}'s page is personalized`);
  const whys = await page.$$eval('.why', els => els.map(e => e.textContent));
  expect(whys.length >= 3 && whys.every(w => w.startsWith('Why: ') && w.length > 10), `${whys.length} explanations on the page`);
  expect(whys.some(w => w.includes('Because')), 'at least one explanation names what drove it');
  if (shots) await page.screenshot({ path: `${shots}/shopper.png` });

  // 5. The preference center shows the consent Tailor applies, and a save records consent
  //    only for the boxes the shopper changed: the consent ledger is read after each save.
  const consent = async () => {
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
  let stored = await consent();
  await page.goto(`${base}/preferences`);
  text = await page.textContent('body');
  expect(text.includes('What we know about you') && text.includes('Consent'), 'the shopper sees what Tailor knows');
  await boxesMatch(stored, 'first visit');
  // A favourite category only: no consent changes, nothing in the ledger.
  const last = await page.$$eval('input[name^=category_]', els => els[els.length - 1].value);
  await page.check(`input[value="${last}"]`);
  await save();
  expect(await page.isChecked(`input[value="${last}"]`), 'the declared category is saved');
  let now = await consent();
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
    now = await consent();
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
  text = await page.textContent('body');
  expect(text.includes('email: granted'), 'the declared channel is consent');
  await page.goto(`${base}/`);
  const heroWhy = await page.$eval('.why', e => e.textContent);
  expect(heroWhy.includes('you told us'), `the hero follows what they declared: ${heroWhy}`);
  if (shots) await page.screenshot({ path: `${shots}/preferences.png` });

  // 6. Placing the order: the promotion steps aside right after.
  await page.goto(`${base}/as`);
  await page.click('.grid .card a');
  await page.waitForURL(/\/p\//);
  await page.click('button.primary');
  await page.waitForURL(/\/cart$/);
  await page.click('text=Place order');
  await page.waitForURL(u => !u.pathname.startsWith('/cart'));
  await page.goto(`${base}/cart`);
  text = await page.textContent('body');
  expect(text.includes('Your cart is empty'), 'the order emptied the cart');
  expect(tracked.includes('Order Completed'), 'Order Completed was sent');
} finally {
  await browser.close();
}
