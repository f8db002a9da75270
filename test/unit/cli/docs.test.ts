// docs/errors.md stays true: one row per error kind with its D-Bus name and splicectl exit code.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { it } from 'node:test';
import { DBUS_ERROR_PREFIX, ERROR_KINDS } from '../../../src/errors';
import { EXIT_BY_KIND } from '../../../src/cli/exit-codes';
import { REPO } from '../bus/harness';

it('docs/errors.md has every kind, its D-Bus name, exit code and message', () => {
  const doc = readFileSync(path.join(REPO, 'docs/errors.md'), 'utf8');
  const rows = new Map(
    [...doc.matchAll(/^\| `(\w+)` \| `([\w.]+)` \| (\d+) \| ([^|]+) \|/gm)].map((m) => [m[1], { name: m[2], exit: Number(m[3]), message: m[4].trim() }]),
  );
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_KINDS).sort());
  for (const [kind, message] of Object.entries(ERROR_KINDS)) {
    assert.deepEqual(rows.get(kind), { name: DBUS_ERROR_PREFIX + kind, exit: EXIT_BY_KIND[kind as keyof typeof ERROR_KINDS], message }, kind);
  }
});
