// Tailor's storefront SDK: asks Tailor what each placement of a page shows the current
// visitor, renders the answer with a "why am I seeing this" popover, and reports
// impressions and clicks with their decisionId. An ES module with no dependencies and no
// build step:
//
//   import { Tailor } from "https://tailor.example.com/sdk/tailor.js";
//   const tailor = new Tailor({ host: "https://tailor.example.com", writeKey: "WRITE_KEY", analytics });
//   await tailor.personalize({ page: "home" });   // fills every [data-tailor-placement]
//
// A ranking placement (`rank.listing`) reorders the store's own list instead of filling a
// slot: mark the list's container `data-tailor-placement="rank.listing" data-tailor-list` and
// each product element in it `data-product-id`; `personalize` sends those ids in the store's
// order (`context.productIds`), then moves the elements into the visitor's order and adds
// each moved product's reason (`.tailor-reason`).
//
// Who the visitor is: analytics.js's anonymousId when analytics.js is on the page, else a
// first-party id of the SDK's own (cookie `tailor_anonymous_id`); a signed-in shopper's
// userId counts only with the proof the store's backend made for it (`userHash` or
// `profileToken`). Events go through analytics.js when it is there, else straight to Tailor.
//
// Everything rendered is built from DOM text nodes, never parsed as HTML, and links take
// only http(s) URLs and paths: no answer can inject markup or script into the page.

export const VERSION = '0.1.0';

/** The placements Tailor defines out of the box, by kind. */
export const STANDARD_PLACEMENTS = [
  'nav.categories', 'home.hero', 'promo.banner', 'recs.home', 'recs.product', 'recs.cart',
  'checkout.flow', 'onsite.message', 'rank.listing',
];

/** How many of a ranked list's products an impression reports (a page's worth). */
const RANKING_IMPRESSION = 24;

const COOKIE = 'tailor_anonymous_id';
const CONSENT_KEY = 'tailor_consent';
const YEAR_SECONDS = 365 * 24 * 3600;

export class Tailor {
  /**
   * @param {object} options
   * @param {string} options.writeKey  the public write key
   * @param {string} [options.host]  Tailor's origin ('' = this page's origin)
   * @param {object} [options.analytics]  analytics.js (defaults to window.analytics)
   * @param {string} [options.userId]  the signed-in shopper, with one of:
   * @param {string} [options.userHash]  hex HMAC-SHA256 of userId, made by the backend
   * @param {string} [options.profileToken]  a profile token from POST /v1/tokens
   * @param {string} [options.anonymousId]  overrides analytics.js's and the SDK's own id
   * @param {(p: object) => string} [options.productUrl]  a product's link
   * @param {(c: object) => string} [options.categoryUrl]  a category's link
   */
  constructor(options = {}) {
    if (!options.writeKey) throw new Error('Tailor: a writeKey is required');
    this.options = options;
    this.host = (options.host ?? '').replace(/\/+$/, '');
    this.doc = options.document ?? globalThis.document;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.analytics = options.analytics ?? globalThis.analytics;
    this.productUrl = options.productUrl ?? ((p) => p.url || `/products/${encodeURIComponent(p.id)}`);
    this.categoryUrl = options.categoryUrl ?? ((c) => `/c/${c.path.split('/').map(encodeURIComponent).join('/')}`);
    this.consent = readConsent();
    /** The last decision's id: send it with events about what it showed. */
    this.decisionId = null;
    this.attachToAnalytics();
  }

  /** The visitor's anonymousId: given, analytics.js's, or the SDK's own first-party one. */
  async anonymousId() {
    if (this.options.anonymousId) return this.options.anonymousId;
    if (this.analytics?.user) {
      const user = await withTimeout(Promise.resolve(this.analytics.user()), 2000).catch(() => null);
      const id = user?.anonymousId?.();
      if (id) return id;
    }
    return ownAnonymousId(this.doc);
  }

  /** The proof of the signed-in shopper, as decide and events carry it. */
  proof() {
    const { userId, userHash, profileToken } = this.options;
    if (!userId) return {};
    return profileToken ? { userId, profileToken } : userHash ? { userId, userHash } : { userId };
  }

  /** Asks Tailor what `placements` show this visitor. Resolves to the decide reply. */
  async decide(placements, context = {}) {
    const body = { anonymousId: await this.anonymousId(), ...this.proof(), placements, context };
    const ask = () => this.fetch(`${this.host}/v1/decide`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.options.writeKey}` },
      body: JSON.stringify(body),
    });
    let response = await ask();
    // Refused for a moment (rate limit): once more when the server says it is soon.
    const wait = Number(response.headers?.get?.('Retry-After'));
    if (response.status === 429 && wait >= 0 && wait <= 3) {
      await new Promise((r) => setTimeout(r, wait * 1000));
      response = await ask();
    }
    const reply = await response.json();
    if (!response.ok) throw new Error(`Tailor decide: ${reply?.error?.message ?? response.status}`);
    this.decisionId = reply.decisionId;
    return reply;
  }

  /**
   * Decides every placement that has an element `[data-tailor-placement="id"]` under
   * `root` and renders it there. Resolves to the reply.
   */
  async personalize(context = {}, root = this.doc) {
    const slots = [...root.querySelectorAll('[data-tailor-placement]')];
    const ids = [...new Set(slots.map((el) => el.dataset.tailorPlacement))];
    if (ids.length === 0) return null;
    // The store's own list, in the store's order, for a ranking placement to reorder.
    const list = slots.find((el) => 'tailorList' in el.dataset);
    if (list && context.productIds === undefined) {
      const listed = [...list.querySelectorAll('[data-product-id]')].map((el) => el.dataset.productId);
      context = { ...context, productIds: [...new Set(listed)] };
    }
    const reply = await this.decide(ids, context);
    this.render(reply, root);
    return reply;
  }

  /** Renders each answer of `reply` into its `[data-tailor-placement]` elements. */
  render(reply, root = this.doc) {
    for (const slot of root.querySelectorAll('[data-tailor-placement]')) {
      const placement = slot.dataset.tailorPlacement;
      const answer = reply.decisions?.[placement];
      if (!answer) continue;
      const ui = this.ui(reply.decisionId, placement);
      if (answer.kind === 'ranking') {
        renderRanking(slot, answer, ui);
      } else {
        slot.replaceChildren(renderPlacement(answer, ui));
      }
      slot.dataset.tailorKind = answer.kind;
      if (answer.variant) slot.dataset.tailorVariant = answer.variant;
      this.impression(answer, ui);
    }
  }

  /** What the renderers need: the document, links, and the click handler. */
  ui(decisionId, placement) {
    return {
      doc: this.doc, decisionId, placement, productUrl: this.productUrl, categoryUrl: this.categoryUrl,
      onClick: (event, properties) => this.track(event, { ...properties, decisionId, placement }),
    };
  }

  /** Segment's e-commerce "viewed" events for what a placement shows. */
  impression(answer, ui) {
    const base = { decisionId: ui.decisionId, placement: ui.placement };
    if (answer.item) {
      this.track('Promotion Viewed', { ...base, ...promotion(answer.item, ui.placement) });
    } else if (answer.items?.length) {
      this.track('Product List Viewed', {
        ...base, list_id: ui.placement, products: answer.items.map((i, n) => product(i.product, n + 1)),
      });
    } else if (answer.ranking?.length) {
      this.track('Product List Viewed', {
        ...base, list_id: ui.placement,
        products: answer.ranking.slice(0, RANKING_IMPRESSION).map((r, n) => ({ product_id: r.id, position: n + 1 })),
      });
    }
  }

  /** Sends a track event: through analytics.js when present, else straight to Tailor. */
  async track(event, properties = {}) {
    const { userId, ...proof } = this.proof();
    const integrations = Object.keys(proof).length ? { Tailor: proof } : undefined;
    const context = this.consent ? { consent: { categoryPreferences: this.consent } } : {};
    if (this.analytics?.track) {
      return this.analytics.track(event, properties, { integrations, context });
    }
    const message = {
      writeKey: this.options.writeKey, type: 'track', event, properties,
      anonymousId: await this.anonymousId(), userId, integrations,
      messageId: `tailor-${randomId()}`, timestamp: new Date().toISOString(),
      context: { ...context, library: { name: 'tailor-web', version: VERSION }, page: pageContext(this.doc) },
    };
    // text/plain with the key inside, as analytics.js posts: a simple request (no
    // preflight), and `keepalive` lets it finish while the page navigates away.
    const response = await this.fetch(`${this.host}/v1/t`, {
      method: 'POST', keepalive: true, headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify(message),
    });
    return { ok: response.ok, status: response.status };
  }

  /**
   * A consent banner: one checkbox per category and a Save button (or Accept all / Reject
   * all). The choice is kept in localStorage, sent as Segment's
   * `context.consent.categoryPreferences` on every later event (analytics.js's too, through
   * a source middleware), and recorded at once with a `Segment Consent Preference Updated`
   * event. Returns the banner element (not yet in the page), or null when already chosen.
   */
  consentBanner({ categories = ['Analytics', 'Personalization', 'Advertising'], text, force = false } = {}) {
    if (this.consent && !force) return null;
    const doc = this.doc;
    const banner = el(doc, 'div', { class: 'tailor-consent', role: 'dialog', 'aria-label': 'Privacy choices' });
    banner.append(el(doc, 'p', {}, text ?? 'We use your activity on this site to measure it and to personalize what you see. Choose what you allow.'));
    const boxes = categories.map((name) => {
      const box = el(doc, 'input', { type: 'checkbox', name });
      box.checked = this.consent?.[name] ?? false;
      banner.append(el(doc, 'label', {}, box, ` ${name}`));
      return box;
    });
    const choose = (pick) => {
      const choice = Object.fromEntries(boxes.map((b) => [b.name, pick(b)]));
      this.setConsent(choice);
      banner.remove();
      return choice;
    };
    const button = (label, pick) => {
      const b = el(doc, 'button', { type: 'button' }, label);
      b.addEventListener('click', () => choose(pick));
      banner.append(b);
    };
    button('Accept all', () => true);
    button('Reject all', () => false);
    button('Save my choices', (b) => b.checked);
    return banner;
  }

  /** Records consent choices (category name → true/false) and sends them. */
  setConsent(categoryPreferences) {
    this.consent = { ...categoryPreferences };
    try { globalThis.localStorage?.setItem(CONSENT_KEY, JSON.stringify(this.consent)); } catch { /* private mode */ }
    return this.track('Segment Consent Preference Updated', {});
  }

  /**
   * Gives every analytics.js event what Tailor needs (once, through a source middleware):
   * the consent choices, and the signed-in shopper's proof on their own events, so the
   * store's own `analytics.track(…)` calls count for the shopper too.
   */
  attachToAnalytics() {
    if (this.attached || !this.analytics?.addSourceMiddleware) return;
    this.attached = true;
    const { userId, ...proof } = this.proof();
    this.analytics.addSourceMiddleware(({ payload, next }) => {
      const event = payload.obj;
      if (this.consent) {
        const ctx = (event.context ??= {});
        ctx.consent = { ...ctx.consent, categoryPreferences: this.consent };
      }
      if (userId && event.userId === userId && Object.keys(proof).length) {
        event.integrations = { ...event.integrations, Tailor: { ...proof, ...event.integrations?.Tailor } };
      }
      next(payload);
    });
  }
}

/** One placement's answer as an element, by its kind, with its "why" popover. */
export function renderPlacement(answer, ui) {
  const render = RENDERERS[answer.kind] ?? (() => null);
  const box = el(ui.doc, 'div', { class: `tailor-placement tailor-kind-${answer.kind}` });
  const content = render(answer, ui);
  if (content) box.append(content);
  box.append(whyPopover(ui.doc, answer.explanation));
  return box;
}

/**
 * A ranking's answer applied to the store's own list in `slot`: its `[data-product-id]`
 * elements are moved into the answer's order (those it does not name stay after them), each
 * moved product shows its reason (`.tailor-reason`), and the list's "why" popover leads.
 * Elements are moved, never rebuilt: the store's markup and its handlers stay as they are.
 */
export function renderRanking(slot, answer, ui) {
  const doc = ui.doc;
  const byId = new Map();
  for (const node of slot.querySelectorAll('[data-product-id]')) {
    if (!byId.has(node.dataset.productId)) byId.set(node.dataset.productId, node);
  }
  for (const old of [...slot.children].filter((c) => c.classList.contains('tailor-why'))) old.remove();
  for (const old of slot.querySelectorAll('.tailor-reason')) old.remove();
  const ordered = [];
  for (const r of answer.ranking ?? []) {
    const node = byId.get(r.id);
    if (!node) continue;
    byId.delete(r.id);
    ordered.push(node);
    node.classList.toggle('tailor-moved', Boolean(r.reason));
    if (r.reason) node.append(el(doc, 'div', { class: 'tailor-reason' }, r.reason));
  }
  const rest = [...byId.values()];
  const parent = ordered[0]?.parentNode ?? slot;
  for (const node of [...ordered, ...rest]) parent.append(node);
  slot.prepend(whyPopover(doc, answer.explanation));
}

export function renderHero(answer, ui) {
  if (!answer.item) return null;
  return banner(answer.item, ui, 'tailor-hero-banner', 'Shop now →');
}

export function renderPromotion(answer, ui) {
  if (!answer.item) return null;
  return banner(answer.item, ui, 'tailor-promo-banner', 'Get it');
}

export function renderNavigation(answer, ui) {
  const nav = el(ui.doc, 'nav', { class: 'tailor-nav' });
  for (const c of answer.categories ?? []) nav.append(link(ui.doc, ui.categoryUrl(c), c.name));
  // "New for you": the leaf categories the visitor is predicted to take up next.
  const next = answer.newForYou ?? [];
  if (next.length) {
    const row = el(ui.doc, 'div', { class: 'tailor-new-for-you' }, 'New for you: ');
    for (const path of next) {
      row.append(link(ui.doc, ui.categoryUrl({ path, name: path }), path.split('/').pop()));
    }
    nav.append(row);
  }
  return nav;
}

export function renderRecommendations(answer, ui) {
  const grid = el(ui.doc, 'div', { class: 'tailor-recs' });
  (answer.items ?? []).forEach((item, n) => {
    const p = item.product;
    const card = el(ui.doc, 'div', { class: 'tailor-card', 'data-product-id': p.id });
    const a = link(ui.doc, ui.productUrl(p), ...picture(ui.doc, p.image_url, p.name, 'tailor-product-image'), el(ui.doc, 'h3', {}, p.name));
    trackClick(a, () => ui.onClick('Product Clicked', product(p, n + 1)));
    card.append(a, el(ui.doc, 'div', { class: 'tailor-price' }, money(p.price, p.currency)));
    if (item.reason) card.append(el(ui.doc, 'div', { class: 'tailor-reason' }, item.reason));
    grid.append(card);
  });
  return grid;
}

export function renderCheckout(answer, ui) {
  if (!answer.variant) return null;
  return el(ui.doc, 'p', { class: 'tailor-checkout-variant' }, el(ui.doc, 'strong', {}, `Checkout: ${answer.variant}`));
}

export function renderMessage(answer, ui) {
  const m = answer.message;
  if (!m) return null;
  const box = el(ui.doc, 'div', { class: 'tailor-message', role: 'status' },
    el(ui.doc, 'strong', {}, m.title ?? ''), ' ', m.body ?? '');
  for (const id of m.products ?? []) {
    const a = link(ui.doc, ui.productUrl({ id }), id);
    trackClick(a, () => ui.onClick('Product Clicked', { product_id: id, decisionId: m.decisionId ?? ui.decisionId }));
    box.append(' ', a);
  }
  return box;
}

const RENDERERS = {
  hero: renderHero, promotion: renderPromotion, navigation: renderNavigation,
  recommendations: renderRecommendations, checkout: renderCheckout, message: renderMessage,
};

/** A "Why am I seeing this?" button that shows `explanation` in a popover. */
export function whyPopover(doc, explanation) {
  const wrap = el(doc, 'span', { class: 'tailor-why' });
  const button = el(doc, 'button', { type: 'button', class: 'tailor-why-button', 'aria-expanded': 'false' }, 'Why am I seeing this?');
  const popover = el(doc, 'span', { class: 'tailor-why-popover', role: 'note' }, explanation || 'No reason given');
  popover.hidden = true;
  button.addEventListener('click', (e) => {
    e.preventDefault();
    popover.hidden = !popover.hidden;
    button.setAttribute('aria-expanded', String(!popover.hidden));
  });
  wrap.append(button, popover);
  return wrap;
}

/** Only http(s) URLs and paths; anything else (`javascript:`, `data:`) becomes `#`. */
export function safeUrl(url) {
  const text = String(url ?? '').trim();
  if (/^https?:\/\//i.test(text) || (/^\/(?!\/)/.test(text) && !/[\\\u0000-\u001f]/.test(text))) return text;
  return '#';
}

function banner(item, ui, cls, cta) {
  const box = el(ui.doc, 'div', { class: cls });
  box.append(...picture(ui.doc, item.image_url, item.title ?? '', 'tailor-banner-image'));
  box.append(el(ui.doc, 'h2', {}, item.title ?? ''));
  if (item.body) box.append(el(ui.doc, 'p', {}, item.body));
  const a = link(ui.doc, item.link_url ?? '/', cta);
  trackClick(a, () => ui.onClick('Promotion Clicked', promotion(item, ui.placement)));
  box.append(a);
  return box;
}

/** The catalog's picture, when it has one at an http(s) URL or a path: `[img]` or `[]`. */
function picture(doc, url, alt, cls) {
  const src = safeUrl(url);
  if (!url || src === '#') return [];
  return [el(doc, 'img', { src, alt: String(alt ?? ''), class: cls, loading: 'lazy', decoding: 'async' })];
}

function promotion(item, placement) {
  return { promotion_id: item.id, name: item.title, creative: placement };
}

function product(p, position) {
  return { product_id: p.id, name: p.name, category: (p.category ?? []).join('/'), price: p.price, position };
}

/** On a plain click, sends the event before following the link (at most 1 s later). */
function trackClick(a, send) {
  a.addEventListener('click', (e) => {
    const plain = e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey;
    const sent = Promise.resolve().then(send).catch(() => {});
    if (!plain || a.getAttribute('href') === '#') return;
    e.preventDefault();
    const href = a.href;
    withTimeout(sent, 1000).catch(() => {}).finally(() => { globalThis.location.assign(href); });
  });
}

/** An element with attributes and children; strings become text nodes. */
function el(doc, tag, attributes = {}, ...children) {
  const node = doc.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  for (const c of children) node.append(typeof c === 'string' ? doc.createTextNode(c) : c);
  return node;
}

function link(doc, href, ...children) {
  return el(doc, 'a', { href: safeUrl(href) }, ...children);
}

function money(amount, currency = 'USD') {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(amount);
  } catch {
    return `${amount} ${currency}`;
  }
}

function pageContext(doc) {
  const loc = globalThis.location;
  return loc ? { path: loc.pathname, url: loc.href, search: loc.search, title: doc?.title, referrer: doc?.referrer } : {};
}

function ownAnonymousId(doc) {
  const found = doc?.cookie?.split(';').map((c) => c.trim()).find((c) => c.startsWith(`${COOKIE}=`));
  if (found) return decodeURIComponent(found.slice(COOKIE.length + 1));
  const id = randomId();
  if (doc) doc.cookie = `${COOKIE}=${encodeURIComponent(id)}; Path=/; Max-Age=${YEAR_SECONDS}; SameSite=Lax`;
  return id;
}

function readConsent() {
  try {
    const saved = JSON.parse(globalThis.localStorage?.getItem(CONSENT_KEY) ?? 'null');
    return saved && typeof saved === 'object' ? saved : null;
  } catch {
    return null;
  }
}

function randomId() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
