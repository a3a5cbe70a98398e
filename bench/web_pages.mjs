// The browser half of bench/web_pages.sh: times the search page and uploads
// a large package through the submit page while sampling the server's memory.
import {createRequire} from 'node:module';
import {readFileSync, statSync} from 'node:fs';
import {join} from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const require = createRequire(join(args['node-modules'], 'noop.js'));
const puppeteer = require('puppeteer-core');

// VmRSS / VmHWM of the server, in MiB
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)[1]);
  return {rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024};
}
const quantile = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

const browser = await puppeteer.launch({executablePath: args.chromium, headless: true,
                                        args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu']});
const out = {};
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(600000);
  await page.setViewport({width: 1440, height: 900});
  const go = async (hash) => {
    await page.goto('about:blank');
    await page.goto(`${args.url}/#/${hash}`, {waitUntil: 'domcontentloaded'});
    await page.waitForFunction(() => !document.querySelector('main .loading'));
  };

  // Search: from the click to the first result in the page, N times.
  const times = [];
  const serverTimes = [];
  for (let i = 0; i < Number(args.searches) + 1; ++i) {
    await go('search');
    await (await page.$('input[name=spec]')).uploadFile(args.spec);
    const t0 = await page.evaluate(() => performance.now());
    await page.click('form.search button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#results')?.dataset.ms);
    const t1 = await page.evaluate(() => performance.now());
    if (i === 0) continue;  // the first warms the server's caches and the page's modules
    times.push(t1 - t0);
    serverTimes.push(Number(await page.$eval('#results', (e) => e.dataset.ms)));
  }
  out.search = {runs: times.length, visible_ms_median: quantile(times, 0.5), visible_ms_p90: quantile(times, 0.9),
                request_to_drawn_ms_median: quantile(serverTimes, 0.5),
                what: 'click on Search with a spec file -> the results drawn (page-side performance.now())'};

  // Upload through the page, logged in, with the server's memory sampled.
  await go('login');
  await page.type('input[name=login]', args.user);
  await page.type('input[name=password]', args.password);
  await page.click('form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('nav#nav')?.textContent.includes('Log out'));
  await go('submit');
  const pid = Number(args['server-pid']);
  const before = memory(pid);
  let peakRss = before.rss;
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, memory(pid).rss); }, 100);
  await (await page.$('input[name=package]')).uploadFile(args.package);
  await page.waitForSelector('#semantic-box .notice');  // too large to edit in the page: sent as it is
  const t0 = Date.now();
  await page.click('form.submit button[type=submit]');
  await page.waitForSelector('#submission-status');
  const sent = Date.now();
  await page.waitForFunction(() => /usable|invalid|not usable/.test(document.querySelector('#submission-status')?.textContent || ''));
  const verified = Date.now();
  clearInterval(sampler);
  const after = memory(pid);
  out.upload = {bytes: statSync(args.package).size, status: await page.$eval('#submission-status', (e) => e.textContent),
                seconds_to_submitted: (sent - t0) / 1000, seconds_to_verified: (verified - t0) / 1000,
                server_rss_mib_before: before.rss, server_peak_rss_mib_during: peakRss,
                server_hwm_mib_before: before.hwm, server_hwm_mib_after: after.hwm};
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
