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
  await page.waitForFunction(() => /usable|invalid|not usable/.test(document.querySelector('#submission-status')?.textContent || ''), {timeout: 120000});
  assert.equal(await text('#submission-status'), 'usable', `verification: ${await text('#verification')}`);
  const learnwareId = await text('#verification code');

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
