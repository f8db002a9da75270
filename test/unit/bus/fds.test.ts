// File descriptors passed to the daemon over the bus: only ApplyFd's own descriptor is kept (until its job ends);
// every other one is closed as it arrives, and each message gets exactly the descriptors its UNIX_FDS header counts,
// however the socket reads group them. The adapter runs in this process, so /proc/self/fd counts its descriptors.

import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Message, MessageType, Variant, type MessageBus } from 'dbus-next';
import { after, before, describe, it } from 'node:test';
import { connectBus } from '../../../src/bus/connect';
import { callWithDanglingFdIndex } from '../../guest/flood/forge';
import { patchRecord } from './fake-engine';
import { busctl, eventually, startDaemon, type Daemon } from './harness';

const MANAGER = { destination: 'org.spliced.Spliced1', path: '/org/spliced/Spliced1', interface: 'org.spliced.Spliced1.Manager' };

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Block this process's event loop: whatever the bus sends meanwhile is read in one go afterwards. */
function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function jobState(d: Daemon, jobPath: string): Promise<string> {
  const r = await busctl(d.bus.address, ['get-property', '--json=short', 'org.spliced.Spliced1', jobPath, 'org.spliced.Spliced1.Job', 'State']);
  return JSON.parse(r.stdout).data as string;
}

describe('Bus: passed file descriptors', () => {
  let d: Daemon;
  let client: MessageBus;
  let dir: string;
  before(async () => {
    d = await startDaemon({ jobLingerMs: 60_000 });
    client = await connectBus(d.bus.address);
    dir = mkdtempSync(path.join(tmpdir(), 'spliced-fds-'));
  });
  after(async () => {
    client.disconnect();
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an fd attached to any call but ApplyFd is closed at once: 500 such calls leave the fd count flat', async () => {
    const file = path.join(dir, 'any');
    writeFileSync(file, 'x');
    const fd = openSync(file, 'r');
    try {
      // Warm up (first replies allocate nothing more afterwards).
      await client.call(new Message({ ...MANAGER, member: 'List', signature: 'h', body: [fd] })).catch(() => undefined);
      const before = openFds();
      for (let i = 0; i < 500; i++) {
        // Unknown signatures of known methods, an fd-taking signature of ApplyFd it does not serve, a GetPatch.
        const member = ['List', 'ApplyFd', 'GetPatch'][i % 3];
        const signature = member === 'GetPatch' ? 'sh' : 'h';
        const body = member === 'GetPatch' ? ['x', fd] : [fd];
        await client.call(new Message({ ...MANAGER, member, signature, body })).catch(() => undefined);
      }
      const after = openFds();
      assert.ok(after - before <= 2, `fd count grew from ${before} to ${after} over 500 fd-carrying calls`);
    } finally {
      closeSync(fd);
    }
  });

  it('two fd-carrying calls read in one chunk each get their own descriptor (and the process survives)', { timeout: 15_000 }, async () => {
    const files = ['a.ko', 'b.ko'].map((name) => path.join(dir, name));
    files.forEach((file, i) => {
      writeFileSync(file, `module ${i}`);
      d.engine.applyOutcomes.set(file, patchRecord(i === 0 ? 'a1a1a1a1a1a1' : 'b2b2b2b2b2b2'));
    });
    const fds = files.map((file) => openSync(file, 'r'));
    const before = openFds();
    try {
      // The first call is large: the kernel hands it over in several pieces, and the last of them comes in the same
      // read as the second call and its descriptor.
      const padding = { padding: new Variant('s', 'x'.repeat(150_000)) };
      const first = client.call(new Message({ ...MANAGER, member: 'ApplyFd', signature: 'ha{sv}', body: [fds[0], padding] }));
      const second = client.call(new Message({ ...MANAGER, member: 'ApplyFd', signature: 'ha{sv}', body: [fds[1], {}] }));
      // Both calls are written; the bus forwards both before the adapter reads any.
      blockEventLoop(300);
      await assert.rejects(first, /unknown option "padding"/);
      const jobPath = (await second)!.body[0] as string;
      const state = await eventually(async () => ((s) => (s === 'succeeded' || s === 'failed' ? s : undefined))(await jobState(d, jobPath)));
      assert.equal(state, 'succeeded');
      assert.ok(d.engine.patches.some((p) => p.id === 'b2b2b2b2b2b2'), 'the second call applied its own file');
      // Each job's descriptor is closed once the job is done.
      await eventually(() => (openFds() <= before ? true : undefined));
    } finally {
      fds.forEach((fd) => closeSync(fd));
    }
  });

  it('a descriptor argument whose index names no descriptor the message carries is InvalidArgs, and the reader goes on', { timeout: 15_000 }, async () => {
    // dbus-next reads the body where no handler catches: before the fix, the first such call ended the process.
    for (const member of ['List', 'ApplyFd', 'GetPatch', 'NoSuchMethod']) {
      const reply = await callWithDanglingFdIndex(client, new Message({ ...MANAGER, member, signature: 'u', body: [7] }));
      assert.equal(reply.errorName, 'org.freedesktop.DBus.Error.InvalidArgs', member);
      assert.match(String(reply.body[0]), /descriptor/);
    }
    // A signal (no reply to give) is dropped the same way; then both this connection's and a new one's calls are served.
    void callWithDanglingFdIndex(client, new Message({ type: MessageType.SIGNAL, path: '/x', interface: 'org.example.X', member: 'Y', destination: d.handle.uniqueName, signature: 'u', body: [3] }));
    const other = await connectBus(d.bus.address);
    try {
      for (const bus of [client, other]) assert.ok(Array.isArray((await bus.call(new Message({ ...MANAGER, member: 'List' })))!.body[0]));
    } finally {
      other.disconnect();
    }
  });
});
