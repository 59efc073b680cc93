// Golden files under test/golden/: the text must be what the file holds. After an intended change,
// `UPDATE_GOLDEN=1 npm test` rewrites them for review; in CI a missing one is a failure, not a write.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const golden = new URL('../../../test/golden/', import.meta.url);

export function checkGolden(name: string, text: string): void {
  const path = new URL(name, golden);
  if (process.env.UPDATE_GOLDEN || !existsSync(path)) {
    if (process.env.CI && !existsSync(path)) assert.fail(`golden file ${name} is missing; run UPDATE_GOLDEN=1 npm test and commit it`);
    writeFileSync(path, text);
    return;
  }
  assert.equal(text, readFileSync(path, 'utf8'), `test/golden/${name} differs; if the change is intended, run UPDATE_GOLDEN=1 npm test and review the diff`);
}

/** A compiled snapshot, as `<name>.json`. */
export function checkGoldenJson(name: string, value: unknown): void {
  checkGolden(`${name}.json`, JSON.stringify(value, null, 2) + '\n');
}
