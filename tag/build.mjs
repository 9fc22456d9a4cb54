// Builds the tag into ../collector/static/sillage.min.js, which the
// collector embeds. The output depends only on src/, package.json's version
// and the esbuild version pinned in package-lock.json, so a fresh build of a
// commit is byte-identical to the committed file (test/build.test.mjs).
// Fails when the tag is over its size budget.
import * as esbuild from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const OUT = here('../collector/static/sillage.min.js');
export const BUDGET = 4096; // bytes, minified and gzipped

export async function build() {
  const pkg = JSON.parse(readFileSync(here('package.json'), 'utf8'));
  const res = await esbuild.build({
    entryPoints: [here('src/index.js')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es5',
    charset: 'utf8',
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
    define: { __VERSION__: JSON.stringify(pkg.version) },
    banner: { js: `/*! sillage.js ${pkg.version} */` },
  });
  return Buffer.from(res.outputFiles[0].contents);
}

export function gzipSize(buf) {
  return gzipSync(buf, { level: 9 }).length;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await build();
  const gz = gzipSize(out);
  console.log(`sillage.min.js: ${out.length} bytes, ${gz} bytes gzipped (budget ${BUDGET})`);
  if (gz > BUDGET) {
    console.error(`tag is over budget by ${gz - BUDGET} bytes`);
    process.exit(1);
  }
  writeFileSync(OUT, out);
}
