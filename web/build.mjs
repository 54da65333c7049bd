// Bundles the playground's script (with the editor) into dist/, and the
// licences of the packages bundled into it. The output is deterministic:
// the suite rebuilds it and compares with the committed dist/. The execbox
// binary embeds dist/ and, as they are, index.html and playground.css.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, 'dist');
mkdirSync(out, { recursive: true });

const result = await esbuild.build({
  entryPoints: [join(here, 'src/main.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'none',
  metafile: true,
  outfile: join(out, 'playground.js'),
  logLevel: 'warning',
});

// Every npm package whose code is in the bundle, with its licence text.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.add(m[1]);
}
let notices = 'The playground script bundles these npm packages; their licences follow.\n';
for (const name of [...packages].sort()) {
  const dir = join(here, 'node_modules', name);
  const { version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license'].map((f) => join(dir, f)).find(existsSync);
  notices += `\n==== ${name} ${version} (${license})\n\n${file ? readFileSync(file, 'utf8').trim() : license}\n`;
}
writeFileSync(join(out, 'licenses.txt'), notices);
