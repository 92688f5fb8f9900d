// Walks the Tailor console in a real browser (Debian's Chromium), as the admin and as the
// analyst, on a demo store: every screen renders under the pages' Content Security Policy
// with its charts drawn by uPlot, the numbers shown are the API's, a change made in the
// console (a placement's variants, a new experiment, a journey paused) is what the API
// then answers, and the analyst reaches no personal data, in pages or JSON. A screenshot
// of each page goes to SCREENSHOT_DIR.
// Usage: ADMIN_KEY=… ANALYST_KEY=… node console.mjs BASE_URL SCREENSHOT_DIR
import { chromium } from 'playwright-core';

const [base, shots] = process.argv.slice(2);
const { ADMIN_KEY: adminKey, ANALYST_KEY: analystKey } = process.env;
if (!base || !shots || !adminKey || !analystKey) {
  console.error('usage: ADMIN_KEY=… ANALYST_KEY=… node console.mjs BASE_URL SCREENSHOT_DIR');
  process.exit(2);
}
const expect = (ok, what) => {
  if (!ok) throw new Error(`expected ${what}`);
  console.log(`ok: ${what}`);
};
/** The API's answer with a key. */
const api = async (path, key = adminKey, body) => {
  const r = await fetch(base + path, body === undefined
    ? { headers: { Authorization: `Bearer ${key}` } }
    : { method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  try { return { status: r.status, body: JSON.parse(text) }; } catch { return { status: r.status, body: text }; }
};
const number = (s) => Number(String(s).replace(/[^0-9.\-]/g, ''));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});

/** A signed-in browser context with its own CSP-refusal and error lists. */
async function signIn(key, role) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  const page = await context.newPage();
  const refused = [];
  const errors = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) refused.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => d.accept());
  await page.goto(`${base}/console/people`);
  expect(page.url().includes('/console/signin'), `${role}: an unsigned visit is sent to sign-in`);
  await page.fill('#key', 'not-a-key');
  await Promise.all([page.waitForLoadState(), page.press('#key', 'Enter')]);
  expect(await page.isVisible('#key-error'), `${role}: a wrong key is answered next to the field`);
  await page.fill('#key', key);
  await Promise.all([page.waitForURL(/\/console/), page.click('button[type=submit]')]);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'tailor_console');
  expect(session && session.httpOnly && session.sameSite === 'Strict', `${role}: the session cookie is HttpOnly and SameSite=Strict`);
  return { context, page, refused, errors };
}

/** Opens a console path, waits for the script (and for slow reports, which the server
 * computes off the request, to be ready), checks the charts drew, takes a screenshot. */
async function visit(b, path, shot, { charts = 0, ready } = {}) {
  let response;
  for (let attempt = 0; ; attempt++) {
    response = await b.page.goto(`${base}${path}`);
    await b.page.waitForSelector('body[data-console-ready]');
    if (!ready || await b.page.$(ready) || attempt > 120) break;
    await b.page.waitForTimeout(500);
  }
  expect(response.status() === 200, `${path} answers 200 (got ${response.status()})`);
  if (charts > 0) {
    const drawn = await b.page.$$eval('[data-chart]', (els) => els.filter((e) => e.dataset.drawn || e.classList.contains('empty')).length);
    const canvases = await b.page.$$eval('[data-chart] canvas', (els) => els.length);
    expect(drawn >= charts && canvases >= 1, `${path}: ${drawn} charts drawn (${canvases} canvases)`);
  }
  if (shot) await b.page.screenshot({ path: `${shots}/${shot}.png`, fullPage: true });
  return b.page;
}
const text = (page, selector) => page.textContent(selector);

try {
  // --- The admin. ---
  const admin = await signIn(adminKey, 'admin');
  const p = admin.page;

  // Overview: the profile count is the API's (Prometheus gauge), the model version too.
  await visit(admin, '/console', 'overview', { charts: 4, ready: '#holdout [data-chart]' });
  // The README's tour: the first screen of a page, small (docs/console-*.png).
  await p.screenshot({ path: `${shots}/tour-overview.png`, clip: { x: 0, y: 0, width: 1360, height: 760 } });
  const metrics = (await api('/metrics')).body;
  const gauge = Number((/^tailor_profiles (\d+)/m.exec(metrics) || [])[1]);
  const shownProfiles = number(await text(p, '[data-stat=profiles]'));
  expect(shownProfiles === gauge, `overview profiles ${shownProfiles} = the API's tailor_profiles ${gauge}`);
  const models = (await api('/v1/models')).body;
  const latest = models.versions?.[models.versions.length - 1];
  if (latest) {
    expect(number(await text(p, '[data-stat="model version"]')) === latest.version, `the model version shown is the API's ${latest.version}`);
  }

  // People: search by e-mail fragment, open a person, compare with the API's profile.
  const anyone = (await api('/v1/journeys/runs?limit=1')).body;
  await visit(admin, '/console/people?q=user-1', 'people');
  const firstLink = await p.$('table.people a');
  expect(!!firstLink, 'the search finds people');
  const personId = (await firstLink.textContent()).trim();
  await Promise.all([p.waitForURL(/\/console\/people\/p_/), firstLink.click()]);
  await p.waitForSelector('body[data-console-ready]');
  await p.screenshot({ path: `${shots}/person.png`, fullPage: true });
  const profile = (await api(`/v1/profiles/${personId}`)).body;
  expect(await text(p, '[data-stat="lifecycle stage"]') === profile.lifecycleStage,
    `the person's stage is the API's (${profile.lifecycleStage})`);
  expect(number(await text(p, '[data-stat=events]')) === profile.events, `the person's event count is the API's (${profile.events})`);
  for (const id of ['timeline', 'predictions', 'consent', 'decisions', 'journeys', 'messages', 'assignments', 'requests']) {
    expect(await p.isVisible(`#${id}`), `the person page has ${id}`);
  }
  void anyone;

  // Segments: the live count follows the condition and equals what the JSON read answers.
  await visit(admin, '/console/segments', 'segments');
  await p.fill('#condition', '{"orders": {"$gte": 1}}');
  await p.waitForFunction(() => /people match now/.test(document.querySelector('[data-live-count]').textContent)
    && document.querySelector('[data-live-count]').dataset.seen !== 'x');
  await p.waitForTimeout(800);
  const live = await (await p.request.get(`${base}/console/api/segments/match?condition=${encodeURIComponent('{"orders": {"$gte": 1}}')}`)).json();
  expect((await text(p, '[data-live-count]')).startsWith(live.matching.toLocaleString('en-US')),
    `the live count shows ${live.matching} of ${live.total}`);
  expect(live.sample.length > 0 && (await p.$$('[data-live-sample] li')).length > 0, 'the admin sees a sample');
  await p.fill('#seg-id', 'customers');
  await p.fill('#seg-name', 'Customers');
  await Promise.all([p.waitForURL(/\/console\/segments$/), p.click('text=Save as a segment')]);
  expect((await p.textContent('main')).includes('Customers'), 'the segment is saved');
  // The same condition as an audience: the API lists it, and the console its change stream.
  await p.fill('#condition', '{"orders": {"$gte": 1}}');
  await p.fill('#seg-id', 'console-customers');
  await p.fill('#seg-name', 'Customers, for ads');
  await Promise.all([p.waitForURL(/\/console\/audiences\/console-customers$/), p.click('text=Save as an audience')]);
  await p.waitForSelector('body[data-console-ready]');
  const audiences = (await api('/v1/audiences')).body;
  expect(JSON.stringify(audiences).includes('console-customers'), 'the audience saved in the console is in GET /v1/audiences');
  await p.screenshot({ path: `${shots}/audience.png`, fullPage: true });

  // Placements: change the checkout's variants in the console; the API answers the change.
  await visit(admin, '/console/placements', 'placements');
  await visit(admin, '/console/placements/checkout.flow', null);
  const variants = JSON.parse(await p.inputValue('#p-variants'));
  variants.push({ id: 'console-variant', explanation: 'Added in the console' });
  await p.fill('#p-variants', JSON.stringify(variants, null, 2));
  await Promise.all([p.waitForURL(/checkout\.flow$/), p.click('text=Save placement')]);
  const placements = (await api('/v1/placements')).body.placements;
  const checkout = placements.find((x) => x.id === 'checkout.flow');
  expect(checkout.variants.some((v) => v.id === 'console-variant'), 'the new variant is in GET /v1/placements');
  expect(number(await p.$eval('[data-variants]', (e) => e.textContent).catch(() => '0')) >= 0, 'variants listed');
  // A bad condition is answered next to its field, and nothing is stored.
  await p.fill('#p-condition', '{"orders": {"$nope": 1}}');
  await p.click('text=Save placement');
  await p.waitForSelector('#condition-error');
  expect(await p.isVisible('#condition-error'), 'an invalid condition is answered next to the field');
  // The preview as a shopper logs nothing.
  const before = (await api('/metrics')).body.match(/^tailor_decisions_total (\d+)/m)?.[1];
  await visit(admin, `/console/placements/home.hero?as=${encodeURIComponent(profile.userIds?.[0] || personId)}`, 'placement-preview');
  expect(await p.isVisible('[data-preview]'), 'the preview shows the answer');
  const after = (await api('/metrics')).body.match(/^tailor_decisions_total (\d+)/m)?.[1];
  expect(before === after, `the preview logged no decision (${before} = ${after})`);

  // Experiments: the demo's results as the API answers them; create one in the console.
  await visit(admin, '/console/experiments', 'experiments');
  const demoResults = (await api('/v1/experiments/demo-recs-holdout/results')).body;
  await visit(admin, '/console/experiments/demo-recs-holdout', 'experiment', { charts: 1, ready: '[data-units]' });
  await p.screenshot({ path: `${shots}/tour-experiment.png`, clip: { x: 0, y: 0, width: 1360, height: 760 } });
  for (const v of demoResults.variations) {
    const shown = number(await p.$eval(`[data-units="${v.id}"]`, (e) => e.textContent));
    expect(shown === v.units, `experiment units of ${v.id}: ${shown} = the API's ${v.units}`);
  }
  expect(['ship', 'keep', 'stop'].includes(await p.$eval('[data-recommendation]', (e) => e.dataset.recommendation)),
    'a plain recommendation is shown');
  // Each metric day by day: the chart's last point is the results now.
  const days = demoResults.overTime?.days || [];
  if (days.length >= 2) {
    const spec = JSON.parse(await p.getAttribute('#over-time-conversion [data-chart]', 'data-chart'));
    const api0 = demoResults.overTime.metrics.conversion;
    expect(spec.x.length === days.length && spec.series.every((s, i) => s.values[s.values.length - 1] === api0[i].value[days.length - 1]
      && api0[i].value[days.length - 1] === demoResults.metrics.conversion[i].value),
      `conversion over ${days.length} days is charted, ending at the results now`);
  } else {
    expect(!(await p.$('#over-time-conversion')), `no day-by-day chart with ${days.length} day(s) of exposures`);
  }
  await visit(admin, '/console/experiments', null);
  await p.fill('#x-id', 'console-hero');
  await p.selectOption('#x-placement', 'home.hero');
  await p.fill('#x-variations', 'control editorial\npersonalized personalized');
  await p.fill('#x-weights', '0.5, 0.5');
  await p.fill('#x-goals', 'Product Added, Promotion Clicked');
  await Promise.all([p.waitForURL(/\/console\/experiments\/console-hero$/), p.click('button:text("Create")')]);
  await visit(admin, '/console/experiments/console-hero', null, { ready: '[data-units]' });
  const created = (await api('/v1/experiments')).body.experiments.find((e) => e.id === 'console-hero');
  expect(created && created.placement === 'home.hero', 'the experiment created in the console is in GET /v1/experiments');
  expect(created.goals.includes('Product Added'), 'with its goal events');
  const createdResults = (await api('/v1/experiments/console-hero/results')).body;
  expect(!!createdResults.metrics['event:Product Added'] && (await p.textContent('main')).includes('event:Product Added'),
    'any event is a goal metric (event:Product Added in the results)');

  // Journeys: counts are the API's; pause one in the console and the API says paused.
  await visit(admin, '/console/journeys', 'journeys');
  const journeys = (await api('/v1/journeys')).body.journeys;
  expect(journeys.length > 0, `the demo has journeys (${journeys.length})`);
  const j = journeys[0];
  const stats = (await api(`/v1/journeys/${j.id}/stats`)).body;
  const entered = number(await p.$eval(`[data-entered="${j.id}"]`, (e) => e.textContent));
  expect(entered === (stats.journey.entered || 0), `journey ${j.id} entered ${entered} = the API's ${stats.journey.entered || 0}`);
  await visit(admin, `/console/journeys/${j.id}`, 'journey', { charts: 1, ready: '[data-report]' });
  expect((await p.$$('.flow .step')).length === j.definition.steps.length, 'the flow shows every step');
  await Promise.all([p.waitForURL(new RegExp(`/console/journeys/${j.id}$`)), p.click('button:text("Pause")')]);
  expect((await api(`/v1/journeys/${j.id}`)).body.status === 'paused', 'the journey paused in the console is paused in the API');
  await Promise.all([p.waitForURL(new RegExp(`/console/journeys/${j.id}$`)), p.click('button:text("Resume")')]);
  expect((await api(`/v1/journeys/${j.id}`)).body.status === 'active', 'and resumed');

  // Editing a journey's definition: a refused draft is answered next to the editor and
  // changes nothing; a valid one is the API's next version.
  const unedited = (await api(`/v1/journeys/${j.id}`)).body;
  const draft = JSON.parse(JSON.stringify(unedited.definition));
  delete draft.trigger;
  await p.click('#edit summary');
  await p.fill('#j-definition', JSON.stringify(draft, null, 2));
  await p.click('button:text("Save as version")');
  const refusal = await p.textContent('#j-definition-error');
  expect(refusal.includes('trigger'), `a definition without a trigger is refused next to the editor (${refusal.trim().slice(0, 80)})`);
  expect((await api(`/v1/journeys/${j.id}`)).body.version === unedited.version, 'and the journey keeps its version');
  await p.screenshot({ path: `${shots}/journey-edit-refused.png`, fullPage: true });
  draft.trigger = unedited.definition.trigger;
  draft.name = `${unedited.definition.name || j.id} (edited in the console)`;
  await p.fill('#j-definition', JSON.stringify(draft, null, 2));
  await Promise.all([p.waitForURL(new RegExp(`/console/journeys/${j.id}$`)), p.click('button:text("Save as version")')]);
  const edited = (await api(`/v1/journeys/${j.id}`)).body;
  expect(edited.version === unedited.version + 1 && edited.definition.name === draft.name,
    `the edited journey is the API's version ${edited.version} with the new name`);

  // Message templates: a draft previewed as a shopper is what the API's preview renders;
  // a saved edit is what the API answers.
  await visit(admin, '/console/templates', 'templates');
  const templates = (await api('/v1/templates')).body.templates;
  const email = templates.find((t) => t.channel === 'email');
  expect(!!email && (await p.$$('[data-template]')).length === templates.length, `the console lists the ${templates.length} templates`);
  await visit(admin, `/console/templates/${email.id}`, null);
  const shopper = profile.userIds?.[0] || profile.anonymousIds?.[0];
  await p.fill('#t-as', shopper);
  await p.fill('#t-subject', 'For {{ first_name | default("you") }}: picked in the console');
  await p.click('button:text("Preview this draft")');
  const frame = p.frame({ name: 'preview' });
  await frame.waitForSelector('[data-preview="subject"]');
  const shownSubject = (await frame.textContent('[data-preview="subject"]')).trim();
  const apiPreview = (await api(`/v1/templates/${email.id}/preview`, adminKey,
    { person: shopper, template: { ...email, id: undefined, builtIn: undefined, modified: undefined, updatedAt: undefined,
                                   subject: 'For {{ first_name | default("you") }}: picked in the console' } })).body;
  expect(shownSubject === apiPreview.subject && shownSubject.endsWith('picked in the console'),
    `the draft's preview as ${shopper} is the API's: "${shownSubject}"`);
  await p.screenshot({ path: `${shots}/template.png`, fullPage: true });
  expect((await api(`/v1/templates/${email.id}`)).body.subject === email.subject, 'a preview saves nothing');
  await p.fill('#t-subject', '{{ first_name | default("There") }}, your cart is waiting');
  await Promise.all([p.waitForURL(/saved=1/), p.click('button:text("Save template")')]);
  expect((await api(`/v1/templates/${email.id}`)).body.subject === '{{ first_name | default("There") }}, your cart is waiting',
    'the template saved in the console is the API\'s');
  await p.fill('#t-subject', '{{ first_name | bogus_filter }}');
  await p.click('button:text("Save template")');
  const problem = await p.textContent('.field-error', { timeout: 10000 }).catch(() => '');
  await p.screenshot({ path: `${shots}/template-refused.png`, fullPage: true });
  expect(problem.includes('bogus_filter') || problem.includes('filter'), `a template that does not compile is refused with its problem shown (${problem.trim().slice(0, 80)})`);
  expect((await api(`/v1/templates/${email.id}`)).body.subject.endsWith('your cart is waiting'), 'and the saved template stays');

  // Models and privacy.
  await visit(admin, '/console/models', 'models', { charts: 2, ready: '[id^="dist-"]' });
  if (latest) {
    // A reliability diagram per probability model, from the API's evaluation bins.
    for (const [name, e] of Object.entries(latest.evaluation || {})) {
      if (!Array.isArray(e?.calibration) || e.calibration.length === 0) continue;
      const spec = JSON.parse(await p.getAttribute(`#calibration-${name} [data-chart]`, 'data-chart'));
      const observed = spec.series.find((s) => s.label === 'observed').values;
      expect(observed.length === e.calibration.length && observed.every((v, i) => Math.abs(v - e.calibration[i].observed_rate) < 1e-9),
        `the ${name} calibration chart shows the API's ${e.calibration.length} bins`);
    }
  }
  await visit(admin, '/console/privacy', 'privacy', { charts: 2 });
  const audit = (await api('/v1/audit?limit=500', analystKey)).body;
  const actions = JSON.stringify(audit);
  expect(actions.includes('console_profile') && actions.includes('console_search'), 'the console\'s reads of people are in the audit log');

  expect(admin.errors.length === 0, `admin: no script errors (${admin.errors.join('; ')})`);
  expect(admin.refused.length === 0, `admin: no Content Security Policy refusals (${admin.refused.join(' | ')})`);

  // --- The analyst. ---
  const analyst = await signIn(analystKey, 'analyst');
  const a = analyst.page;
  // What names a person: ids and e-mail. Internal profile numbers (`p_12`) are not: the
  // audit log shows them to the analyst's key in the API too.
  const personal = [...(profile.userIds || []), ...(profile.anonymousIds || []).slice(0, 3), profile.traits?.email].filter(Boolean);
  for (const [path, shot, charts, ready] of [
    ['/console', 'analyst-overview', 4, '#holdout [data-chart]'], ['/console/segments', 'analyst-segments', 0],
    ['/console/placements', null, 0], ['/console/placements/home.hero', null, 0],
    ['/console/experiments', null, 0], ['/console/experiments/demo-recs-holdout', 'analyst-experiment', 1, '[data-units]'],
    ['/console/journeys', 'analyst-journeys', 0], [`/console/journeys/${j.id}`, null, 1, '[data-report]'],
    ['/console/models', null, 2], ['/console/privacy', 'analyst-privacy', 2],
  ]) {
    await visit(analyst, path, shot, { charts, ready });
    const html = await a.content();
    const leaked = personal.filter((x) => html.includes(x));
    expect(leaked.length === 0, `analyst ${path} shows no personal data (${leaked.join(', ') || 'none'})`);
    expect(!(await a.$('nav a[href="/console/people"]')), `analyst ${path}: no People in the navigation`);
    expect(!(await a.$('nav a[href="/console/templates"]')), `analyst ${path}: no Messages in the navigation`);
  }
  for (const path of ['/console/people', `/console/people/${personId}`, `/console/people/${personId}/export`, '/console/templates', `/console/templates/${email.id}`]) {
    const r = await a.request.get(`${base}${path}`);
    expect(r.status() === 403, `analyst ${path} is refused (${r.status()})`);
  }
  const analystLive = await (await a.request.get(`${base}/console/api/segments/match?condition=${encodeURIComponent('{"orders": {"$gte": 1}}')}`)).json();
  expect(analystLive.matching === live.matching && analystLive.sample.length === 0, 'the analyst\'s JSON count has no sample');
  const analystApi = await api(`/v1/profiles/${personId}`, analystKey);
  expect(analystApi.status === 403, 'as the API\'s analyst scope: no profile');
  await visit(analyst, `/console/placements/home.hero?as=${encodeURIComponent(profile.userIds?.[0] || personId)}`, null);
  expect(!(await a.$('[data-preview]')), 'the analyst gets no preview as a shopper');
  expect(analyst.errors.length === 0, `analyst: no script errors (${analyst.errors.join('; ')})`);
  expect(analyst.refused.length === 0, `analyst: no Content Security Policy refusals (${analyst.refused.join(' | ')})`);

  // Signing out ends the session.
  await a.click('text=Sign out');
  await a.waitForURL(/\/console\/signin/);
  await a.goto(`${base}/console`);
  expect(a.url().includes('/console/signin'), 'after signing out the console asks to sign in');
} finally {
  await browser.close();
}
