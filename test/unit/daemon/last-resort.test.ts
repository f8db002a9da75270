// The process-level last resort of the daemon: an exception or rejection nobody handled is logged (pino, with its
// syslog priority), STATUS= and the State say so, and the process exits non-zero for systemd to restart it.
// And a failed start-up reads as such in STATUS=.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { statusLine } from '../../../src/daemon/notify';

const LAST_RESORT = path.resolve(__dirname, '../../../src/daemon/last-resort.js');
const LOGGER = path.resolve(__dirname, '../../../src/daemon/logger.js');

/** A process that installs the last resort (notifier and State recorded on stderr), then fails with `failure`. */
function runFailing(failure: string) {
  const script = `
    const { installLastResort } = require(${JSON.stringify(LAST_RESORT)});
    const { createLogger } = require(${JSON.stringify(LOGGER)});
    installLastResort({
      log: () => createLogger('info'),
      notify: { status: (text) => process.stderr.write('STATUS=' + text + '\\n') },
      markFailed: (reason) => process.stderr.write('State=failed ' + reason + '\\n'),
    });
    setTimeout(() => { ${failure} }, 10);
    setInterval(() => undefined, 1000); // would keep running
  `;
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
}

describe('last resort', () => {
  for (const [what, failure, message] of [
    ['an uncaught exception', "throw new Error('boom')", 'boom'],
    ['an unhandled rejection', "Promise.reject(new Error('lost promise'))", 'lost promise'],
  ]) {
    it(`logs ${what}, says so in STATUS= and State, and exits 70 for systemd to restart`, () => {
      const r = runFailing(failure);
      assert.equal(r.status, 70, r.stderr);
      const fatal = r.stdout.split('\n').find((line) => line.includes('"level":60'));
      assert.ok(fatal, `a fatal log line: ${r.stdout}`);
      assert.match(fatal!, /^<2>\{/);
      assert.match(fatal!, new RegExp(`"msg":"${what}: ${message}; exiting for systemd to restart spliced"`));
      assert.match(fatal!, /"stack":"Error: /);
      assert.match(r.stderr, new RegExp(`STATUS=failed: ${what}: ${message}; exiting for systemd to restart spliced`));
      assert.match(r.stderr, new RegExp(`State=failed ${what}: ${message}`));
    });
  }

  it('a failed start-up leads the STATUS= line with why', () => {
    const line = statusLine({
      kernel: { release: 'r', buildId: 'b', version: 'v' },
      livepatchSupported: true,
      moduleSignatures: { required: false, lockdown: null, sigEnforce: false, signingKey: null },
      baseVersion: '6.1.1-1',
      effectiveVersion: '6.1.1-1',
      state: 'failed',
      disabledReason: 'start-up failed: database or disk is full',
      rebootRequired: false,
      rebootReasons: [],
      applied: [],
      heldByCrashGuard: [],
    });
    assert.equal(line, 'failed: start-up failed: database or disk is full; 0 patches applied; effective 6.1.1-1');
  });
});
