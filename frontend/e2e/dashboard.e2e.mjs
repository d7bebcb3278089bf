// End-to-end: sign up → add a domain (a bad name first; its MX discovered in the customer's DNS) →
// the records are shown → checks name what is missing → the test publishes the three CNAMEs in the
// customer's DNS → checks pass → the page shows the domain active (certificate from stsd's local
// CA) → policy editor: mx edited, the new version and its id in the history → the customer adds a
// second MX host → one-click enforce refused naming the uncovered host → the policy is fixed →
// enforce passes its readiness checks (MX STARTTLS probed for real) → an MX added while in
// enforce: the drift banner and its one-click fix → a move to a new mail provider planned, its
// steps shown, cancelled → the version history's changes, an older version restored → turn off → a
// second domain whose DNS fails: refused, overridden by the owner after typing the name → reports
// uploaded through the API and the page appear in the charts → the domain is in the list → reload
// keeps the session → log out → log in again → API token created (shown once, then listed, used,
// last use shown) → alerts: a webhook (secret shown once), a test ping and its delivery → a
// never-served domain removed → a second account invited as viewer → a new address invited by link
// as editor (a second one revoked): in a new browser context the revoked link is refused, the
// invitee signs up from the link and lands in the tenant, then accepts a second invitation logged
// in; the owner sees the new editor, nothing pending → audit log shows the changes → the viewer
// sees the domain read-only and is refused. axe-core scans the main views (serious or critical
// findings fail the run).
//
// The customer's world is `stsd-fake-customer` (crates/testkit), started by e2e/run.sh: their
// authoritative DNS (stsd's STSD_RESOLVERS) and their STARTTLS MX (STSD_MX_SMTP_PORT, its CA in
// STSD_MX_CA_ROOTS), changed through its HTTP control endpoint (STSD_E2E_CUSTOMER).
// Fails on any browser console error. Screenshots of each page at 1280 and 390 px go to
// e2e/screenshots/.
import { mkdir, readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { chromium, request } from 'playwright-core';

const base = process.env.STSD_E2E_URL;
if (!base) throw new Error('STSD_E2E_URL is not set: run e2e/run.sh');
const shots = new URL('./screenshots/', import.meta.url).pathname;
await mkdir(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
// playwright-core gives every context a fresh profile (a new --user-data-dir).
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
const page = await context.newPage();
page.setDefaultTimeout(20_000);

const problems = [];
// Chromium logs every 4xx answer as a console error. The test provokes exactly these on
// purpose (a 422 for a bad name); each allowance is used up once, anything else fails.
const allowed = [];
/** Fails the run on `p`'s console errors (but the allowed ones), page errors and failed requests. */
function watch(p) {
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    const url = m.location().url;
    const i = allowed.findIndex((a) => url.endsWith(a.path) && text.includes(`status of ${a.status}`));
    if (i >= 0) allowed.splice(i, 1);
    else problems.push(`console error: ${text} (${url})`);
  });
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // The browser cancels its own favicon fetch when a navigation starts first; that is not
  // something the page did, so only that exact case is let through.
  p.on('requestfailed', (r) => {
    const error = r.failure()?.errorText ?? '';
    if (error === 'net::ERR_ABORTED' && new URL(r.url()).pathname === '/favicon.svg') return;
    // The dashboard cancels its own API reads (AbortSignal) when a newer one supersedes them or
    // the view goes away: the request did not fail, the page no longer wanted it.
    if (error === 'net::ERR_ABORTED' && r.method() === 'GET' && new URL(r.url()).pathname.startsWith('/api/v1/')) return;
    problems.push(`request failed: ${r.url()} ${error}`);
  });
}
watch(page);

let step = 'start';
function check(cond, message) {
  if (!cond) throw new Error(`${step}: ${message}`);
}
async function shoot(name, p = page) {
  for (const [width, height] of [[1280, 900], [390, 844]]) {
    await p.setViewportSize({ width, height });
    await p.waitForTimeout(100);
    await p.screenshot({ path: `${shots}${name}-${width}.png`, fullPage: true });
  }
  await p.setViewportSize({ width: 1280, height: 900 });
}
const heading = (name) => page.getByRole('heading', { level: 1, name });
/**
 * A 1280 px screenshot of the page from its top down to the end of `last` (for the README,
 * docs/screenshots/: `cp e2e/screenshots/readme-*.png ../docs/screenshots/`).
 */
async function shootReadme(name, last) {
  await page.evaluate(() => window.scrollTo(0, 0));
  const box = await last.boundingBox();
  const scroll = await page.evaluate(() => window.scrollY);
  check(box !== null, `readme screenshot ${name}: nothing to frame`);
  const height = Math.ceil(box.y + scroll + box.height + 24);
  await page.screenshot({ path: `${shots}readme-${name}.png`, fullPage: true, clip: { x: 0, y: 0, width: 1280, height } });
}

// The customer's DNS and MX (stsd-fake-customer's control endpoint).
const customer = process.env.STSD_E2E_CUSTOMER;
if (!customer) throw new Error('STSD_E2E_CUSTOMER is not set: run e2e/run.sh');
async function control(path, body) {
  const r = await fetch(customer + path, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${step}: customer ${path}: ${r.status} ${await r.text()}`);
}
/** Replaces the customer's `type` records at `name` with `values`. */
const customerDns = (name, type, values) => control(`/records/${encodeURIComponent(name)}/${type}`, { values });
/** Makes every query for `name` fail (SERVFAIL) while `on`. */
const customerServfail = (name, on) => control(`/servfail/${encodeURIComponent(name)}`, { on });

// Accessibility: axe-core (npm) runs in the page on the main views and in their states (a dialog
// open, a refusal shown); a serious or critical violation fails the run.
const axeSource = await readFile(new URL('../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
const axeFindings = [];
async function axeScan(name, p = page) {
  if (!(await p.evaluate(() => typeof window.axe === 'object'))) {
    // page.addScriptTag inserts an inline <script>, which the dashboard's CSP (script-src 'self')
    // rightly refuses; evaluated through the DevTools protocol, which CSP does not govern, the
    // source defines window.axe without weakening the page's policy for the rest of the run.
    await p.evaluate(`${axeSource}\n;void 0`);
  }
  const result = await p.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } }),
  );
  for (const v of result.violations) {
    const line = `${name}: [${v.impact}] ${v.id}: ${v.help} (${v.nodes.length}×: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')})`;
    if (v.impact === 'serious' || v.impact === 'critical') axeFindings.push(line);
    else console.log(`axe (not failing): ${line}`);
  }
}

/** A UTC day `n` days before today, `YYYY-MM-DD`. */
const daysAgo = (n) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
/** A TLS report (RFC 8460) for `domain` over one UTC day, with optional failure details. */
function tlsReport({ org, day, ok, failures = [], policyDomain }) {
  const failed = failures.reduce((s, f) => s + f['failed-session-count'], 0);
  return {
    'organization-name': org,
    'date-range': { 'start-datetime': `${day}T00:00:00Z`, 'end-datetime': `${day}T23:59:59Z` },
    'contact-info': `tlsrpt@${org.toLowerCase().replace(/[^a-z]/g, '')}.example`,
    'report-id': `${day}_${org.replace(/\W/g, '')}_${policyDomain}`,
    policies: [
      {
        policy: {
          'policy-type': 'sts',
          'policy-string': ['version: STSv1', 'mode: testing', `mx: mx1.${policyDomain}`, `mx: *.mail.${policyDomain}`, 'max_age: 604800'],
          'policy-domain': policyDomain,
          'mx-host': [`mx1.${policyDomain}`, `*.mail.${policyDomain}`],
        },
        summary: { 'total-successful-session-count': ok, 'total-failure-session-count': failed },
        ...(failures.length ? { 'failure-details': failures } : {}),
      },
    ],
  };
}

const email = `e2e-${Date.now()}@example.com`;
const password = 'violet quarry lantern 42 drift';
const domain = `e2e${Date.now() % 100000}.example.org`;

try {
  step = 'the customer has mail';
  // Before stsd knows of it: one MX host, with a certificate for its name (and for the host
  // added later) from the customer's CA, which stsd's STARTTLS check trusts.
  await customerDns(domain, 'MX', [`10 mx1.${domain}`]);
  for (const host of [`mx1.${domain}`, `mx2.mail.${domain}`, `mx3.${domain}`]) await customerDns(host, 'A', ['127.0.0.1']);
  await control('/mx-certificate', { hosts: [`mx1.${domain}`, `mx2.mail.${domain}`, `mx3.${domain}`] });

  step = 'login page';
  await page.goto(base + '/');
  await heading('Log in').waitFor();
  check(page.url().endsWith('/login'), `expected /login, at ${page.url()}`);
  const csp = (await page.request.get(base + '/')).headers()['content-security-policy'];
  check(csp?.includes("script-src 'self'"), `CSP header missing: ${csp}`);
  await shoot('01-login');
  await axeScan('login');

  step = 'sign up';
  await page.getByRole('link', { name: 'Sign up' }).click();
  await heading('Create your account').waitFor();
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Organization').fill('E2E Mail Ops');
  await shoot('02-signup');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await heading('Domains').waitFor();
  await page.getByText('No domains yet').waitFor();
  check((await page.getByLabel('Tenant').inputValue()) !== '', 'the tenant switcher shows the tenant');
  await shoot('03-domains-empty');
  await axeScan('domains-empty');

  step = 'add domain: a bad name';
  await page.getByRole('link', { name: 'Add domain' }).first().click();
  await heading('Add a domain').waitFor();
  const nameField = page.getByLabel('Domain name');
  await nameField.fill('not a domain!');
  allowed.push({ path: '/domains', status: 422 });
  await page.getByRole('button', { name: 'Add domain' }).click();
  await page.locator('.field-errors').waitFor();
  check((await nameField.getAttribute('aria-invalid')) === 'true', 'the name field is marked invalid');
  await shoot('04-add-domain-error');

  step = 'add domain: records';
  await nameField.fill(domain);
  await page.getByRole('button', { name: 'Add domain' }).click();
  await heading(`${domain} added`).waitFor({ timeout: 30_000 });
  const records = page.locator('.record');
  check((await records.count()) === 3, `expected 3 records, saw ${await records.count()}`);
  for (const prefix of ['mta-sts.', '_mta-sts.', '_smtp._tls.']) {
    await page.locator('.record-name', { hasText: new RegExp(`^${prefix.replace(/\./g, '\\.')}`) }).first().waitFor();
  }
  const zone = await page.locator('.zone pre').innerText();
  check(zone.includes(`_smtp._tls.${domain}. 3600 IN CNAME`), `zone-file snippet: ${zone}`);
  await page.getByRole('button', { name: `Copy value of mta-sts.${domain}` }).click();
  await page.getByText('Copied').first().waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied.endsWith('.edge.sts.localhost'), `copied ${copied}`);
  await shoot('05-domain-added');
  await axeScan('domain-added');

  step = 'check now: nothing published yet';
  await page.getByRole('button', { name: 'Check now' }).click();
  await page.getByRole('button', { name: 'Check now' }).waitFor({ timeout: 30_000 });
  await page.locator('.check').first().waitFor({ timeout: 30_000 });
  // The customer's DNS answers, but the three records are not there yet: each check says
  // what is missing and how to fix it.
  const checkCount = await page.locator('.check').count();
  check(checkCount >= 3, `expected the DNS checks, saw ${checkCount}`);
  const explanations = await page.locator('.check > p').allInnerTexts();
  check(explanations.length >= checkCount && explanations.every((t) => t.trim().length > 10), `explanations: ${explanations}`);
  await page.locator('.check-bad', { hasText: 'Ownership' }).getByText(`Publish this record: _mta-sts.${domain}. CNAME`, { exact: false }).waitFor();
  await shoot('06-checks');

  step = 'the customer publishes the CNAMEs';
  // Exactly the records the page shows (its zone-file snippet), into the customer's DNS.
  const published = zone
    .split('\n')
    .map((line) => /^(\S+)\s+\d+\s+IN\s+CNAME\s+(\S+)$/.exec(line.trim()))
    .filter(Boolean);
  check(published.length === 3, `three CNAMEs in the snippet: ${zone}`);
  for (const [, name, target] of published) await customerDns(name, 'CNAME', [target]);

  step = 'checks pass, the domain goes active';
  await page.getByRole('button', { name: 'Check now' }).click();
  for (const name of ['Ownership', 'STARTTLS on the MX hosts']) {
    await page.locator('.check-ok', { hasText: name }).first().waitFor({ timeout: 30_000 });
  }
  await page.getByRole('link', { name: 'Open the domain page' }).click();
  await heading(domain).waitFor();
  // Verified at once; active when the certificate is stored. The page follows by itself.
  await page.locator('.page-head .badge', { hasText: 'Active' }).waitFor({ timeout: 60_000 });
  const certPanel = page.getByRole('region', { name: 'Certificate' });
  await certPanel.getByText(`The HTTPS certificate of mta-sts.${domain}`, { exact: false }).waitFor();
  await certPanel.getByText(/\d+ days left/).waitFor({ timeout: 30_000 });
  check((await certPanel.getByText('No certificate yet', { exact: false }).count()) === 0, 'a certificate is shown');
  // The proposed policy (MX discovered when the domain was added) is the first version.
  const history = page.locator('section[aria-labelledby="history-h"] tbody tr');
  await history.first().waitFor();
  check((await history.count()) === 1, `one version: ${await history.count()}`);
  // The publisher serves it on the edge, then announces its id in DNS; the page follows.
  const livePolicy = page.getByRole('region', { name: 'Live', exact: true });
  await livePolicy.getByText(`mx1.${domain}`).first().waitFor({ timeout: 30_000 });
  await livePolicy.locator('.badge', { hasText: 'in DNS' }).waitFor({ timeout: 30_000 });
  for (const name of ['Ownership', 'Policy host', 'MX coverage', 'STARTTLS on the MX hosts']) {
    await page.locator('.check-ok', { hasText: name }).first().waitFor();
  }
  await shoot('07-domain-page');
  await axeScan('domain-page-active');

  step = 'policy editor: edit mx, a new version';
  const editor = page.getByRole('form', { name: 'Edit policy' });
  await editor.getByRole('button', { name: '+ Add pattern' }).click();
  const row2 = editor.getByRole('textbox', { name: 'MX pattern 2' });
  check(await row2.evaluate((el) => el === document.activeElement), 'the new row has focus');
  await row2.fill('mx*.bad.example');
  await editor.getByText('A wildcard is allowed only as the whole first label: *.example.com.').waitFor();
  check((await row2.getAttribute('aria-invalid')) === 'true', 'the bad row is marked invalid');
  await row2.fill(`*.backup.${domain}`);
  await editor.getByLabel('Max age (seconds)').fill('86400');
  await editor.getByText('= 1 day').waitFor();
  await editor.getByRole('button', { name: 'Save as new version' }).click();
  const savedText = await editor.getByText(/^Saved as version /).innerText();
  const editedVersion = /^Saved as version (\S+) /.exec(savedText)?.[1];
  check(editedVersion && /policy id \w+/.test(savedText), `saved: ${savedText}`);
  const editedRow = history.filter({ hasText: editedVersion });
  await editedRow.waitFor();
  check((await history.count()) === 2, 'two versions in the history');
  const editedId = (await editedRow.locator('td').nth(3).innerText()).trim();
  check(/^\w{1,32}$/.test(editedId) && savedText.includes(editedId), `the new policy id ${editedId} in: ${savedText}`);
  await shoot('07b-policy-editor');
  await shootReadme('domain', editor);
  await axeScan('policy-editor');

  step = 'the customer adds a second MX host';
  await customerDns(domain, 'MX', [`10 mx1.${domain}`, `20 mx2.mail.${domain}`]);
  await page.getByRole('button', { name: 'Check now' }).click();
  // The verifier sees it at once: not covered by the policy (its STARTTLS is fine).
  await page.locator('.check-bad', { hasText: 'MX coverage' }).getByText(`mx2.mail.${domain}`, { exact: false }).first().waitFor({ timeout: 30_000 });

  step = 'one-click enforce: refused, the uncovered MX named';
  const modePanel = page.getByRole('region', { name: 'Mode' });
  await modePanel.getByRole('button', { name: 'Enforce…' }).click();
  const confirmEnforce = page.getByRole('dialog', { name: `Switch ${domain} to enforce?` });
  await confirmEnforce.getByText(`only to MX hosts matching these patterns: mx1.${domain}, *.backup.${domain}`).waitFor();
  check(await page.getByRole('button', { name: 'Cancel' }).evaluate((el) => el === document.activeElement), 'Cancel has focus in the dialog');
  await shoot('07c-enforce-confirm');
  await axeScan('enforce-dialog');
  allowed.push({ path: '/mode', status: 409 });
  await confirmEnforce.getByRole('button', { name: 'Run checks and enforce' }).click();
  const refusedPanel = page.getByRole('region', { name: 'Enforce refused: fix these checks first' });
  await refusedPanel.waitFor();
  const coverageCheck = refusedPanel.getByRole('listitem').filter({ hasText: 'MX coverage' });
  await coverageCheck.getByText('1 MX host(s) match no mx pattern', { exact: false }).waitFor();
  check((await coverageCheck.locator('.chip').allInnerTexts()).join(',') === `mx2.mail.${domain}`, `uncovered: ${await coverageCheck.innerText()}`);
  // Only coverage blocks: both MX hosts offer STARTTLS with a valid certificate.
  check((await refusedPanel.locator('.check-bad').count()) === 1, `one blocking check: ${await refusedPanel.innerText()}`);
  await refusedPanel.getByRole('listitem').filter({ hasText: 'STARTTLS on the MX hosts' }).locator('.badge', { hasText: 'Pass' }).waitFor();
  check((await history.count()) === 2, 'a refused enforce adds no version');
  await shoot('07d-enforce-refused');
  await axeScan('enforce-refused');
  await page.getByLabel('Language').selectOption('de');
  const refusedDe = page.getByRole('region', { name: 'Erzwingen abgelehnt: Beheben Sie zuerst diese Prüfungen' });
  await refusedDe.getByRole('listitem').filter({ hasText: 'MX-Abdeckung' }).locator('.chip', { hasText: `mx2.mail.${domain}` }).waitFor();
  check(!(await refusedDe.innerText()).includes('/api/'), 'no API paths in the refusal');
  await shoot('07d-enforce-refused-de');
  await page.getByLabel('Sprache').selectOption('en');

  step = 'fix the policy: cover the new MX host';
  await editor.getByRole('button', { name: '+ Add pattern' }).click();
  await editor.getByRole('textbox', { name: 'MX pattern 3' }).fill(`*.mail.${domain}`);
  await editor.getByRole('button', { name: 'Save as new version' }).click();
  const fixedText = await editor.getByText(/^Saved as version /).filter({ hasNotText: editedVersion }).innerText();
  const fixedVersion = /^Saved as version (\S+) /.exec(fixedText)?.[1];
  await history.filter({ hasText: fixedVersion }).waitFor();
  // The verifier agrees: both MX hosts are covered now.
  await page.getByRole('button', { name: 'Check now' }).click();
  await page.locator('.check', { hasText: 'MX coverage' }).getByText(/^Every MX host is covered/).waitFor({ timeout: 30_000 });

  step = 'one-click enforce: passes its readiness checks';
  await modePanel.getByRole('button', { name: 'Enforce…' }).click();
  await confirmEnforce.getByText(`*.mail.${domain}`, { exact: false }).waitFor();
  await confirmEnforce.getByRole('button', { name: 'Run checks and enforce' }).click();
  const enforcedText = await modePanel.getByText(/^Enforce is on: version /).innerText();
  const enforcedVersion = /^Enforce is on: version (\S+) /.exec(enforcedText)?.[1];
  await modePanel.getByText(/Senders now deliver only over verified TLS/).waitFor();
  check((await page.getByRole('region', { name: 'Enforce refused: fix these checks first' }).count()) === 0, 'the refusal is gone');
  const enforcedRow = history.filter({ hasText: enforcedVersion });
  await enforcedRow.waitFor();
  check((await enforcedRow.locator('.badge').innerText()) === 'Enforce', `the new version enforces: ${await enforcedRow.innerText()}`);
  await page.locator('.page-head .badge', { hasText: 'Enforce' }).waitFor();
  await shoot('07e-enforced');

  step = 'MX drift in enforce: a banner, and a one-click version that covers the new host';
  await customerDns(domain, 'MX', [`10 mx1.${domain}`, `20 mx2.mail.${domain}`, `30 mx3.${domain}`]);
  await page.getByRole('button', { name: 'Check now' }).click();
  const drift = page.getByRole('alert').filter({ hasText: 'An MX host is not covered by the enforced policy' });
  await drift.locator('.chip', { hasText: `mx3.${domain}` }).waitFor({ timeout: 30_000 });
  await shoot('07e2-drift');
  await axeScan('mx-drift');
  await page.getByLabel('Language').selectOption('de');
  await page.getByRole('alert').filter({ hasText: 'Ein MX-Host ist von der erzwungenen Richtlinie nicht abgedeckt' }).waitFor();
  await shoot('07e2-drift-de');
  await page.getByLabel('Sprache').selectOption('en');
  await drift.getByRole('button', { name: 'Add this host to the policy' }).click();
  const driftFixed = await drift.getByText(/^Added: version \S+ covers them/).innerText({ timeout: 30_000 });
  const driftVersion = /^Added: version (\S+) /.exec(driftFixed)?.[1];
  const driftRow = history.filter({ hasText: driftVersion });
  await driftRow.waitFor();
  check((await driftRow.locator('.badge').innerText()) === 'Enforce', `the fix stays in enforce: ${await driftRow.innerText()}`);
  await page.getByRole('button', { name: 'Check now' }).click();
  await page.locator('.check', { hasText: 'MX coverage' }).getByText(/^Every MX host is covered/).waitFor({ timeout: 30_000 });
  // The banner follows the domain's stored checks, which the page refetches after the run.
  await page.getByRole('alert').filter({ hasText: 'An MX host is not covered' }).waitFor({ state: 'detached', timeout: 30_000 });

  step = 'plan a move to a new mail provider: each step with its date';
  const movePanel = page.getByRole('region', { name: 'Moving to a new mail provider' });
  await movePanel.getByRole('button', { name: 'Plan a move to new MX hosts' }).click();
  await movePanel.getByLabel('New MX hosts').fill(`*.newmail.${domain}`);
  const moveDay = new Date(Date.now() + 30 * 86_400_000);
  const pad2 = (n) => String(n).padStart(2, '0');
  const moveValue = `${moveDay.getFullYear()}-${pad2(moveDay.getMonth() + 1)}-${pad2(moveDay.getDate())}T09:30`;
  await movePanel.getByLabel('MX records switch on').fill(moveValue);
  await movePanel.getByRole('button', { name: 'Plan the move' }).click();
  await movePanel.getByText('Under way').waitFor({ timeout: 30_000 });
  const moveSteps = movePanel.locator('.timeline-step');
  check((await moveSteps.count()) === 4, `four steps: ${await movePanel.innerText()}`);
  await moveSteps.nth(0).locator('.badge', { hasText: 'Done' }).waitFor();
  await moveSteps.nth(0).getByText(`Policy lists mx1.${domain}, *.backup.${domain}, *.mail.${domain}, mx3.${domain}, *.newmail.${domain}; max_age`, { exact: false }).waitFor();
  await moveSteps.nth(1).getByText('max_age 1 day', { exact: false }).waitFor();
  await moveSteps.nth(3).getByText(`Policy lists *.newmail.${domain} only`, { exact: false }).waitFor();
  // The first version is live in enforce, through the readiness checks.
  const coverRow = history.first();
  await coverRow.getByText('Enforce').waitFor();
  await livePolicy.getByText(`*.newmail.${domain}`).first().waitFor({ timeout: 30_000 });
  await shoot('07e3-mx-move');
  await axeScan('mx-move');
  await page.getByLabel('Language').selectOption('de');
  await page.getByRole('region', { name: 'Umzug zu einem neuen Mail-Anbieter' }).getByText('Alte und neue Hosts abdecken').waitFor();
  await shoot('07e3-mx-move-de');
  await page.getByLabel('Sprache').selectOption('en');
  await movePanel.getByRole('button', { name: 'Cancel the plan' }).click();
  await movePanel.getByText('Cancelled').waitFor();

  step = 'version history: each version with its change; restore the one before the move';
  await history.first().getByText(`+ *.newmail.${domain}`).waitFor();
  const beforeMove = history.nth(1);
  const beforeMoveId = (await beforeMove.locator('code.small').first().innerText()).trim();
  await beforeMove.getByRole('button', { name: 'Restore…' }).click();
  await beforeMove.getByRole('button', { name: 'Restore as a new version' }).click();
  await page.getByText(new RegExp(`^The policy of version ${beforeMoveId} is now version `)).waitFor({ timeout: 30_000 });
  await history.first().getByText(`− *.newmail.${domain}`).waitFor();
  await shoot('07e4-history');
  await axeScan('history');
  await page.getByLabel('Language').selectOption('de');
  await page.getByRole('region', { name: 'Versionsverlauf' }).getByRole('columnheader', { name: 'Richtlinie', exact: true }).waitFor();
  await shoot('07e4-history-de');
  await page.getByLabel('Sprache').selectOption('en');

  step = 'turn off: mode none after a confirmation';
  await modePanel.getByRole('button', { name: 'Turn off…' }).click();
  const confirmOff = page.getByRole('dialog', { name: `Turn off MTA-STS for ${domain}?` });
  await confirmOff.getByRole('button', { name: 'Cancel' }).click();
  check((await page.getByRole('dialog').count()) === 0, 'Cancel closes the dialog');
  await modePanel.getByRole('button', { name: 'Turn off…' }).click();
  await confirmOff.getByRole('button', { name: 'Publish mode none' }).click();
  const offText = await modePanel.getByText(/^Mode none published as version /).innerText();
  const offVersion = /version (\S+)\.$/.exec(offText)?.[1];
  await history.filter({ hasText: offVersion }).waitFor();
  // Back to testing for the rest of the run.
  await modePanel.getByRole('button', { name: 'Enforce…' }).waitFor();
  const api = await request.newContext({ baseURL: base });
  const login = await api.post('/api/v1/auth/login', { data: { email, password } });
  check(login.ok(), `API login: ${login.status()}`);
  const { access_token } = await login.json();
  const tenantId = page.url().split('/')[4];
  const back = await api.post(`/api/v1/tenants/${tenantId}/domains/${domain}/mode`, {
    headers: { Authorization: `Bearer ${access_token}` },
    data: { mode: 'testing' },
  });
  check(back.status() === 201, `back to testing: ${back.status()}`);

  step = 'a domain whose DNS fails: a policy through the API';
  // Another domain, whose DNS server fails every query for its name (SERVFAIL): no MX was
  // discovered, so an API client sets the policy.
  const broken = domain.replace(/^e2e/, 'dnsfail');
  await customerServfail(broken, true);
  const addBroken = await api.post(`/api/v1/tenants/${tenantId}/domains`, {
    headers: { Authorization: `Bearer ${access_token}` },
    data: { name: broken },
  });
  check(addBroken.status() === 201, `add ${broken}: ${addBroken.status()} ${await addBroken.text()}`);
  const put = await api.put(`/api/v1/tenants/${tenantId}/domains/${broken}/policy`, {
    headers: { Authorization: `Bearer ${access_token}` },
    data: { mode: 'testing', mx: [`mx1.${broken}`, `*.mail.${broken}`], max_age: 604800 },
  });
  check(put.ok(), `PUT policy: ${put.status()} ${await put.text()}`);
  const { version } = await put.json();
  await page.goto(`${base}/t/${tenantId}/domains/${broken}`);
  await heading(broken).waitFor();
  await history.filter({ hasText: version.version_id }).waitFor();
  await page.getByRole('form', { name: 'Edit policy' }).getByText(/The current MX hosts are not known/).waitFor();
  await page.getByRole('region', { name: 'Certificate' }).getByText('No certificate yet', { exact: false }).waitFor();

  step = 'a domain whose DNS fails: enforce refused, the owner overrides after typing the name';
  await modePanel.getByRole('button', { name: 'Enforce…' }).click();
  allowed.push({ path: '/mode', status: 409 });
  await page.getByRole('dialog', { name: `Switch ${broken} to enforce?` }).getByRole('button', { name: 'Run checks and enforce' }).click();
  await refusedPanel.waitFor();
  const brokenCoverage = refusedPanel.getByRole('listitem').filter({ hasText: 'MX coverage' });
  await brokenCoverage.getByText(/could not look up the MX hosts/).waitFor();
  check((await brokenCoverage.locator('.badge').innerText()) === 'Error', `MX coverage: ${await brokenCoverage.innerText()}`);
  await brokenCoverage.getByText(/Make sure the domain's DNS answers MX queries/).waitFor();
  await shoot('07d2-enforce-refused-dns-error');
  const typedName = refusedPanel.getByLabel(`Type ${broken} to confirm`);
  await typedName.fill('not-this.example.org');
  await refusedPanel.getByRole('button', { name: 'Enforce anyway' }).click();
  await refusedPanel.getByText(`The typed name does not match ${broken}.`).waitFor();
  await typedName.fill(broken);
  // The name is right; the reason is still missing.
  await refusedPanel.getByRole('button', { name: 'Enforce anyway' }).click();
  await refusedPanel.getByText('Write the reason in 10 to 1000 characters.').waitFor();
  await refusedPanel.getByLabel(/Why is enforce safe anyway/).fill('DNS provider outage; MX hosts unchanged and tested by hand');
  await refusedPanel.getByRole('button', { name: 'Enforce anyway' }).click();
  await modePanel.getByText(/^Enforce is on: version /).waitFor();
  await page.locator('.page-head .badge', { hasText: 'Enforce' }).waitFor();
  await page.getByText('Enforced despite failing checks: DNS provider outage; MX hosts unchanged and tested by hand').waitFor();
  await shoot('07e2-enforced-override');
  await api.dispose();
  await page.goto(`${base}/t/${tenantId}/domains/${domain}`);
  await heading(domain).waitFor();

  step = 'reports: none yet';
  await page.getByRole('navigation', { name: 'Domain sections' }).getByRole('link', { name: 'Reports' }).click();
  await heading(domain).waitFor();
  await page.getByText('No reports yet').waitFor();
  await page.getByText(/Reports arrive daily once _smtp\._tls points at stsd/).waitFor();
  check((await page.getByRole('heading', { name: 'Reports', exact: true }).count()) === 0, 'no empty report list under the empty state');
  await shoot('21a-domain-reports-empty');

  step = 'reports: uploaded through the API';
  // Two reports through the API as a script would, a third (gzip) through the page's form;
  // dates inside the default range (the last 30 days). Totals: 340 successful, 10 failed.
  const reportsApi = await request.newContext({ baseURL: base });
  const reportsPath = `/api/v1/tenants/${tenantId}/domains/${domain}/reports`;
  const google = tlsReport({
    org: 'Google Inc.',
    day: daysAgo(1),
    ok: 95,
    policyDomain: domain,
    failures: [{ 'result-type': 'certificate-expired', 'sending-mta-ip': '209.85.220.41', 'receiving-mx-hostname': `mx1.${domain}`, 'receiving-ip': '192.0.2.10', 'failed-session-count': 5 }],
  });
  for (const report of [google, tlsReport({ org: 'Microsoft Corporation', day: daysAgo(2), ok: 200, policyDomain: domain })]) {
    const up = await reportsApi.post(reportsPath, {
      headers: { Authorization: `Bearer ${access_token}`, 'Content-Type': 'application/tlsrpt+json' },
      data: Buffer.from(JSON.stringify(report)),
    });
    check(up.status() === 201, `upload ${report['organization-name']}: ${up.status()} ${await up.text()}`);
  }
  await reportsApi.dispose();

  step = 'reports: the domain\'s reports view';
  await page.reload();
  await heading(domain).waitFor();
  await page.getByRole('heading', { name: 'Import report files' }).waitFor();

  step = 'reports: upload through the form (a bad file, then a gzip report)';
  const fileInput = page.getByLabel('Report files', { exact: true });
  allowed.push({ path: '/reports', status: 422 });
  await fileInput.setInputFiles({ name: 'not-a-report.json', mimeType: 'application/json', buffer: Buffer.from('{"hello": "world"}') });
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await page.getByText(/not-a-report\.json\s+not imported: /).waitFor();
  const mailru = tlsReport({
    org: 'Mail.Ru',
    day: daysAgo(3),
    ok: 45,
    policyDomain: domain,
    failures: [{ 'result-type': 'starttls-not-supported', 'sending-mta-ip': '94.100.180.1', 'receiving-mx-hostname': `mx2.mail.${domain}`, 'failed-session-count': 5 }],
  });
  await fileInput.setInputFiles({ name: 'mailru.json.gz', mimeType: 'application/gzip', buffer: gzipSync(Buffer.from(JSON.stringify(mailru))) });
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await page.getByText(`imported: report ${mailru['report-id']} from Mail.Ru.`).waitFor();
  // The same report again is recognised.
  await fileInput.setInputFiles({ name: 'again.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(google)) });
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await page.getByText(`already stored (report ${google['report-id']} from Google Inc.); not counted again.`).waitFor();

  step = 'reports: totals, charts and tables';
  const stat = (label) => page.locator('.stat', { hasText: label }).locator('dd');
  await page.locator('.stats').waitFor();
  const expectText = async (locator, want, what) => {
    await locator.first().waitFor();
    for (let i = 0; i < 50; i++) {
      if ((await locator.first().innerText()).trim() === want) return;
      await page.waitForTimeout(100);
    }
    check(false, `${what}: ${await locator.first().innerText()} (want ${want})`);
  };
  await expectText(stat('Reports'), '3', 'reports');
  await expectText(stat('Successful sessions'), '340', 'successful sessions');
  await expectText(stat('Failed sessions'), '10', 'failed sessions');
  await expectText(stat('Success rate'), '97.1%', 'success rate');
  const canvases = await page.locator('.chart canvas').count();
  check(canvases >= 4, `expected 4 charts (days, results, organizations, MX), saw ${canvases}`);
  const box = await page.locator('.chart canvas').first().boundingBox();
  check(box && box.width > 300 && box.height > 100, `the day chart has a size: ${JSON.stringify(box)}`);
  // Each result type with its explanation and likely fix.
  const expired = page.locator('.result', { hasText: 'Certificate expired' });
  await expired.getByText('Your mail server presented an expired certificate.').waitFor();
  await expired.getByText('Renew the certificate on the MX host and automate renewal.').waitFor();
  await page.locator('.result', { hasText: 'STARTTLS not supported' }).getByText('5 sessions').waitFor();
  await page.locator('.result', { hasText: 'Successful TLS' }).getByText('340 sessions').waitFor();
  // The day table (the chart's text alternative).
  await page.getByText(/Show as a table \(3 days with reports\)/).click();
  const dayRows = page.locator('section[aria-labelledby="days-h"] tbody tr');
  check((await dayRows.count()) === 3, `day table rows: ${await dayRows.count()}`);
  check((await dayRows.filter({ hasText: '95%' }).count()) === 1, 'yesterday: 95% succeeded');
  const orgRow = page.locator('section[aria-labelledby="orgs-h"] tbody tr', { hasText: 'Google Inc.' });
  check((await orgRow.innerText()).replace(/\s+/g, ' ').includes('1 95 5 95%'), `Google's row: ${await orgRow.innerText()}`);
  await page.locator('section[aria-labelledby="mx-h"] tbody tr', { hasText: `mx2.mail.${domain}` }).waitFor();
  // Signals: recent failures and what they mean for enforce.
  await page.getByText('10 failed sessions in the last 14 days (97.1% succeeded).').waitFor();
  await page.getByText(/The enforce readiness check looks at these/).waitFor();
  await shoot('21-domain-reports');
  await shootReadme('reports', page.locator('section[aria-labelledby="results-h"]'));
  await axeScan('domain-reports');

  step = 'reports: list, filter, detail, raw download';
  const listRows = page.locator('section[aria-labelledby="list-h"] tbody tr');
  await listRows.first().waitFor();
  check((await listRows.count()) === 3, `report list: ${await listRows.count()} rows`);
  await page.locator('section[aria-labelledby="orgs-h"]').getByRole('button', { name: 'Show the reports of Google Inc.' }).click();
  for (let i = 0; i < 50 && (await listRows.count()) !== 1; i++) await page.waitForTimeout(100);
  check((await listRows.count()) === 1, `filtered list: ${await listRows.count()} rows`);
  check((await page.getByLabel('Organization', { exact: true }).inputValue()) === 'Google Inc.', 'the filter shows the organization');
  await listRows.first().getByRole('link').click();
  await heading(/^Report from Google Inc\./).waitFor();
  const failure = page.locator('.result', { hasText: 'Certificate expired' });
  await failure.getByText('Your mail server presented an expired certificate.').waitFor();
  await failure.getByText(`mx1.${domain}`).waitFor();
  await failure.getByText('209.85.220.41').waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download raw JSON' }).click()]);
  check(/^tlsrpt-[A-Za-z0-9-]+\.json$/.test(download.suggestedFilename()), `download name: ${download.suggestedFilename()}`);
  const downloaded = JSON.parse(await readFile(await download.path(), 'utf8'));
  check(downloaded['report-id'] === google['report-id'], `downloaded report: ${JSON.stringify(downloaded).slice(0, 200)}`);
  await page.getByText('Show the JSON as received').click();
  await shoot('22-report-detail');

  step = 'reports: across the tenant';
  await page.getByRole('navigation', { name: 'Main', exact: true }).getByRole('link', { name: 'Reports' }).click();
  await heading('Reports').waitFor();
  const domainRow = page.locator('section[aria-labelledby="domains-h"] tbody tr', { hasText: domain });
  await domainRow.waitFor();
  check((await domainRow.innerText()).replace(/\s+/g, ' ').includes('3 340 10 97.1%'), `tenant row: ${await domainRow.innerText()}`);
  await expectText(stat('Success rate'), '97.1%', 'tenant success rate');
  await page.getByRole('button', { name: 'Last 7 days' }).click();
  check(page.url().includes('days=7'), `the range is in the URL: ${page.url()}`);
  await expectText(stat('Reports'), '3', 'reports in the last 7 days');
  await page.getByRole('button', { name: 'Custom' }).click();
  await page.getByLabel('From', { exact: true }).fill(daysAgo(400));
  await page.getByLabel('To', { exact: true }).fill(daysAgo(300));
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await page.getByText('No reports in this range').waitFor();
  await page.getByRole('button', { name: 'Last 30 days' }).click();
  await domainRow.waitFor();
  const retention = page.getByLabel('Keep reports for (days)');
  check((await retention.inputValue()) !== '', 'retention shown');
  await retention.fill('3');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText('Choose 7 to 3650 days.').waitFor();
  await retention.fill('180');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText('Reports are now kept for 180 days.').waitFor();
  await shoot('23-tenant-reports');
  await axeScan('tenant-reports');
  await domainRow.getByRole('link', { name: domain }).click();
  await heading(domain).waitFor();
  await page.locator('.stats').waitFor();

  step = 'domains list';
  await page.getByRole('navigation', { name: 'Main', exact: true }).getByRole('link', { name: 'Domains' }).click();
  await heading('Domains').waitFor();
  const row = page.getByRole('row').filter({ hasText: domain });
  await row.waitFor();
  check((await row.locator('.badge').count()) >= 2, 'state and mode badges');
  await shoot('08-domains-list');
  await axeScan('domains-list');
  await page.getByLabel('Search').fill('no-such-name');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByText('No domains match these filters').waitFor();
  await shoot('09-domains-no-match');
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await row.waitFor();

  step = 'reload keeps the session (refresh cookie)';
  await page.reload();
  await page.getByRole('row').filter({ hasText: domain }).waitFor();

  step = 'German';
  await page.getByLabel('Language').selectOption('de');
  await heading('Domains').waitFor();
  await page.getByRole('link', { name: 'Domain hinzufügen' }).waitFor();
  await shoot('10-domains-de');
  await page.getByLabel('Sprache').selectOption('en');

  step = 'log out';
  await page.getByRole('button', { name: 'Log out' }).click();
  await heading('Log in').waitFor();
  await page.goto(base + '/');
  await heading('Log in').waitFor();

  step = 'log in again';
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await heading('Domains').waitFor();
  await page.getByRole('row').filter({ hasText: domain }).waitFor();

  step = 'unknown API path is JSON 404';
  const r = await page.request.get(base + '/api/v1/nope');
  check(r.status() === 404 && (r.headers()['content-type'] ?? '').includes('json'), `GET /api/v1/nope: ${r.status()}`);

  step = 'API tokens: create, shown once';
  const nav = page.getByRole('navigation', { name: 'Main', exact: true });
  await nav.getByRole('link', { name: 'API tokens' }).click();
  await heading('API tokens').waitFor();
  await page.getByText('No API tokens yet').waitFor();
  await shoot('11-tokens-empty');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.getByText('Give the token a name.').waitFor();
  await page.getByLabel('Name', { exact: true }).fill('CI deploy');
  await page.getByLabel(/^Write/).check();
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.getByRole('heading', { name: 'Token “CI deploy” created' }).waitFor();
  const secret = await page.getByLabel('Token', { exact: true }).inputValue();
  check(/^stsd_\S{20,}$/.test(secret), `token secret: ${secret}`);
  await page.getByText('This is the only time the token is shown').waitFor();
  await page.getByRole('button', { name: 'Copy Token' }).click();
  await page.getByText('Copied').first().waitFor();
  check((await page.evaluate(() => navigator.clipboard.readText())) === secret, 'the copy button copies the secret');
  await shoot('12-token-created');
  await page.getByRole('button', { name: 'I have stored it' }).click();
  await page.getByRole('heading', { name: 'Create a token' }).waitFor();
  const tokenRow = page.getByRole('row').filter({ hasText: 'CI deploy' });
  await tokenRow.waitFor();
  check((await tokenRow.getByRole('cell').nth(1).innerText()) === 'never', 'a new token was never used');
  check(!(await page.content()).includes(secret), 'the secret is gone from the page once dismissed');

  step = 'API tokens: used, then listed with its last use';
  const byToken = await request.newContext({ baseURL: base });
  const used = await byToken.get(`/api/v1/tenants/${tenantId}/domains`, { headers: { Authorization: `Bearer ${secret}` } });
  check(used.ok(), `GET domains with the token: ${used.status()}`);
  await byToken.dispose();
  await page.reload();
  await heading('API tokens').waitFor();
  await tokenRow.waitFor();
  const lastUsed = await tokenRow.getByRole('cell').nth(1).innerText();
  check(lastUsed !== 'never' && /\d/.test(lastUsed), `last used: ${lastUsed}`);
  check(!(await page.content()).includes(secret), 'the secret is never shown again');
  await shoot('13-tokens-list');
  await axeScan('tokens');

  step = 'alerts: a webhook, its secret shown once';
  await nav.getByRole('link', { name: 'Alerts' }).click();
  await heading('Alerts').waitFor();
  await page.getByText('No webhooks yet').waitFor();
  const hookUrl = page.getByLabel('URL', { exact: true });
  await hookUrl.fill('http://hooks.example.com/x');
  await page.getByRole('button', { name: 'Add webhook' }).click();
  await page.getByText('Use an https:// URL.').waitFor();
  check((await hookUrl.getAttribute('aria-invalid')) === 'true', 'the URL field is marked invalid');
  await page.getByRole('checkbox', { name: /All events/ }).uncheck();
  await page.getByRole('checkbox', { name: /Domain state changed/ }).check();
  await page.getByRole('checkbox', { name: /Certificate failed/ }).check();
  await hookUrl.fill('https://hooks.example.com/x');
  await page.getByRole('button', { name: 'Add webhook' }).click();
  await page.getByRole('heading', { name: 'Webhook added' }).waitFor();
  const hookSecret = await page.getByLabel('Signing secret', { exact: true }).inputValue();
  check(hookSecret.length >= 20, `webhook secret: ${hookSecret}`);
  await page.getByText('This is the only time the signing secret is shown').waitFor();
  await page.getByRole('button', { name: 'Copy Signing secret' }).click();
  await page.getByText('Copied').first().waitFor();
  check((await page.evaluate(() => navigator.clipboard.readText())) === hookSecret, 'the copy button copies the secret');
  await shoot('25-webhook-created');
  await axeScan('webhook-secret');
  await page.getByRole('button', { name: 'I have stored it' }).click();
  const hookCard = page.getByRole('listitem', { name: 'https://hooks.example.com/x' });
  await hookCard.waitFor();
  await hookCard.getByText('Domain state changed').waitFor();
  check(!(await page.content()).includes(hookSecret), 'the secret is gone once dismissed');

  step = 'alerts: a test ping and its delivery';
  await hookCard.getByRole('button', { name: 'Send test' }).click();
  await page.getByText('Test queued for https://hooks.example.com/x', { exact: false }).waitFor();
  const pingRow = hookCard.getByRole('row').filter({ hasText: 'Test' });
  await pingRow.waitFor();
  const pingStatus = await pingRow.locator('.badge').innerText();
  check(['pending', 'delivered', 'failed'].includes(pingStatus), `delivery status: ${pingStatus}`);
  await shoot('26-alerts');
  await axeScan('alerts');
  await page.reload();
  await heading('Alerts').waitFor();
  await hookCard.waitFor();
  check(!(await page.content()).includes(hookSecret), 'the secret is never shown again');

  step = 'add a domain that hosts its own policy: stsd keeps it';
  // Not containing `domain`: later steps find its rows by that text.
  const selfHosted = `${domain.split(".")[0]}-own.example.net`;
  await customerDns(selfHosted, 'MX', [`10 mx1.${selfHosted}`, `20 mx2.${selfHosted}`]);
  await customerDns(`_mta-sts.${selfHosted}`, 'TXT', ['v=STSv1; id=20240101T000000;']);
  await customerDns(`mta-sts.${selfHosted}`, 'A', ['127.0.3.1']);
  await customerDns(`_smtp._tls.${selfHosted}`, 'TXT', [`v=TLSRPTv1; rua=mailto:tls-reports@${selfHosted}`]);
  await control('/policy', { body: `version: STSv1\nmode: enforce\nmx: mx1.${selfHosted}\nmax_age: 1209600\n` });
  await page.goto(`${base}/t/${tenantId}/domains`);
  await heading('Domains').waitFor();
  await page.getByRole('link', { name: 'Add domain' }).first().click();
  await heading('Add a domain').waitFor();
  await page.getByLabel('Domain name').fill(selfHosted);
  await page.getByRole('button', { name: 'Add domain' }).click();
  await heading(`${selfHosted} added`).waitFor({ timeout: 30_000 });
  const existingCard = page.getByRole('region', { name: 'Your current MTA-STS' });
  await existingCard.getByText('mode Enforce, 1 MX pattern, max_age 14 days, id 20240101T000000', { exact: false }).waitFor();
  await existingCard.getByText('stsd keeps this policy as its first version', { exact: false }).waitFor();
  await existingCard.getByRole('alert').filter({ hasText: `mx2.${selfHosted}` }).waitFor();
  await existingCard.getByText(`mailto:tls-reports@${selfHosted}`, { exact: false }).waitFor();
  await page.getByText(`Reports also go to your own destinations: mailto:tls-reports@${selfHosted}`).waitFor();
  await page.getByText('Proposed policy: Enforce with 1 MX pattern.').waitFor();
  await shoot('07e-import');
  await axeScan('import');
  await page.getByLabel('Language').selectOption('de');
  const existingCardDe = page.getByRole('region', { name: 'Ihr bisheriges MTA-STS' });
  await existingCardDe.getByText('stsd übernimmt diese Richtlinie als erste Version', { exact: false }).waitFor();
  await shoot('07e-import-de');
  await page.getByLabel('Sprache').selectOption('en');
  // Read again before the switch: the customer breaks their policy; the domain page says so.
  await control('/policy', { body: 'version: STSv1\nmode: enforce\nmax_age: 86400\n' });
  await page.goto(`${base}/t/${tenantId}/domains/${selfHosted}`);
  await heading(selfHosted).waitFor();
  await page.getByRole('region', { name: 'Your current MTA-STS' }).getByText('MTA-STS that senders cannot use', { exact: false }).waitFor();
  await shoot('07e-import-invalid');

  step = 'remove a domain: offboarding explained first';
  const leaveDomain = `leave-${domain}`;
  const addLeave = await page.request.post(`${base}/api/v1/tenants/${tenantId}/domains`, {
    headers: { Authorization: `Bearer ${access_token}` },
    data: { name: leaveDomain },
  });
  check(addLeave.status() === 201, `add ${leaveDomain}: ${addLeave.status()}`);
  await page.goto(`${base}/t/${tenantId}/domains/${leaveDomain}`);
  await heading(leaveDomain).waitFor();
  await page.getByRole('button', { name: 'Remove domain…' }).click();
  const confirmRemove = page.getByRole('dialog', { name: `Remove ${leaveDomain} from stsd?` });
  await confirmRemove.getByText(/serves mode none until every cached copy has expired/).waitFor();
  await confirmRemove.getByText('Keep the three DNS records until then', { exact: false }).waitFor();
  await shoot('07f-remove-confirm');
  await axeScan('remove-dialog');
  await confirmRemove.getByRole('button', { name: 'Start removal' }).click();
  // Customer DNS answers nothing here, so this domain never went active and its policy was
  // never served: the API removes it at once (200, no keep_records_until) and the page says
  // so. A served domain answers 202 with the date to keep the records (see the unit tests).
  await page.getByText(`${leaveDomain} was removed at once`, { exact: false }).waitFor();
  await shoot('07g-removed');
  await page.getByRole('link', { name: 'Back to the domains' }).click();
  await heading('Domains').waitFor();
  await page.getByRole('row').filter({ hasText: domain }).first().waitFor();
  check((await page.getByRole('row').filter({ hasText: leaveDomain }).count()) === 0, 'the removed domain is not listed');

  step = 'members: invite a viewer';
  // Members must have an account: the second person signs up first (with their own tenant).
  const viewerEmail = `viewer-${Date.now()}@example.com`;
  const viewerApi = await request.newContext({ baseURL: base });
  const signup = await viewerApi.post('/api/v1/auth/signup', {
    data: { email: viewerEmail, password, tenant_name: 'Viewer Co' },
  });
  check(signup.status() === 201, `viewer signup: ${signup.status()} ${await signup.text()}`);
  const viewerSignup = await signup.json();
  const viewerToken = viewerSignup.access_token;
  await nav.getByRole('link', { name: 'Members' }).click();
  await heading('Members').waitFor();
  await page.getByRole('row').filter({ hasText: email }).waitFor();
  const inviteEmail = page.getByRole('textbox', { name: 'E-mail' });
  const nobody = `nobody-${Date.now()}@example.com`;
  await inviteEmail.fill(nobody);
  allowed.push({ path: '/members', status: 422 });
  await page.getByRole('button', { name: 'Invite' }).click();
  // No account: an invitation link is offered, not made, and the address is not "wrong".
  await page.getByText(`No stsd account uses ${nobody} yet.`).waitFor();
  await page.getByRole('button', { name: 'Create an invitation link' }).waitFor();
  check((await inviteEmail.getAttribute('aria-invalid')) === null, 'an address without an account is not marked invalid');
  await inviteEmail.fill(viewerEmail);
  check((await page.getByRole('button', { name: 'Create an invitation link' }).count()) === 0, 'the offer goes with the address');
  await page.getByRole('combobox', { name: 'Role', exact: true }).selectOption('viewer');
  await page.getByRole('button', { name: 'Invite' }).click();
  await page.getByText(`${viewerEmail} was added as viewer.`).waitFor();
  const viewerRow = page.getByRole('row').filter({ hasText: viewerEmail });
  await viewerRow.waitFor();
  check((await viewerRow.getByRole('combobox').inputValue()) === 'viewer', 'the new member is a viewer');
  // The only owner can be neither demoted nor removed.
  const ownerRow = page.getByRole('row').filter({ hasText: email });
  check((await ownerRow.getByRole('button').count()) === 0, 'no remove button for the last owner');
  await shoot('14-members');
  await axeScan('members');

  step = 'members: invite a new address by link';
  // Someone without an account: the page offers an invitation link, made only when asked.
  const newEmail = `new-${Date.now()}@example.com`;
  await inviteEmail.fill(newEmail);
  await page.getByRole('combobox', { name: 'Role', exact: true }).selectOption('editor');
  allowed.push({ path: '/members', status: 422 });
  await page.getByRole('button', { name: 'Invite' }).click();
  await page.getByText(`No stsd account uses ${newEmail} yet.`).waitFor();
  await page.getByText('they sign up with this address and join as editor', { exact: false }).waitFor();
  await shoot('14b-members-invite-offer');
  await axeScan('members-invite-offer');
  await page.getByRole('button', { name: 'Create an invitation link' }).click();
  await page.getByRole('heading', { name: `Invitation for ${newEmail}` }).waitFor();
  await page.getByText(`stsd sends no e-mail: send this link to ${newEmail} yourself.`).waitFor();
  await page.getByText('It works once, for 7 days, only for an account with that address. It is not shown again.').waitFor();
  const inviteLink = await page.getByLabel('Invitation link', { exact: true }).inputValue();
  check(new RegExp(`^${base.replace(/[.]/g, '\\.')}/invite#stsdinv_[A-Za-z0-9_-]{20,}$`).test(inviteLink), `invitation link: ${inviteLink}`);
  await page.getByRole('button', { name: 'Copy Invitation link' }).click();
  await page.getByText('Copied').first().waitFor();
  check((await page.evaluate(() => navigator.clipboard.readText())) === inviteLink, 'the copy button copies the link');
  await shoot('14c-invitation-link');
  await axeScan('invitation-link');
  await page.getByRole('button', { name: 'I have copied it' }).click();
  const pending = page.getByRole('region', { name: 'Pending invitations' });
  const pendingNew = pending.getByRole('row').filter({ hasText: newEmail });
  await pendingNew.waitFor();
  check((await pendingNew.locator('.badge').innerText()) === 'editor', 'the pending invitation is for an editor');
  const inviteToken = inviteLink.split('#')[1];
  check(!(await page.content()).includes(inviteToken), 'the link is gone from the page once dismissed');

  step = 'members: a second invitation, revoked';
  const revokedEmail = `revoked-${Date.now()}@example.com`;
  await inviteEmail.fill(revokedEmail);
  await page.getByRole('combobox', { name: 'Role', exact: true }).selectOption('viewer');
  allowed.push({ path: '/members', status: 422 });
  await page.getByRole('button', { name: 'Invite' }).click();
  await page.getByRole('button', { name: 'Create an invitation link' }).click();
  await page.getByRole('heading', { name: `Invitation for ${revokedEmail}` }).waitFor();
  const revokedLink = await page.getByLabel('Invitation link', { exact: true }).inputValue();
  await page.getByRole('button', { name: 'I have copied it' }).click();
  const pendingRevoked = pending.getByRole('row').filter({ hasText: revokedEmail });
  await pendingRevoked.waitFor();
  check((await pending.getByRole('row').count()) === 3, 'two pending invitations (and the header row)');
  await shoot('14d-pending-invitations');
  await axeScan('pending-invitations');
  await pendingRevoked.getByRole('button', { name: 'Revoke' }).click();
  await pendingRevoked.getByRole('button', { name: 'Revoke invitation' }).click();
  await page.getByText(`The invitation for ${revokedEmail} was revoked.`).waitFor();
  await pendingRevoked.waitFor({ state: 'detached' });
  await pendingNew.waitFor();

  step = 'invitee: a revoked link says so';
  // The invitee's own browser: a new context, logged out, with its own watchers.
  const inviteeContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  const invitee = await inviteeContext.newPage();
  invitee.setDefaultTimeout(20_000);
  watch(invitee);
  await invitee.goto(revokedLink);
  await invitee.getByRole('heading', { level: 1, name: 'You were invited to join a tenant on stsd' }).waitFor();
  await invitee.getByLabel('E-mail').fill(revokedEmail);
  await invitee.getByLabel('Password').fill(password);
  allowed.push({ path: '/api/v1/auth/signup', status: 422 });
  await invitee.getByRole('button', { name: 'Create account and join' }).click();
  await invitee.getByRole('alert').getByText('This invitation no longer works: it was revoked, or replaced by a newer one', { exact: false }).waitFor();
  check((await invitee.getByLabel('Password').count()) === 0, 'no sign-up form for a revoked invitation');
  await shoot('29-invite-revoked', invitee);
  await axeScan('invite-revoked', invitee);

  step = 'invitee: an incomplete link says so';
  await invitee.goto(`${base}/invite#stsdinv_`);
  await invitee.getByRole('heading', { level: 1, name: 'This invitation link is incomplete' }).waitFor();
  await shoot('30-invite-incomplete', invitee);
  await axeScan('invite-incomplete', invitee);

  step = 'invitee: signs up from the link, joins as editor';
  await invitee.goto(inviteLink);
  await invitee.getByRole('heading', { level: 1, name: 'You were invited to join a tenant on stsd' }).waitFor();
  check((await invitee.getByLabel('Organization').count()) === 0, 'no tenant name when joining by invitation');
  await shoot('31-invite-signup', invitee);
  await axeScan('invite-signup', invitee);
  await invitee.getByLabel('E-mail').fill(newEmail);
  await invitee.getByLabel('Password').fill(password);
  await invitee.getByRole('button', { name: 'Create account and join' }).click();
  await invitee.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
  check(new URL(invitee.url()).pathname === `/t/${tenantId}/domains`, `the invitee lands on the inviter's domains: ${invitee.url()}`);
  check((await invitee.getByLabel('Tenant').inputValue()) === tenantId, 'the tenant switcher shows the inviting tenant');
  await invitee.getByRole('row').filter({ hasText: domain }).first().waitFor();
  // An editor adds domains.
  await invitee.getByRole('link', { name: 'Add domain' }).first().waitFor();

  step = 'invitee: accepts a second invitation, logged in';
  // The viewer's own tenant invites the new account too; the link opens in its session.
  const viewerTenant = viewerSignup.tenant.id;
  const second = await viewerApi.post(`/api/v1/tenants/${viewerTenant}/members/invitations`, {
    headers: { Authorization: `Bearer ${viewerToken}` },
    data: { email: newEmail, role: 'viewer' },
  });
  check(second.status() === 201, `second invitation: ${second.status()}`);
  await invitee.goto(`${base}/invite#${(await second.json()).token}`);
  await invitee.getByRole('heading', { level: 1, name: 'You were invited to join a tenant on stsd' }).waitFor();
  await invitee.getByText(newEmail, { exact: true }).waitFor();
  await shoot('32-invite-accept', invitee);
  await axeScan('invite-accept', invitee);
  await invitee.getByRole('button', { name: 'Accept invitation' }).click();
  await invitee.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
  check(new URL(invitee.url()).pathname === `/t/${viewerTenant}/domains`, `accepting opens the tenant: ${invitee.url()}`);
  check((await invitee.getByLabel('Tenant').inputValue()) === viewerTenant, 'the tenant switcher shows the joined tenant');
  await inviteeContext.close();

  step = 'members: the invitee is a member, no longer pending';
  await page.reload();
  await heading('Members').waitFor();
  const newRow = page.getByRole('row').filter({ hasText: newEmail });
  await newRow.first().waitFor();
  check((await newRow.getByRole('combobox').inputValue()) === 'editor', 'the invitee is an editor');
  check((await page.getByRole('region', { name: 'Pending invitations' }).count()) === 0, 'nothing pending any more');
  await shoot('14e-members-joined');

  step = 'audit log';
  await nav.getByRole('link', { name: 'Audit log' }).click();
  await heading('Audit log').waitFor();
  for (const text of [
    `Member added: ${viewerEmail}`,
    `Invitation created: ${newEmail}`,
    `Invitation revoked: ${revokedEmail}`,
    `Invitation accepted: ${newEmail}`,
    'API token created: CI deploy',
    `Policy edited: ${domain}`,
    `Domain added: ${domain}`,
  ]) {
    await page.getByRole('row').filter({ hasText: text }).first().waitFor();
  }
  const created = page.getByRole('row').filter({ hasText: 'API token created: CI deploy' });
  check((await created.innerText()).includes(email), 'the audit log names who did it');
  await shoot('15-audit');
  await axeScan('audit');
  await page.getByLabel('Kind of change').selectOption('member');
  // The viewer added; two invitations created, one revoked, one accepted.
  await page.getByText(/5 of \d+ loaded entries match/).waitFor();
  check((await page.getByRole('row').count()) === 6, 'the filter leaves the member entries only');
  await shoot('16-audit-filtered');

  step = 'viewer: edits are refused';
  const refused = await viewerApi.put(`/api/v1/tenants/${tenantId}/domains/${domain}/policy`, {
    headers: { Authorization: `Bearer ${viewerToken}` },
    data: { mode: 'testing', mx: [`mx9.${domain}`], max_age: 86400 },
  });
  const refusal = await refused.json();
  check(refused.status() === 403 && refusal.error.message === 'your role (viewer) does not allow this', `viewer PUT policy: ${refused.status()} ${JSON.stringify(refusal)}`);
  await viewerApi.dispose();

  step = 'viewer: the dashboard is read-only';
  await page.getByRole('button', { name: 'Log out' }).click();
  await heading('Log in').waitFor();
  await page.getByLabel('E-mail').fill(viewerEmail);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await heading('Domains').waitFor();
  await page.getByLabel('Tenant').selectOption(tenantId);
  await page.getByRole('row').filter({ hasText: domain }).waitFor();
  check((await page.getByRole('link', { name: 'Add domain' }).count()) === 0, 'viewers get no Add domain link');
  await page.getByRole('link', { name: domain }).click();
  await heading(domain).waitFor();
  await page.getByText('Read only.').waitFor();
  await page.getByText('Your role here is viewer').waitFor();
  await page.getByRole('heading', { name: 'Checks' }).waitFor();
  check((await page.getByRole('button', { name: 'Check now' }).count()) === 0, 'viewers get no Check now button');
  // Version authors are named by e-mail, not by user id.
  await page.locator('section[aria-labelledby="history-h"] tbody tr', { hasText: email }).first().waitFor();
  await shoot('17-viewer-domain');
  await axeScan('viewer-domain');
  await page.getByRole('navigation', { name: 'Domain sections' }).getByRole('link', { name: 'Reports' }).click();
  await page.locator('.stats').waitFor();
  await page.getByRole('heading', { name: 'Sessions by result type' }).waitFor();
  check((await page.getByRole('heading', { name: 'Import report files' }).count()) === 0, 'viewers get no upload form');
  await nav.getByRole('link', { name: 'Reports' }).click();
  await heading('Reports').waitFor();
  await page.getByText('Reports are kept for 180 days.').waitFor();
  // Retention and counting unverified HTTPS reports: both settings say so, neither is a form.
  await page.getByText('Only owners and admins can change this.').first().waitFor();
  check((await page.getByText('Only owners and admins can change this.').count()) === 2, 'both report settings say who may change them');
  check((await page.getByLabel('Keep reports for (days)').count()) === 0, 'viewers cannot change retention');
  check((await page.getByLabel('Count reports sent over HTTPS from unverified addresses').count()) === 0, 'viewers cannot change what is counted');
  await shoot('17b-viewer-reports');
  await page.goto(`${base}/t/${tenantId}/domains/new`);
  await heading('Add a domain').waitFor();
  await page.getByText('Your role here is viewer').waitFor();
  check((await page.getByLabel('Domain name').count()) === 0, 'viewers get no add-domain form');
  await nav.getByRole('link', { name: 'Members' }).click();
  await heading('Members').waitFor();
  await page.getByText('You are a viewer here. Only owners and admins').waitFor();
  check((await page.getByRole('button', { name: 'Invite' }).count()) === 0, 'viewers cannot invite');
  check((await page.getByRole('combobox', { name: /^Role of/ }).count()) === 0, 'viewers cannot change roles');
  await page.getByRole('row').filter({ hasText: viewerEmail }).getByRole('button', { name: 'Leave' }).waitFor();
  await shoot('18-viewer-members');
  await nav.getByRole('link', { name: 'API tokens' }).click();
  await page.getByText('Only owners and admins manage API tokens').waitFor();
  await shoot('19-viewer-tokens');

  step = 'German: the new pages';
  await page.getByLabel('Language').selectOption('de');
  await heading('API-Tokens').waitFor();
  await page.getByRole('navigation', { name: 'Hauptmenü' }).getByRole('link', { name: 'Audit-Log' }).click();
  await heading('Audit-Log').waitFor();
  await page.getByRole('row').filter({ hasText: `Mitglied hinzugefügt: ${viewerEmail}` }).waitFor();
  await shoot('20-audit-de');
  await page.getByRole('navigation', { name: 'Hauptmenü' }).getByRole('link', { name: 'Berichte' }).click();
  await heading('Berichte').waitFor();
  await page.getByRole('heading', { name: 'Sitzungen nach Ergebnistyp' }).waitFor();
  await page.getByText('Ihr Mailserver hat ein abgelaufenes Zertifikat vorgelegt.').waitFor();
  await shoot('24-reports-de');
  await page.getByRole('navigation', { name: 'Hauptmenü' }).getByRole('link', { name: 'Alarme' }).click();
  await heading('Alarme').waitFor();
  await page.getByText('Nur Inhaber und Admins verwalten Alarme').waitFor();
  await shoot('27-alerts-viewer-de');
  await page.goto(`${base}/t/${tenantId}/domains/${domain}`);
  await heading(domain).waitFor();
  await page.getByRole('heading', { name: 'Zertifikat' }).waitFor();
  await page.getByText('Die neueste Version ist im Modus', { exact: false }).waitFor();
  check((await page.getByRole('button', { name: 'Enforce …' }).count()) === 0, 'viewers get no mode switch');
  await shoot('28-viewer-domain-de');
  await page.getByLabel('Sprache').selectOption('en');

  check(axeFindings.length === 0, `accessibility (axe-core, serious or critical):\n${axeFindings.join('\n')}`);
  check(problems.length === 0, `browser problems:\n${problems.join('\n')}`);
  console.log(`e2e passed; screenshots in ${shots}`);
} catch (e) {
  await page.screenshot({ path: `${shots}failure.png`, fullPage: true }).catch(() => {});
  console.error(e instanceof Error ? e.message : e);
  if (problems.length) console.error(problems.join('\n'));
  if (axeFindings.length) console.error(axeFindings.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}
