// Build: copy the format's JSON Schema into the extension (never edited by hand here) and bundle
// src/extension.ts with its dependencies into dist/extension.js (so `vsce package
// --no-dependencies` needs no node_modules). `--production` minifies.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const production = process.argv.includes('--production');

const schemaSource = join(here, '..', 'prompts-spec', 'prompt.schema.json');
const schemaTarget = join(here, 'schemas', 'prompt.schema.json');
JSON.parse(readFileSync(schemaSource, 'utf8')); // fail the build on a broken schema
mkdirSync(dirname(schemaTarget), { recursive: true });
copyFileSync(schemaSource, schemaTarget);

await build({
  entryPoints: [join(here, 'src', 'extension.ts')],
  outfile: join(here, 'dist', 'extension.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node18',
  external: ['vscode'],
  minify: production,
  sourcemap: !production,
  logLevel: 'warning',
});
if (production) {
  rmSync(join(here, 'dist', 'extension.js.map'), { force: true }); // not shipped: no stale map
}
console.log(`built dist/extension.js${production ? ' (minified)' : ''}; copied schemas/prompt.schema.json`);
