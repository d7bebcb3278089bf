// Regenerates openapi.json and src/api/schema.d.ts, without network:
//   STSD_URL=http://127.0.0.1:8080 npm run gen:api   – from a running stsd
//   npm run gen:api                                  – from the source (a cargo test writes it)
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ROOT, SPEC, TYPES, generate } from './api-types.mjs';

const url = process.env.STSD_URL;
if (url) {
  const res = await fetch(new URL('/api/v1/openapi.json', url));
  if (!res.ok) throw new Error(`GET openapi.json: HTTP ${res.status}`);
  await writeFile(SPEC, JSON.stringify(await res.json(), null, 2) + '\n');
} else {
  execFileSync(
    'cargo',
    ['test', '-p', 'stsd-api', '--lib', '--', '--ignored', '--exact', 'assets_spa::tests::write_dashboard_openapi'],
    { cwd: fileURLToPath(new URL('..', ROOT)), stdio: 'inherit' },
  );
}
await writeFile(TYPES, await generate());
console.log('wrote openapi.json and src/api/schema.d.ts');
