// The domains page's time to usable with a big tenant (issue 9's budget: within 1 s), in
// Chromium against a running stsd: `bench/dashboard.sh` starts one with 10,000 domains and runs
// this. Usable = the heading, the first page of rows (50, or all when fewer) and an enabled
// search input are on screen, measured from navigation start (performance.now() in the page)
// — session resume (refresh cookie), `me` and the list request included.
//
//   STSD_URL=http://127.0.0.1:8080 STSD_EMAIL=… STSD_PASSWORD=… STSD_TENANT=… \
//     node scripts/budget.mjs [--runs 7]
//
// Each run loads the page in a fresh tab; "cold" runs clear the browser's HTTP cache first
// (every asset fetched again from stsd), "warm" runs do not. Prints each run and the medians.
import { chromium } from 'playwright-core';

const base = process.env.STSD_URL;
const email = process.env.STSD_EMAIL;
const password = process.env.STSD_PASSWORD;
const tenant = process.env.STSD_TENANT;
if (!base || !email || !password || !tenant) throw new Error('set STSD_URL, STSD_EMAIL, STSD_PASSWORD and STSD_TENANT (see bench/dashboard.sh)');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 7;
const BUDGET_MS = 1000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
const problems = [];
try {
  // Log in once: the refresh cookie is what a returning user has.
  const login = await context.newPage();
  await login.goto(`${base}/login`);
  await login.getByLabel('E-mail').fill(email);
  await login.getByLabel('Password').fill(password);
  await login.getByRole('button', { name: 'Log in' }).click();
  await login.getByRole('heading', { level: 1, name: 'Domains' }).waitFor({ timeout: 60_000 });
  await login.close();

  const url = `${base}/t/${encodeURIComponent(tenant)}/domains`;
  const results = { cold: [], warm: [] };
  for (let i = 0; i < runs * 2; i++) {
    const kind = i % 2 === 0 ? 'cold' : 'warm';
    const page = await context.newPage();
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    if (kind === 'cold') {
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.clearBrowserCache');
      await cdp.detach();
    }
    await page.goto(url, { waitUntil: 'commit' });
    const usable = await page.waitForFunction(
      () => {
        const h1 = document.querySelector('h1');
        const rows = document.querySelectorAll('table tbody tr').length;
        const search = [...document.querySelectorAll('input')].find((el) => el.labels?.[0]?.textContent?.trim() === 'Search');
        return h1?.textContent === 'Domains' && rows >= 50 && search && !search.disabled ? performance.now() : false;
      },
      undefined,
      { polling: 'raf', timeout: 30_000 },
    );
    const ms = await usable.jsonValue();
    // Where the time went: the document, then each API request (start → end, ms since navigation).
    const breakdown = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const api = performance
        .getEntriesByType('resource')
        .filter((e) => e.name.includes('/api/v1/') || e.name.endsWith('.js') || e.name.endsWith('.css'))
        .map((e) => `${new URL(e.name).pathname.replace(/^\/api\/v1\/(tenants\/[^/]+\/)?/, '').slice(0, 24)} ${e.startTime.toFixed(0)}→${e.responseEnd.toFixed(0)}`);
      return `document ${nav.responseEnd.toFixed(0)}, DOMContentLoaded ${nav.domContentLoadedEventEnd.toFixed(0)}; ${api.join(', ')}`;
    });
    // The search input really takes input at that point.
    await page.getByLabel('Search').fill('d9999.');
    results[kind].push(ms);
    console.log(`run ${Math.floor(i / 2) + 1} ${kind}: usable after ${ms.toFixed(0)} ms (${breakdown})`);
    await page.close();
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  for (const kind of ['cold', 'warm']) {
    const m = median(results[kind]);
    console.log(`median ${kind} (${results[kind].length} runs): ${m.toFixed(0)} ms (budget ${BUDGET_MS} ms) — ${m <= BUDGET_MS ? 'within' : 'OVER'} budget`);
  }
  if (problems.length) {
    console.error(`browser problems:\n${problems.join('\n')}`);
    process.exitCode = 1;
  }
  if (median(results.cold) > BUDGET_MS) process.exitCode = 1;
} finally {
  await browser.close();
}
