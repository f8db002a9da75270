// A full state directory (an 8 MiB tmpfs, filled) under the real daemon on a private bus: an apply fails with
// NoSpace (splicectl exit 75), a file dropped meanwhile stays in incoming/, spliced stays up; with the space back and a
// restart, the kept file is taken again (on this host it is for another kernel: quarantined as WrongKernel, not lost).
// The guest's daemon suite does the same on a loop-mounted ext4 with a module that really applies.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, it } from 'node:test';
import { shippedPolicy, startPrivateBus, type PrivateBus } from '../../support/private-bus';
import { splicectlMain } from '../../support/repo';
import { eventually, REPO, run } from '../bus/harness';
import { livepatchFile } from '../kernel/module-file';

let bus: PrivateBus;
let mount: string;
let state: string;

async function startSpliced(): Promise<{ child: ChildProcess; log: () => string }> {
  let log = '';
  const child = spawn(process.execPath, [path.join(REPO, 'dist/src/daemon/main.js')], {
    env: { ...process.env, SPLICED_CONFIG: path.join(mount, 'no.conf'), SPLICED_STATE_DIR: state, SPLICED_REBOOT_REQUIRED_FILE: path.join(mount, 'reboot-required'), SPLICED_DISABLE_FILE: path.join(mount, 'disable'), SPLICED_BUS: bus.address },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  await eventually(() => (log.includes('"msg":"ready"') ? true : undefined), 20_000);
  return { child, log: () => log };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

before(async () => {
  bus = await startPrivateBus(shippedPolicy());
  mount = fs.mkdtempSync(path.join(tmpdir(), 'spliced-full-'));
  spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mount], { stdio: 'inherit' });
  state = path.join(mount, 'state');
});
after(async () => {
  await bus.stop();
  spawnSync('umount', [mount]);
  fs.rmSync(mount, { recursive: true, force: true });
});

it('a full state directory: apply is NoSpace (exit 75), a dropped file stays, spliced stays up; taken again once there is room', async () => {
  const module = livepatchFile('full_disk_lp', '6.1.0-55-amd64');
  const first = await startSpliced();
  const splicectl = (args: string[]) => run(process.execPath, [splicectlMain(), ...args], { env: { SPLICED_BUS_ADDRESS: bus.address } });
  // Made on the full file system before it fills: a rename into incoming/ needs no free block.
  fs.copyFileSync(module, path.join(state, '.waiting.ko'));
  spawnSync('dd', ['if=/dev/zero', `of=${path.join(state, 'filler')}`, 'bs=64K']);
  const applied = await splicectl(['apply', module]);
  assert.equal(applied.code, 75, applied.stderr);
  assert.match(applied.stderr, /no space left to write spliced's state .*\(NoSpace\)\n$/);
  fs.renameSync(path.join(state, '.waiting.ko'), path.join(state, 'incoming', 'kept.ko'));
  await eventually(() => (first.log().includes('dropped file left in place') ? true : undefined), 20_000);
  assert.deepEqual(fs.readdirSync(path.join(state, 'incoming')), ['kept.ko'], 'kept, not lost');
  assert.equal((await splicectl(['list'])).code, 0, 'spliced answers');
  assert.equal(first.child.exitCode, null, first.log());

  fs.rmSync(path.join(state, 'filler'));
  await stop(first.child);
  const second = await startSpliced();
  try {
    const reason = path.join(state, 'quarantine', 'kept.ko.reason.json');
    await eventually(() => (fs.existsSync(reason) ? true : undefined), 20_000);
    assert.equal(JSON.parse(fs.readFileSync(reason, 'utf8')).error.kind, 'WrongKernel');
    assert.deepEqual(fs.readdirSync(path.join(state, 'incoming')), []);
  } finally {
    await stop(second.child);
  }
});
