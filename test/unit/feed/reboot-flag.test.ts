import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RebootFlagKeeper } from '../../../src/daemon/reboot-flag';
import type { EngineStatus } from '../../../src/engine/types';
import { parseRelease } from '../../../src/sources/feed/kernel-release';
import type { InstalledPackage } from '../../../src/sources/feed/apt-output';
import { decideFlag, readPackageList, removeFromFlag } from '../../../src/sources/feed/reboot-flag';

const RUNNING = parseRelease('6.1.0-55-amd64');
const installed = (entries: Record<string, InstalledPackage>) => new Map(Object.entries(entries));

/** A flag as unattended-upgrades' kernel hook leaves it: the flag touched, one package per line. */
function flagWith(...packages: string[]): string {
  const flag = join(mkdtempSync(join(tmpdir(), 'reboot-flag-')), 'reboot-required');
  writeFileSync(flag, '');
  writeFileSync(`${flag}.pkgs`, packages.map((p) => `${p}\n`).join(''));
  return flag;
}

test('an image of the running series and flavour built from a live version is taken out; newer, other and unknown ones stay with their reason', () => {
  const decision = decideFlag(
    ['linux-image-6.1.0-56-amd64', 'linux-image-6.1.0-57-amd64', 'linux-image-6.1.0-56-cloud-amd64', 'libc6', 'linux-image-6.1.0-58-amd64', 'linux-image-6.1.0-56-amd64'],
    installed({
      'linux-image-6.1.0-56-amd64': { version: '6.1.192-2', builtFrom: '6.1.192-2' },
      'linux-image-6.1.0-57-amd64': { version: '6.1.192-3', builtFrom: '6.1.192-3' },
      'linux-image-6.1.0-56-cloud-amd64': { version: '6.1.192-2', builtFrom: '6.1.192-2' },
      libc6: { version: '2.36-9+deb12u14' },
    }),
    { kernel: RUNNING, effectiveVersion: '6.1.192-2' },
  );
  assert.deepEqual(decision.remove, ['linux-image-6.1.0-56-amd64']);
  assert.deepEqual(
    decision.keep.map((k) => k.package),
    ['linux-image-6.1.0-57-amd64', 'linux-image-6.1.0-56-cloud-amd64', 'libc6', 'linux-image-6.1.0-58-amd64'],
  );
  assert.match(decision.keep[0].reason, /built from linux 6\.1\.192-3, newer than the live 6\.1\.192-2/);
  assert.match(decision.keep[1].reason, /not an image of the running kernel's series and flavour/);
  assert.match(decision.keep[3].reason, /not installed/);
});

test('without Built-Using the package version stands for the source; the running image itself needs no reboot', () => {
  const decision = decideFlag(
    ['linux-image-6.1.0-55-amd64', 'linux-image-6.1.0-56-amd64'],
    installed({ 'linux-image-6.1.0-55-amd64': { version: '6.1.192-1' }, 'linux-image-6.1.0-56-amd64': { version: '6.1.192-2' } }),
    { kernel: RUNNING, effectiveVersion: '6.1.192-1' },
  );
  assert.deepEqual(decision.remove, ['linux-image-6.1.0-55-amd64']);
  assert.deepEqual(decision.keep.map((k) => k.package), ['linux-image-6.1.0-56-amd64']);
});

test('removing lines keeps the others and the flag; removing the last removes list and flag', () => {
  const flag = flagWith('linux-image-6.1.0-56-amd64', 'libc6');
  assert.deepEqual(removeFromFlag(flag, ['linux-image-6.1.0-56-amd64']), ['libc6']);
  assert.equal(readFileSync(`${flag}.pkgs`, 'utf8'), 'libc6\n');
  assert.ok(existsSync(flag));
  assert.deepEqual(removeFromFlag(flag, ['libc6']), []);
  assert.ok(!existsSync(flag) && !existsSync(`${flag}.pkgs`));
  // Nothing listed: nothing to do, and a flag touched without a list (by something else) stays.
  writeFileSync(flag, '');
  assert.deepEqual(removeFromFlag(flag, ['libc6']), []);
  assert.ok(existsSync(flag));
});

test('the keeper takes the live image out when the list appears and again when the live version reaches a listed one', async () => {
  const flag = flagWith('linux-image-6.1.0-56-amd64', 'linux-image-6.1.0-57-amd64');
  let effectiveVersion = '6.1.192-2';
  const status = () => ({ kernel: { release: '6.1.0-55-amd64' }, effectiveVersion }) as EngineStatus;
  const logged: string[] = [];
  const log = { info: (_: object, m: string) => logged.push(m), warn: (_: object, m: string) => logged.push(m), error: () => undefined, debug: () => undefined };
  const dpkgAsked: string[][] = [];
  const keeper = new RebootFlagKeeper({
    flagFile: flag,
    status,
    // dpkg-query -W with the keeper's format, as dpkg prints it.
    tools: async (program, args) => {
      dpkgAsked.push([program, ...args]);
      const versions: Record<string, string> = { 'linux-image-6.1.0-56-amd64': '6.1.192-2', 'linux-image-6.1.0-57-amd64': '6.1.192-3' };
      const known = args.slice(2).filter((pkg) => versions[pkg] !== undefined);
      const lines = known.map((pkg) => `${pkg}\tinstall ok installed\t${versions[pkg]}\tlinux (= ${versions[pkg]})\n`);
      const unknown = args.slice(2).filter((pkg) => versions[pkg] === undefined);
      return { code: unknown.length ? 1 : 0, stdout: lines.join(''), stderr: unknown.map((pkg) => `dpkg-query: no packages found matching ${pkg}\n`).join('') };
    },
    edit: async (remove) => void removeFromFlag(flag, remove),
    log: log as never,
    settleMs: 10,
  });
  const settled = async () => {
    // The keeper's own edit is a change its watch sees too (one more look that finds nothing to do).
    await new Promise((resolve) => setTimeout(resolve, 300));
    await keeper.idle();
  };
  try {
    await checks();
  } finally {
    await keeper.stop();
  }

  async function checks() {
  await keeper.start();
  await settled();
  assert.deepEqual(readPackageList(flag), ['linux-image-6.1.0-57-amd64']);
  assert.ok(existsSync(flag));
  assert.match(logged.join('\n'), /linux-image-6\.1\.0-56-amd64 taken out .*kept: linux-image-6\.1\.0-57-amd64 \(built from linux 6\.1\.192-3/);
  assert.deepEqual(dpkgAsked[0].slice(0, 2), ['dpkg-query', '-W']);

  // The same live version again: no second look.
  const looks = dpkgAsked.length;
  keeper.statusChanged(status());
  keeper.statusChanged(status());
  await settled();
  assert.equal(dpkgAsked.length, looks);
  effectiveVersion = '6.1.192-3';
  keeper.statusChanged(status());
  await keeper.idle();
  assert.equal(dpkgAsked.length, looks + 1);
  assert.ok(!existsSync(flag) && !existsSync(`${flag}.pkgs`), 'the last line took the flag with it');

  // The hook flags a newer kernel: the watch sees the list and the flag stays for it.
  writeFileSync(flag, '');
  appendFileSync(`${flag}.pkgs`, 'linux-image-6.1.0-58-amd64\n');
  for (let i = 0; i < 100 && !logged.some((m) => /reboot flag kept: linux-image-6\.1\.0-58-amd64 \(not installed/.test(m)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await keeper.idle();
  assert.deepEqual(readPackageList(flag), ['linux-image-6.1.0-58-amd64']);
  assert.ok(existsSync(flag));
  }
});

test("spliced reboot-flag (the unit's command) edits what the request names, and does nothing without a request", async () => {
  const flag = flagWith('linux-image-6.1.0-56-amd64', 'libc6');
  const request = join(mkdtempSync(join(tmpdir(), 'reboot-flag-request-')), 'reboot-flag.json');
  const main = join(__dirname, '../../../src/daemon/main.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [main, 'reboot-flag', ...args], { encoding: 'utf8' });
  assert.equal(run(request).status, 0, 'no request: nothing to do');
  assert.deepEqual(readPackageList(flag), ['linux-image-6.1.0-56-amd64', 'libc6']);
  writeFileSync(request, JSON.stringify({ flagFile: 'relative/reboot-required', remove: ['libc6'] }));
  assert.equal(run(request).status, 64);
  writeFileSync(request, JSON.stringify({ flagFile: flag, remove: ['linux-image-6.1.0-56-amd64'] }));
  const done = run(request);
  assert.equal(done.status, 0, done.stderr);
  assert.match(done.stdout, /1 package\(s\) left: libc6/);
  assert.deepEqual(readPackageList(flag), ['libc6']);
});
