// The committed tag must be exactly what the sources build to, and small.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { build, gzipSize, OUT, BUDGET } from '../build.mjs';

test('committed collector/static/sillage.min.js equals a fresh build', async () => {
  const fresh = await build();
  const committed = readFileSync(OUT);
  assert.ok(fresh.equals(committed), 'collector/static/sillage.min.js is stale: run `npm run build` in tag/ and commit it');
});

test('two builds are byte-identical (reproducible)', async () => {
  assert.ok((await build()).equals(await build()));
});

test(`tag is under ${BUDGET} bytes minified and gzipped`, async () => {
  const size = gzipSize(await build());
  assert.ok(size <= BUDGET, `tag is ${size} bytes gzipped`);
});
