// usocket (dbus-next's socket for descriptor passing), as patched by patches/usocket/ (docs/testing.md, "Load"):
// a backlog of descriptor-carrying messages is read without allocating the backlog for every message, a message's
// descriptors arrive once and with it when the socket was full, and sockets closed and garbage-collected before
// libuv finishes closing them do not abort the process. Each check runs in a child
// process of its own (its memory measured alone, an abort ending only it), with the addon this checkout built.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../../support/repo';

const USOCKET = path.join(REPO, 'node_modules', 'usocket');

interface USocket {
  write(chunk: { data: Buffer; fds: number[] }): boolean;
  destroy(): void;
  once(event: 'connected', listener: () => void): void;
}
const { USocket } = require(USOCKET) as { USocket: new (options: { path: string }) => USocket };

/** The messages the backlog test sends, each with a descriptor: 20 MB in all. */
const MESSAGES = 20_000;
const MESSAGE_BYTES = 1000;
/**
 * How much the reader's private data (VmData: the malloc heap and V8's) may grow reading them all. Measured on the
 * 2 shared cores: 661–719 MiB before the patch (each read allocated everything still queued), 78–100 MiB after.
 */
const MAX_GROWTH_MIB = 200;

/**
 * The reader: `node --expose-gc -e READER USOCKET SOCKET BYTES`. Listens on SOCKET and prints {} once listening; holds
 * the connection it accepts unread for 300 ms (the writer fills the socket meanwhile), then reads BYTES, closing each
 * descriptor received, and prints how much its VmData and VmRSS (KiB) grew from before it listened to after a GC.
 */
const READER = `
const [usocket, socketPath, bytes] = process.argv.slice(1);
const { UServer } = require(usocket);
const fs = require('fs');
const status = (key) => Number(new RegExp('^' + key + ':\\\\s+(\\\\d+)', 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
const start = { data: status('VmData'), rss: status('VmRSS') };
const server = new UServer();
server.listen(socketPath, () => console.log('{}'));
server.on('connection', (socket) => {
  let read = 0;
  socket.on('fds', (fds) => fds.forEach((fd) => fs.closeSync(fd)));
  setTimeout(() => socket.on('data', (data) => {
    read += data.length;
    if (read < Number(bytes)) return;
    global.gc();
    console.log(JSON.stringify({ data: status('VmData') - start.data, rss: status('VmRSS') - start.rss }));
    process.exit(0);
  }), 300);
});
`;

/**
 * The churn: `node --expose-gc -e CHURN USOCKET FIFO`. 20 rounds of: adopt 100 descriptors of the FIFO as sockets,
 * close them, drop them and collect them (before libuv's loop finishes closing them), let the loop turn. Prints "done".
 */
const CHURN = `
const [usocket, fifo] = process.argv.slice(1);
const { USocket } = require(usocket);
const fs = require('fs');
(async () => {
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 100; i++) {
      const socket = new USocket({ fd: fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK) });
      socket.on('error', (error) => { console.error(error); process.exit(3); });
      socket.destroy();
    }
    global.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  console.log('done');
})();
`;

/**
 * The sizes of the descriptor test's messages, in the order sent. First runs of seven small messages and a large one:
 * seven small ones (30 KB) fill what is left of the socket's ≈ 208 KiB, so that a write finds it full before any byte
 * is sent. Then small and large in turn: a large one (more than the socket holds) is sent in parts while the reader
 * drains, and each part after the first is a chance to send the descriptors again.
 */
const FD_MESSAGE_SIZES = Array.from({ length: 128 }, (_, i) =>
  (i < 64 ? i % 8 === 7 : i % 2 === 1) ? 300_000 + i : 30_000 + i,
);

/**
 * The descriptor reader: `node -e FD_READER USOCKET SOCKET BYTES`. Listens on SOCKET and prints {} once listening;
 * holds the connection unread for 300 ms (the writer meets a full socket), then reads BYTES, and prints, for each
 * descriptor received in order, the inode it names and the stream offsets [start, end) of the read it came with.
 */
const FD_READER = `
const [usocket, socketPath, bytes] = process.argv.slice(1);
const { UServer } = require(usocket);
const fs = require('fs');
const received = [];
const server = new UServer();
server.listen(socketPath, () => console.log('{}'));
server.on('connection', (socket) => {
  let read = 0;
  let pending = [];
  socket.on('fds', (fds) => {
    for (const fd of fds) { pending.push(fs.fstatSync(fd).ino); fs.closeSync(fd); }
  });
  setTimeout(() => socket.on('data', (data) => {
    for (const ino of pending) received.push({ ino, start: read, end: read + data.length });
    pending = [];
    read += data.length;
    if (read < Number(bytes)) return;
    console.log(JSON.stringify(received));
    process.exit(0);
  }), 300);
});
`;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
}

/** Runs `node --expose-gc -e SCRIPT ...args`; `onLine` sees each line it prints as it prints it. */
function runNode(script: string, args: string[], onLine: (line: string) => void = () => undefined): Promise<Exit> {
  const child = spawn(process.execPath, ['--expose-gc', '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    onLine(line);
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, lines, stderr })));
}

describe('Bus: usocket, the socket dbus-next passes descriptors with', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'spliced-usocket-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`reading a backlog of ${MESSAGES} descriptor-carrying messages grows the reader's data by less than ${MAX_GROWTH_MIB} MiB`, async () => {
    const socketPath = path.join(dir, 'backlog');
    const fd = openSync('/dev/null', 'r');
    const message = { data: Buffer.alloc(MESSAGE_BYTES, 1), fds: [fd] };
    let writer: USocket | undefined;
    const exit = await runNode(READER, [USOCKET, socketPath, String(MESSAGES * MESSAGE_BYTES)], (line) => {
      if (line !== '{}') return;
      writer = new USocket({ path: socketPath });
      writer.once('connected', () => {
        for (let i = 0; i < MESSAGES; i++) writer!.write(message);
      });
    });
    writer?.destroy();
    closeSync(fd);
    assert.deepEqual([exit.code, exit.signal, exit.stderr], [0, null, '']);
    const growth = JSON.parse(exit.lines[1]!) as { data: number; rss: number };
    const mib = { data: Math.round(growth.data / 1024), rss: Math.round(growth.rss / 1024) };
    assert.ok(mib.data < MAX_GROWTH_MIB, `VmData grew by ${mib.data} MiB (VmRSS by ${mib.rss} MiB)`);
  });

  it(`${FD_MESSAGE_SIZES.length} messages with a descriptor each, into a socket left full: each descriptor arrives once, with its message`, async () => {
    const socketPath = path.join(dir, 'fds');
    // One file per message, so that the reader can tell which message each descriptor it received belongs to.
    const files = FD_MESSAGE_SIZES.map((_, i) => openSync(path.join(dir, `fd-${i}`), 'w'));
    const inodes = files.map((fd) => fstatSync(fd).ino);
    const starts = FD_MESSAGE_SIZES.map((_, i) => FD_MESSAGE_SIZES.slice(0, i).reduce((sum, size) => sum + size, 0));
    const total = FD_MESSAGE_SIZES.reduce((sum, size) => sum + size, 0);
    let writer: USocket | undefined;
    const exit = await runNode(FD_READER, [USOCKET, socketPath, String(total)], (line) => {
      if (line !== '{}') return;
      writer = new USocket({ path: socketPath });
      writer.once('connected', () => {
        FD_MESSAGE_SIZES.forEach((size, i) => writer!.write({ data: Buffer.alloc(size, i), fds: [files[i]!] }));
      });
    });
    writer?.destroy();
    files.forEach((fd) => closeSync(fd));
    assert.deepEqual([exit.code, exit.signal, exit.stderr], [0, null, '']);
    const received = JSON.parse(exit.lines[1]!) as { ino: number; start: number; end: number }[];
    const messages = received.map(({ ino }) => inodes.indexOf(ino));
    const lost = inodes.map((_, i) => i).filter((i) => !messages.includes(i));
    const twice = messages.filter((i, at) => messages.indexOf(i) !== at);
    assert.deepEqual({ lost, twice }, { lost: [], twice: [] });
    assert.deepEqual(messages, [...messages].sort((a, b) => a - b), 'in the order sent');
    // With its message: read together with the message's first byte (what dbus-next needs to pair them).
    const apart = received.filter(({ start, end }, i) => !(start <= starts[i]! && starts[i]! < end));
    assert.deepEqual(apart, []);
  });

  it('sockets closed and garbage-collected before libuv finishes closing them: 2,000 in 20 rounds, no abort', async () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const exit = await runNode(CHURN, [USOCKET, fifo]);
    assert.deepEqual([exit.code, exit.signal, exit.stderr, exit.lines], [0, null, '', ['done']]);
  });
});
