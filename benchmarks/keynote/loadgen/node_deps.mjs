// Loads the pinned npm packages from the test suite's install tree (tests/node/node_modules), so the
// benchmark needs no second npm install. ESM ignores NODE_PATH, hence the explicit resolution here.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const DEFAULT_NODE_MODULES = new URL('../../../tests/node/node_modules/', import.meta.url);

function nodeModulesUrl() {
  const override = process.env.KEYNOTE_NODE_MODULES;
  return override ? pathToFileURL(override.endsWith('/') ? override : override + '/') : DEFAULT_NODE_MODULES;
}

/** The URL of a package's ESM entry point ("import" condition of its exports map, else "module"/"main"). */
export function packageEntryUrl(name) {
  const dir = new URL(`${name}/`, nodeModulesUrl());
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8'));
  } catch {
    throw new Error(
      `npm package '${name}' not found under ${nodeModulesUrl().pathname}: run \`npm ci\` in tests/node ` +
        `(or set KEYNOTE_NODE_MODULES to a node_modules directory that has it)`,
    );
  }
  const root = manifest.exports?.['.'] ?? manifest.exports;
  const pick = (entry) => {
    if (typeof entry === 'string') return entry;
    if (entry && typeof entry === 'object') {
      for (const cond of ['node', 'import', 'default']) {
        const found = entry[cond] !== undefined ? pick(entry[cond]) : undefined;
        if (found) return found;
      }
    }
    return undefined;
  };
  const rel = pick(root) ?? manifest.module ?? manifest.main ?? 'index.js';
  return new URL(rel, dir);
}

export async function importPackage(name) {
  return import(packageEntryUrl(name).href);
}
