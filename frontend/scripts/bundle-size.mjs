// Reports the gzipped size of the JavaScript index.html loads initially; fails over the budget.
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

const BUDGET = 300 * 1024;
const dist = new URL('../dist/', import.meta.url);
const html = await readFile(new URL('index.html', dist), 'utf8');
const scripts = [...html.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="\/([^"]+\.js)"/g)].map((m) => m[1]);
let total = 0;
for (const s of scripts) {
  const gz = gzipSync(await readFile(new URL(s, dist))).length;
  total += gz;
  console.log(`${s}: ${(gz / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`initial JavaScript: ${(total / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET / 1024} KiB)`);
if (scripts.length === 0 || total > BUDGET) process.exit(1);
