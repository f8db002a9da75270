// Apply and ApplyFd read the caller's file once, at the call, from one descriptor: regular files only, within the
// size cap, and the received descriptor is closed whatever happens. Driven over a private bus against a FakeEngine.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Message, type MessageBus } from 'dbus-next';
import { after, before, describe, it } from 'node:test';
import { connectBus } from '../../../src/bus/connect';
import { patchRecord } from './fake-engine';
import { eventually, managerError, startDaemon, type Daemon } from './harness';

const ERR = 'org.spliced.Spliced1.Error.';
/** The cap the test daemon runs with. */
const MAX_BYTES = 1024 * 1024;
/** O_PATH (x86-64/arm64 value): node has no constant for it, open(2) takes it as is. */
const O_PATH = 0o10000000;

/** The descriptors of this process (the daemon runs in it) open on `file`. */
function descriptorsOn(file: string): number {
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;
}

describe('Manager: the file doors (Apply, ApplyFd)', () => {
  let d: Daemon;
  let client: MessageBus;
  let dir: string;
  before(async () => {
    d = await startDaemon({ maxInputBytes: MAX_BYTES });
    client = await connectBus(d.bus.address);
    dir = fs.mkdtempSync(path.join(tmpdir(), 'spliced-doors-'));
  });
  after(async () => {
    client.disconnect();
    await d.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function file(name: string, content: string | null = `module ${name}`): string {
    const at = path.join(dir, name);
    if (content !== null) fs.writeFileSync(at, content, { mode: 0o600 });
    return at;
  }

  async function applyFd(fd: number): Promise<string> {
    const reply = await client.call(new Message({
      destination: 'org.spliced.Spliced1', path: '/org/spliced/Spliced1', interface: 'org.spliced.Spliced1.Manager',
      member: 'ApplyFd', signature: 'ha{sv}', body: [fd, {}],
    }));
    return reply!.body[0] as string;
  }

  async function applyFdError(fd: number): Promise<{ name: string; message: string }> {
    try {
      await applyFd(fd);
    } catch (err) {
      const e = err as { type?: string; text?: string };
      return { name: String(e.type), message: String(e.text) };
    }
    throw new Error('ApplyFd succeeded');
  }

  it('Apply of a path through /proc/self/fd/.. to a device is InvalidArgument and reads nothing', async () => {
    const error = await managerError(d.bus.address, 'Apply', ['/proc/self/fd/../../../dev/zero', '{}']);
    assert.equal(error.name, ERR + 'InvalidArgument');
    assert.match(error.message, /\/dev\/zero is not a regular file \(a character device\)/);
    assert.deepEqual(d.engine.calls, []);
  });

  it('Apply of a FIFO is InvalidArgument at once, not a blocked read', async () => {
    const fifo = file('fifo.ko', null);
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const started = Date.now();
    const error = await managerError(d.bus.address, 'Apply', [fifo, '{}']);
    assert.ok(Date.now() - started < 5000);
    assert.equal(error.name, ERR + 'InvalidArgument');
    assert.match(error.message, /is not a regular file \(a FIFO\)/);
    assert.deepEqual(d.engine.calls, []);
  });

  it('Apply of a file over the cap is InvalidArgument without reading it (a sparse 3 GiB file)', async () => {
    const big = file('big.ko', '');
    fs.truncateSync(big, 3 * 1024 * 1024 * 1024);
    const error = await managerError(d.bus.address, 'Apply', [big, '{}']);
    assert.equal(error.name, ERR + 'InvalidArgument');
    assert.match(error.message, /is 3221225472 bytes; at most 1048576/);
    assert.deepEqual(d.engine.calls, []);
  });

  it('Apply hands the engine what it read at the call: a later change of the file does not reach it', async () => {
    const fix = file('fix.ko', 'the original');
    d.engine.applyOutcomes.set(fix, patchRecord('cccccccccccc'));
    d.engine.stepMs = 200;
    try {
      const jobPath = (await client.call(new Message({
        destination: 'org.spliced.Spliced1', path: '/org/spliced/Spliced1', interface: 'org.spliced.Spliced1.Manager',
        member: 'Apply', signature: 'sa{sv}', body: [fix, {}],
      })))!.body[0] as string;
      fs.writeFileSync(fix, 'a replacement');
      assert.match(jobPath, /^\/org\/spliced\/Spliced1\/job\/\d+$/);
      const call = d.engine.calls.at(-1)!;
      assert.equal(call.target, fix);
      assert.equal(call.content?.toString(), 'the original');
    } finally {
      d.engine.stepMs = 30;
    }
  });

  it('ApplyFd of a pipe, a directory, a write-only or an O_PATH descriptor is InvalidArgument, and each is closed', async () => {
    const fifo = file('pipe', null);
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const writeOnly = file('write-only.ko');
    const opathFile = file('opath.ko');
    const cases: Array<[string, number, RegExp]> = [
      [fifo, fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK), /not a regular file \(a FIFO\)/],
      [dir, fs.openSync(dir, 'r'), /not a regular file \(a directory\)/],
      [writeOnly, fs.openSync(writeOnly, 'w'), /the descriptor of .* is not open for reading/],
      [opathFile, fs.openSync(opathFile, O_PATH), /the descriptor of .* is not open for reading/],
    ];
    for (const [target, fd, message] of cases) {
      try {
        const error = await applyFdError(fd);
        assert.equal(error.name, ERR + 'InvalidArgument', `${target}: ${error.message}`);
        assert.match(error.message, message);
        // The daemon (this process) received its own copy; only the test's is left.
        await eventually(() => descriptorsOn(target) === 1 || undefined);
      } finally {
        fs.closeSync(fd);
      }
    }
    assert.deepEqual(d.engine.calls.filter((c) => c.target.startsWith('/proc') || c.target === dir), []);
  });

  it('ApplyFd reads the file behind the descriptor at the call and closes it at once, before the job runs', async () => {
    const fix = file('fd-fix.ko', 'module behind a descriptor');
    d.engine.applyOutcomes.set(fix, patchRecord('eeeeeeeeeeee'));
    d.engine.stepMs = 300;
    const fd = fs.openSync(fix, 'r');
    try {
      fs.readSync(fd, Buffer.alloc(3));
      await applyFd(fd);
      assert.equal(descriptorsOn(fix), 1, 'the daemon kept no copy of the descriptor');
      const call = d.engine.calls.at(-1)!;
      assert.equal(call.content?.toString(), 'module behind a descriptor', 'read from offset 0, whatever the caller read');
      assert.equal(call.target, fix);
    } finally {
      fs.closeSync(fd);
      d.engine.stepMs = 30;
    }
  });
});
