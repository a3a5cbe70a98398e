// End-to-end tests of the web pages in headless Chromium (puppeteer-core over
// the DevTools protocol), against a real `lwdock serve` that run_e2e.sh
// started. Every wait is for something the page shows, never a fixed sleep;
// each step names itself so a failure says where it happened.
//
//   node e2e.mjs --url URL --chromium PATH --node-modules DIR --work DIR --package ZIP --spec JSON
//                --package-name NAME --admin NAME --admin-password PW --other NAME [--screenshots DIR]
import {createRequire} from 'node:module';
import {readFileSync, readdirSync, mkdirSync, existsSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import assert from 'node:assert/strict';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const require = createRequire(join(args['node-modules'], 'noop.js'));
const puppeteer = require('puppeteer-core');

const URL = args.url;
const TIMEOUT = 30000;
const results = {checks: 0, timings: {}};
let step = '';
const check = (what) => { step = what; results.checks += 1; };

// The API from node, as a program would call it (for what the page cannot show).
async function api(method, path, token, body) {
  const res = await fetch(URL + path, {method, headers: {...(token ? {Authorization: `Bearer ${token}`} : {}), ...(body ? {'Content-Type': 'application/json'} : {})},
                                       body: body ? JSON.stringify(body) : undefined});
  return {status: res.status, body: await res.json().catch(() => null)};
}

const browser = await puppeteer.launch({
  executablePath: args.chromium, headless: true,
  // root in CI: Chromium's sandbox needs an unprivileged user
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
});
const failures = [];
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.setViewport({width: 1440, height: 900});
  page.on('dialog', (d) => d.accept());   // confirm() of delete / revoke
  page.on('pageerror', (e) => failures.push(`page error on ${page.url()}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) failures.push(`console: ${m.text()}`); });
  const downloads = join(args.work, 'downloads');
  mkdirSync(downloads, {recursive: true});
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', {behavior: 'allow', downloadPath: downloads, eventsEnabled: true});

  // A fresh load of each page: a hash-only navigation to the address shown
  // already would leave the page as it is (and its loading marker unseen).
  const go = async (hash) => {
    await page.goto('about:blank');
    await page.goto(`${URL}/#/${hash}`, {waitUntil: 'domcontentloaded'});
    await page.waitForFunction(() => !document.querySelector('main .loading'));
  };
  const text = (sel) => page.$eval(sel, (e) => e.textContent.trim());
  const waitText = (sel, want) => page.waitForFunction((s, w) => [...document.querySelectorAll(s)].some((e) => e.textContent.includes(w)), {}, sel, want);
  const session = () => page.evaluate(() => localStorage.getItem('lwdock.session'));
  const logIn = async (login, password) => {
    await go('login');
    await page.type('input[name=login]', login);
    await page.type('input[name=password]', password);
    await page.click('form button[type=submit]');
    await waitText('nav#nav', 'Log out');
  };
  const verdict = async () => {
    await page.waitForFunction(() => /usable|invalid|not usable/.test(document.querySelector('#submission-status')?.textContent || ''), {timeout: 120000});
    assert.equal(await text('#submission-status'), 'usable', `verification: ${await text('#verification')}`);
    return text('#verification code');
  };
  const isUploadPut = (req) => req.method() === 'PUT' && req.url().includes('/api/user/uploads/');
  const submitFile = async (file) => {
    await (await page.$('input[name=package]')).uploadFile(file);
    await page.waitForSelector('#semantic-box input[name=Name]');
    await page.click('form.submit button[type=submit]');
  };
  // No serious or critical finding of axe-core (WCAG 2 A/AA rules) on the page shown.
  const axeSource = readFileSync(join(args['node-modules'], 'axe-core', 'axe.min.js'), 'utf8');
  const accessible = async (name) => {
    await page.evaluate(axeSource);
    const found = await page.evaluate(async () => (await window.axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`));
    assert.deepEqual(found, [], `accessibility of ${name}`);
  };
  const logOut = async () => {
    await page.click('nav#nav button.link');
    await waitText('nav#nav', 'Log in');
  };

  check('the home page shows the market in numbers');
  await go('');
  assert.equal(await text('#count-usable'), '3');
  // every page and script came from this origin, under the content policy
  const headers = (await fetch(URL + '/')).headers;
  assert.match(headers.get('content-security-policy') || '', /script-src 'self'/);

  check('a visitor registers through the page');
  await go('register');
  const password = 'e2e-password-' + Date.now();
  await page.type('input[name=name]', 'ada');
  await page.type('input[name=email]', 'ada@example.org');
  await page.type('input[name=password]', password);
  await page.type('input[name=password2]', password);
  await page.click('form button[type=submit]');
  await waitText('.notice.ok', 'Your account is ready');

  check('a wrong password is refused with a message');
  await go('login');
  await page.type('input[name=login]', 'ada');
  await page.type('input[name=password]', 'not-the-password');
  await page.click('form button[type=submit]');
  await page.waitForSelector('.notice.error');

  check('she logs in');
  await logIn('ada', password);

  check('a non-admin cannot open the admin pages or their API');
  await go('admin');
  await waitText('.notice.error', 'administrators');
  assert.equal((await api('GET', '/api/admin/summary', await session())).status, 403);
  assert.equal((await api('GET', '/api/admin/users', await session())).status, 403);

  check('she submits a package and watches it become usable');
  await go('submit');
  const input = await page.$('input[name=package]');
  await input.uploadFile(args.package);
  await page.waitForSelector('#semantic-box input[name=Name]');
  assert.equal(await page.$eval('#semantic-box input[name=Name]', (e) => e.value), args['package-name']);
  await page.click('form.submit button[type=submit]');
  const learnwareId = await verdict();

  check('her learnware is listed under My learnwares');
  await go('mine');
  await page.waitForSelector(`[data-learnware="${learnwareId}"]`);

  check('a search with her spec file ranks it first');
  await go('search');
  await (await page.$('input[name=spec]')).uploadFile(args.spec);
  const t0 = Date.now();
  await page.click('form.search button[type=submit]');
  await page.waitForSelector('ol.results li.result');
  results.timings.search_browser_ms = Date.now() - t0;
  results.timings.search_page_ms = Number(await page.$eval('#results', (e) => e.dataset.ms));
  assert.equal(await text('ol.results li.result .id'), learnwareId);
  assert.equal(await text('ol.results li.result .name'), args['package-name']);

  check('she downloads it and gets the bytes she submitted');
  const done = new Promise((resolve, reject) => {
    cdp.on('Browser.downloadProgress', (e) => {
      if (e.state === 'completed') resolve();
      if (e.state === 'canceled') reject(new Error('download canceled'));
    });
  });
  await page.click('ol.results li.result button');
  await done;
  const got = readdirSync(downloads).filter((f) => f.endsWith('.zip'));
  assert.equal(got.length, 1, `downloads: ${got}`);
  assert.ok(readFileSync(join(downloads, got[0])).equals(readFileSync(args.package)), 'the downloaded package differs from the submitted one');

  check('she edits her learnware from My learnwares: its package is sent again with the new name, and checked');
  await go('mine');
  await page.click(`a[aria-label="edit ${learnwareId}"]`);
  await page.waitForSelector('#semantic-box input[name=Name]');
  assert.equal(await page.$eval('#semantic-box input[name=Name]', (e) => e.value), args['package-name']);
  await page.$eval('#semantic-box input[name=Name]', (e) => { e.value = ''; });
  await page.type('#semantic-box input[name=Name]', `${args['package-name']} renamed`);
  await page.click('form.submit button[type=submit]');
  assert.equal(await verdict(), learnwareId);
  await go(`learnware/${encodeURIComponent(learnwareId)}`);
  await waitText('main h1', `${args['package-name']} renamed`);

  check('a semantic spec edited in the form is written into the package sent');
  await go('submit');
  await (await page.$('input[name=package]')).uploadFile(join(args.work, 'lw0.zip'));
  await page.waitForSelector('#semantic-box input[name=Name]');
  await page.$eval('#semantic-box input[name=Name]', (e) => { e.value = ''; });
  await page.type('#semantic-box input[name=Name]', 'renamed store');
  await page.click('form.submit button[type=submit]');
  const renamedId = await verdict();
  await go(`learnware/${renamedId}`);
  await waitText('main h1', 'renamed store');

  check('a connection dropped in the middle of an upload is retried');
  await page.evaluate(() => localStorage.setItem('lwdock.chunk-bytes', '256'));
  await go('submit');
  let puts = 0;
  let dropped = false;
  const dropThird = (req) => {
    if (isUploadPut(req) && ++puts === 3 && !dropped) {
      dropped = true;
      return req.abort('connectionreset');
    }
    return req.continue();
  };
  await page.setRequestInterception(true);
  page.on('request', dropThird);
  await submitFile(join(args.work, 'lw1.zip'));
  await verdict();
  page.off('request', dropThird);
  await page.setRequestInterception(false);
  assert.ok(dropped, 'the upload never reached its third chunk');

  check('an upload cut off by a reload resumes after it, sending only what had not arrived');
  await go('submit');
  const size = readFileSync(join(args.work, 'lw2.zip')).length;
  const chunks = Math.ceil(size / 256);
  assert.ok(chunks >= 4, `lw2.zip is ${size} bytes: too small to cut`);
  let before = 0;
  let third;
  const thirdSeen = new Promise((resolve) => { third = resolve; });
  const holdThird = (req) => {
    // the third chunk is never answered: the reload below takes the page away with it
    if (isUploadPut(req) && ++before === 3) return third();
    return req.continue();
  };
  await page.setRequestInterception(true);
  page.on('request', holdThird);
  await submitFile(join(args.work, 'lw2.zip'));
  await thirdSeen;
  page.off('request', holdThird);
  await page.goto('about:blank');
  await page.setRequestInterception(false);
  await go('submit');
  let after = 0;
  const count = (req) => { if (isUploadPut(req)) after += 1; };
  page.on('request', count);
  await submitFile(join(args.work, 'lw2.zip'));
  await waitText('.notice.info', 'Resuming an earlier upload');
  // what the server had (the paused third chunk may or may not have gone out as the page left)
  const arrived = Number(/: (\d+) B had arrived/.exec(await text('.notice.info'))[1]);
  await verdict();
  page.off('request', count);
  assert.ok(arrived >= 2 * 256, `only ${arrived} bytes had arrived before the reload`);
  assert.equal(after, chunks - arrived / 256, `chunks sent after the reload (of ${chunks}; ${arrived} bytes had arrived)`);
  await page.evaluate(() => localStorage.removeItem('lwdock.chunk-bytes'));

  check('the learnware page shows its specs and plot');
  await go(`learnware/${encodeURIComponent(learnwareId)}`);
  await page.waitForSelector('.plot canvas');
  await waitText('main table caption', 'RKMETableSpecification');

  check('she creates a client token, which works, then revokes it');
  await go('tokens');
  await page.type('input[name=label]', 'e2e laptop');
  await page.click('form.inline button[type=submit]');
  await page.waitForSelector('#new-token');
  const clientToken = await page.$eval('#new-token', (e) => e.value);
  assert.match(clientToken, /^lwd_c_/);
  assert.equal((await api('POST', '/api/auth/token-login', null, {token: clientToken})).status, 200);
  await waitText('#token-list', 'e2e laptop');
  await page.click('#token-list button[aria-label="revoke e2e laptop"]');
  await waitText('.notice.ok', 'revoked');
  assert.equal((await api('POST', '/api/auth/token-login', null, {token: clientToken})).status, 401);

  check('she logs out');
  await logOut();

  check('the administrator changes a role and deletes a user');
  await logIn(args.admin, args['admin-password']);
  await go('admin');
  await page.waitForSelector('figure.chart canvas');
  await go('admin/users');
  await page.waitForSelector(`select[aria-label="role of ${args.other}"]`);
  await page.select(`select[aria-label="role of ${args.other}"]`, 'admin');
  await waitText('.notice.ok', `${args.other} is now admin`);
  const users = await api('GET', `/api/admin/users?q=${args.other}`, await session());
  assert.equal(users.body.data.items[0].role, 'admin');
  await page.click(`button[aria-label="delete ${args.other}"]`);
  await waitText('.notice.ok', `${args.other} deleted`);
  assert.equal((await api('GET', `/api/admin/users?q=${args.other}`, await session())).body.data.total, 0);

  check('the administrator sees every learnware');
  await go('admin/learnwares');
  await page.waitForSelector(`#admin-learnwares a[href="#/learnware/${learnwareId}"]`);

  check('every page passes axe-core\'s WCAG 2 A/AA rules with no serious finding, at 1440 and 360 px');
  for (const width of [1440, 360]) {
    await page.setViewport({width, height: 900});
    for (const hash of ['', 'search?example=1', `learnware/${learnwareId}`, 'submit', 'mine', 'tokens', 'account',
                        'admin', 'admin/learnwares', 'admin/users']) {
      await go(hash);
      if (hash.startsWith('search')) await page.waitForSelector('ol.results li.result');
      await accessible(`#/${hash} at ${width} px`);
    }
  }
  await page.setViewport({width: 1440, height: 900});

  check('every page can be used from the keyboard: Tab reaches the navigation and the forms');
  await go('search');
  const reached = new Set();
  for (let i = 0; i < 40; ++i) {
    await page.keyboard.press('Tab');
    reached.add(await page.evaluate(() => document.activeElement?.getAttribute('name') || document.activeElement?.textContent.trim().slice(0, 20)));
  }
  for (const want of ['Skip to content', 'Search', 'spec', 'mixture']) assert.ok(reached.has(want), `Tab never reached "${want}": ${[...reached]}`);

  if (args.screenshots) {
    check('screenshots of every page at 360 and 1440 px');
    mkdirSync(args.screenshots, {recursive: true});
    const pages = [['home', ''], ['search', 'search?example=1'], ['learnware', `learnware/${learnwareId}`],
                   ['admin', 'admin'], ['admin-learnwares', 'admin/learnwares'], ['admin-users', 'admin/users'],
                   ['tokens', 'tokens'], ['account', 'account'], ['submit', 'submit'], ['mine', 'mine'],
                   ['login', 'login'], ['register', 'register']];
    for (const width of [360, 1440]) {
      await page.setViewport({width, height: 900});
      for (const [name, hash] of pages) {
        if (name === 'login') await page.evaluate(() => localStorage.removeItem('lwdock.session'));
        await go(hash);
        if (hash.startsWith('search')) await page.waitForSelector('ol.results li.result');
        if (name === 'learnware' || name === 'admin') await page.waitForSelector('canvas');
        await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
        await page.screenshot({path: join(args.screenshots, `${name}-${width}.png`), fullPage: true});
      }
      await logIn(args.admin, args['admin-password']);
    }
  }
  step = '';
} catch (e) {
  failures.unshift(`FAILED at "${step}": ${e.message}`);
} finally {
  await browser.close();
}
if (failures.length) {
  for (const f of failures) console.error(f);
  process.exit(1);
}
console.log(JSON.stringify({passed: results.checks, ...results.timings}));
