import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baseVersionOf, compareDebianVersions, effectiveVersion, KERNEL_PACKAGE_VERSION_RE } from '../../../src/engine/version';
import { FAKE_IDENTITY } from './fake-kernel';

describe('Debian version ordering', () => {
  const ascending = ['6.1.90-1', '6.1.158-1~bpo', '6.1.158-1', '6.1.158-1+deb12u1', '6.1.158-2', '6.1.159-1', '1:5.0-1'];
  it('orders versions as dpkg does', () => {
    for (let i = 0; i < ascending.length; i++) {
      for (let j = 0; j < ascending.length; j++) {
        assert.equal(compareDebianVersions(ascending[i], ascending[j]), Math.sign(i - j), `${ascending[i]} vs ${ascending[j]}`);
      }
    }
  });
});

describe('kernel package versions at the doors', () => {
  it('takes what Debian gives linux, and nothing with an epoch, a space or a path', () => {
    for (const v of ['6.1.192-2', '6.1.90-1~bpo11+1', '6.1.158-1+deb12u1', '6.12.57-1']) assert.ok(KERNEL_PACKAGE_VERSION_RE.test(v), v);
    for (const v of ['1:6.1.192-2', '', '6.1.192-2 ', '../6.1', 'v6.1', '6.1.192-2;x', '6.1.192-2\n']) assert.ok(!KERNEL_PACKAGE_VERSION_RE.test(v), JSON.stringify(v));
  });
});

describe('effective version', () => {
  const base = '6.1.158-1';
  it('is the kernel package version from /proc/version when nothing newer is applied', () => {
    assert.equal(baseVersionOf(FAKE_IDENTITY.version, FAKE_IDENTITY.release), base);
    assert.equal(baseVersionOf('Linux version 6.18.0 (x@y) #1', '6.18.0'), '6.18.0');
    assert.equal(effectiveVersion(base, []), base);
    assert.equal(effectiveVersion(base, [{ version: null, applied: true }]), base);
  });

  it('is the newest version whose fixes, and all older ones, are applied', () => {
    assert.equal(
      effectiveVersion(base, [
        { version: '6.1.159-1', applied: true },
        { version: '6.1.160-1', applied: true },
        { version: '6.1.160-1', applied: false },
        { version: '6.1.161-1', applied: true },
      ]),
      '6.1.159-1',
    );
    assert.equal(
      effectiveVersion(base, [
        { version: '6.1.160-1', applied: true },
        { version: '6.1.159-1', applied: false },
      ]),
      base,
    );
    assert.equal(effectiveVersion(base, [{ version: '6.1.150-1', applied: false }, { version: '6.1.159-1', applied: true }]), '6.1.159-1');
  });
});
