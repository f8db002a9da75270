// Fair dispatch on a private bus (src/bus/fair-dispatch.ts): an unprivileged user (nobody, in a process of its own)
// pipelines calls at the adapter, whose engine takes a few ms per call, while root (this process) calls too. What is
// asserted is behaviour counted by the engine, not timing: how many of the flood's calls are served between root's
// call and its answer, what is refused beyond the bound, what is dropped when the flooder goes away.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Message, type MessageBus } from 'dbus-next';
import { connectBus } from '../../../src/bus/connect';
import { uniqueNameOf } from '../../../src/bus/dbus-next-gaps';
import { MAX_WAITING_CALLS_PER_CALLER } from '../../../src/bus/limits';
import { publicRepo } from '../../support/repo';
import { stopChild } from '../../support/child';
import { eventually, NOBODY, startDaemon, type Daemon } from './harness';

const MANAGER = { destination: 'org.spliced.Spliced1', path: '/org/spliced/Spliced1', interface: 'org.spliced.Spliced1.Manager' };
/** What one List costs the engine here: enough for a backlog to build up while the flood is read. */
const LIST_MS = 3;
const NO_REPLY_EXPECTED = 0x1;

/**
 * The flooder, run as nobody: `node -e FLOODER MODULES ADDRESS CONNECTIONS CALLS MEMBER NOREPLY SENT`. Opens CONNECTIONS
 * connections and prints {}; then on stdin: "send" pipelines CALLS calls of MEMBER (List, or ApplyFd
 * with a descriptor of /etc/hostname) on each and, once the bus has passed them all on (a round trip to the bus after
 * them), creates the file SENT and prints {}, "answers" prints the answers counted ({"reply": n, "<error name>": n}), "leave" disconnects and exits,
 * "forge NAME DEST" sends DEST a NameOwnerChanged signal saying NAME went away.
 */
const FLOODER = `
const [modules, address, connections, calls, member, noReply, sentFile] = process.argv.slice(1);
const dbus = require(modules + '/dbus-next');
const fs = require('fs');
const readline = require('readline');
const MANAGER = ${JSON.stringify(MANAGER)};
async function main() {
  const buses = [];
  for (let c = 0; c < Number(connections); c++) {
    const bus = dbus.sessionBus({ busAddress: address, negotiateUnixFd: true });
    await new Promise((resolve) => bus.once('connect', resolve));
    buses.push(bus);
  }
  const fd = fs.openSync('/etc/hostname', 'r');
  const answers = [];
  console.log('{}');
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const [command, name, dest] = line.split(' ');
    if (command === 'send') {
      for (const bus of buses) {
        for (let i = 0; i < Number(calls); i++) {
          const msg = member === 'ApplyFd'
            ? new dbus.Message({ ...MANAGER, member, signature: 'ha{sv}', body: [fd, {}] })
            : new dbus.Message({ ...MANAGER, member });
          if (noReply === 'true') {
            msg.flags = ${NO_REPLY_EXPECTED};
            bus.send(msg);
          } else {
            answers.push(bus.call(msg).then(() => 'reply', (err) => err.type || String(err)));
          }
        }
      }
      for (const bus of buses) {
        await bus.call(new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus',
          interface: 'org.freedesktop.DBus', member: 'GetId' }));
      }
      fs.writeFileSync(sentFile, '');
      console.log('{}');
    } else if (command === 'answers') {
      const counts = {};
      for (const answer of await Promise.all(answers)) counts[answer] = (counts[answer] || 0) + 1;
      console.log(JSON.stringify(counts));
    } else if (command === 'forge') {
      buses[0].send(new dbus.Message({ type: dbus.MessageType.SIGNAL, destination: dest, path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus', member: 'NameOwnerChanged', signature: 'sss', body: [name, name, ''] }));
      await buses[0].call(new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus', member: 'GetId' }));
      console.log('{}');
    } else if (command === 'leave') {
      for (const bus of buses) bus.disconnect();
      process.exit(0);
    }
  }
}
main().catch((err) => { console.error(err); process.exit(1); });
`;

interface Flood {
  /** Send a command line, resolve with the next JSON line printed. */
  ask<T>(command: string): Promise<T>;
  leave(): Promise<void>;
}

async function startFlooder(
  d: Daemon,
  spec: { connections: number; calls: number; member?: 'List' | 'ApplyFd'; noReply?: boolean; holdMs?: number },
): Promise<Flood> {
  const args = [
    path.join(publicRepo(), 'node_modules'),
    d.bus.address,
    String(spec.connections),
    String(spec.calls),
    spec.member ?? 'List',
    String(spec.noReply ?? false),
    path.join(signals, `sent-${++floodersStarted}`),
  ];
  const child: ChildProcess = spawn(process.execPath, ['-e', FLOODER, ...args], {
    uid: NOBODY,
    gid: NOBODY,
    cwd: '/',
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  flooders.push(child);
  const lines: Interface = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = <T>() => new Promise<T>((resolve) => waiting.push((line) => resolve(JSON.parse(line) as T)));
  await next();
  const sent = next();
  child.stdin!.write('send\n');
  // The adapter runs in this process: holding its event loop until the bus has the whole flood (or for holdMs) lets all
  // of it arrive before any of it is served, however slowly the flooder runs on a loaded machine.
  if (spec.holdMs) holdUntilExists(args[args.length - 1], spec.holdMs);
  await sent;
  return {
    ask: (command) => {
      const answer = next();
      child.stdin!.write(`${command}\n`);
      return answer as never;
    },
    leave: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin!.write('leave\n');
      await exited;
    },
  };
}
const flooders: ChildProcess[] = [];
let floodersStarted = 0;

function busyFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Where flooders (nobody) say they have sent: a directory anyone may write to, removed at exit. */
const signals = mkdtempSync(path.join(tmpdir(), 'spliced-flood-'));
chmodSync(signals, 0o777);
process.on('exit', () => rmSync(signals, { recursive: true, force: true }));

/** Hold this process's event loop until `file` exists or `ms` have passed. */
function holdUntilExists(file: string, ms: number): void {
  const deadline = Date.now() + ms;
  while (!existsSync(file) && Date.now() < deadline) busyFor(5);
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Wait until `count()` stops changing for 300 ms; its value then. */
async function settled(count: () => number): Promise<number> {
  let last = count();
  let stableSince = Date.now();
  await eventually(() => {
    const now = count();
    if (now !== last) [last, stableSince] = [now, Date.now()];
    return Date.now() - stableSince >= 300 || undefined;
  }, 20_000);
  return last;
}

describe('Bus: fair dispatch per caller', () => {
  let d: Daemon;
  let root: MessageBus;
  /** List calls the engine has served. */
  let served = 0;

  before(async () => {
    d = await startDaemon();
    const list = d.engine.list.bind(d.engine);
    d.engine.list = () => {
      served++;
      busyFor(LIST_MS);
      return list();
    };
    root = await connectBus(d.bus.address);
  });
  beforeEach(async () => {
    await Promise.all(flooders.splice(0).map((child) => stopChild(child, 'SIGKILL')));
    served = await settled(() => served);
    served = 0;
  });
  after(async () => {
    await Promise.all(flooders.map((child) => stopChild(child, 'SIGKILL')));
    root?.disconnect();
    await d?.stop();
  });

  const rootList = () => root.call(new Message({ ...MANAGER, member: 'List' }));

  it("with nobody flooding, each of root's calls is served after at most two of the flood's", async () => {
    const calls = 120; // per connection: within the bus's 128 pending replies and, on two connections, the bound
    // Root asks for a patch; the engine notes how many of the flood's List calls it had served by then.
    let servedAtRootsCall = -1;
    const getPatch = d.engine.getPatch.bind(d.engine);
    d.engine.getPatch = (id) => {
      servedAtRootsCall = served;
      return getPatch(id);
    };
    const flood = await startFlooder(d, { connections: 2, calls });
    await eventually(() => served >= 5 || undefined);
    const overtaken: number[] = [];
    for (let i = 0; i < 5; i++) {
      const sent = served;
      await root.call(new Message({ ...MANAGER, member: 'GetPatch', signature: 's', body: ['p'] })).catch(() => undefined);
      overtaken.push(servedAtRootsCall - sent);
    }
    assert.ok(served < 2 * calls, `the flood was over before root's calls (${served} served): nothing shown`);
    // One in progress when root's call arrives, one turn of the flooding uid before root's: never the backlog.
    for (const n of overtaken) assert.ok(n <= 3, `root's call waited behind flood calls: ${overtaken}`);
    assert.deepEqual(await flood.ask('answers'), { reply: 2 * calls });
  });

  it('one user with more calls waiting than the bound: the excess is refused at once with LimitExceeded, every call answered', async () => {
    const flood = await startFlooder(d, { connections: 3, calls: 120, holdMs: 30_000 });
    const answers = await flood.ask<Record<string, number>>('answers');
    const limited = answers['org.spliced.Spliced1.Error.LimitExceeded'] ?? 0;
    assert.equal((answers.reply ?? 0) + limited, 360, JSON.stringify(answers));
    assert.ok(limited > 0, JSON.stringify(answers));
    assert.ok((answers.reply ?? 0) >= MAX_WAITING_CALLS_PER_CALLER, JSON.stringify(answers));
    await rootList(); // and root is still served
  });

  it('calls that expect no reply are bounded too: of 3,000, at most the bound (and what was served while reading) run', async () => {
    const flood = await startFlooder(d, { connections: 1, calls: 3000, noReply: true, holdMs: 30_000 });
    const total = await settled(() => served);
    assert.ok(total <= MAX_WAITING_CALLS_PER_CALLER + 50, `${total} of 3000 no-reply calls were served`);
    assert.ok(total > 0);
    await flood.leave();
  });

  it("a caller that disconnects with calls waiting: they are dropped, not served", async () => {
    const flood = await startFlooder(d, { connections: 1, calls: 120 });
    await flood.leave();
    const total = await settled(() => served);
    assert.ok(total < 60, `${total} of the 120 calls of a caller gone were served`);
  });

  it('ApplyFd calls dropped unserved close their descriptors (over the bound, and when the caller leaves)', async () => {
    d.authority.verdict = 'no';
    const jobs = d.engine.jobs.bind(d.engine);
    d.engine.jobs = () => {
      busyFor(LIST_MS); // each ApplyFd served costs the engine as much as a List
      return jobs();
    };
    const fdsBefore = openFds();
    // Held 1 s, not until all are sent: the bus passes on no more descriptors than its per-connection limit while the
    // adapter reads none, so the flooder's round trip would wait for the hold to end.
    const flood = await startFlooder(d, { connections: 3, calls: 120, member: 'ApplyFd', holdMs: 1000 });
    await flood.leave();
    const authorised = await settled(() => d.authority.requests.length);
    d.engine.jobs = jobs;
    assert.ok(authorised < MAX_WAITING_CALLS_PER_CALLER, `${authorised} of 360 ApplyFd calls reached polkit`);
    await eventually(() => openFds() <= fdsBefore || undefined, 10_000).catch(() =>
      assert.fail(`the adapter holds ${openFds()} descriptors, ${fdsBefore} before`),
    );
  });

  it("a NameOwnerChanged forged by another user does not drop root's waiting calls", async () => {
    const flood = await startFlooder(d, { connections: 2, calls: 120 });
    const rootCalls = Array.from({ length: 30 }, () => rootList());
    await flood.ask(`forge ${uniqueNameOf(root)} ${d.handle.uniqueName}`);
    const answered = await Promise.race([
      Promise.all(rootCalls).then(() => true),
      new Promise((resolve) => setTimeout(() => resolve(false), 10_000)),
    ]);
    assert.equal(answered, true, "root's calls were dropped on another user's word");
    await flood.ask('answers');
  });
});
