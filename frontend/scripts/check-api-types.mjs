// Fails when src/api/schema.d.ts is not what openapi.json generates (run `npm run gen:api`).
// With a URL argument it also checks that openapi.json is the running stsd's document.
import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { SPEC, TYPES, generate } from './api-types.mjs';

let failed = false;
const committed = await readFile(TYPES, 'utf8');
if (committed !== (await generate())) {
  console.error('src/api/schema.d.ts is out of date with openapi.json: run `npm run gen:api`');
  failed = true;
}
const url = process.argv[2];
if (url) {
  const res = await fetch(new URL('/api/v1/openapi.json', url));
  const live = await res.json();
  const saved = JSON.parse(await readFile(SPEC, 'utf8'));
  if (!isDeepStrictEqual(live, saved)) {
    console.error(`openapi.json differs from ${url}/api/v1/openapi.json: run \`npm run gen:api\` and fix the dashboard`);
    failed = true;
  }
}
if (failed) process.exit(1);
console.log(`API types are current${url ? ` (checked against ${url})` : ''}`);
