import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withPriority } from '../../../src/daemon/logger';
import { statusLine } from '../../../src/daemon/notify';
import type { EngineStatus } from '../../../src/engine';

describe('journald priority prefixes', () => {
  it('maps pino levels to syslog priorities', () => {
    const line = (level: number) => `{"level":${level},"msg":"x"}\n`;
    assert.equal(withPriority(line(60)), `<2>${line(60)}`);
    assert.equal(withPriority(line(50)), `<3>${line(50)}`);
    assert.equal(withPriority(line(40)), `<4>${line(40)}`);
    assert.equal(withPriority(line(30)), `<6>${line(30)}`);
    assert.equal(withPriority(line(20)), `<7>${line(20)}`);
  });
});

describe('STATUS= line', () => {
  const status: EngineStatus = {
    kernel: { release: '6.1.0-56-amd64', buildId: 'b', version: 'v' },
    livepatchSupported: true,
    moduleSignatures: { required: true, lockdown: 'integrity', sigEnforce: false, signingKey: null },
    baseVersion: '6.1.158-1',
    effectiveVersion: '6.1.159-1',
    state: 'disabled',
    disabledReason: '/etc/spliced/disable exists',
    rebootRequired: true,
    rebootReasons: ['x'],
    applied: ['a'],
    heldByCrashGuard: ['b', 'c'],
  };
  it('says what systemctl status readers need: state, count, effective version, and any trouble', () => {
    assert.equal(
      statusLine(status),
      'disabled; 1 patch applied; effective 6.1.159-1; disabled: /etc/spliced/disable exists; 2 held by the crash guard; reboot required; ' +
        'module signatures required and no signing key: source patches are refused',
    );
  });
});
