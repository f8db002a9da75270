// The unprivileged half of the flood (test/guest/flood/): run as an ordinary user by run.ts, over the system bus
// (DBUS_SYSTEM_BUS_ADDRESS when set). Two roles:
//   client.js flood '<FloodSpec JSON>'  sends the calls of mix.ts, pipelined, and prints one FloodResult JSON line;
//   client.js sampler                   times List calls, one at a time, on commands read from stdin (SamplerCommand)
//                                       and prints one JSON line per command.
// The flood passes ApplyFd its stdin (a socket: node makes child stdio pipes as socket pairs) and a FIFO.

import { execFileSync } from 'node:child_process';
import { constants, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { DBusError, MessageType, type MessageBus } from 'dbus-next';
import { connectBus } from '../../../src/bus/connect';
import { BUS_NAME, MANAGER_INTERFACE, MANAGER_PATH } from '../../../src/bus/names';
import { callWithDanglingFdIndex } from './forge';
import { floodCall, listMessage, type FloodCall, type MixContext } from './mix';

export interface FloodSpec {
  /** Calls answered and counted, half on one connection, half spread over `connections`. */
  calls: number;
  connections: number;
  /** Calls in flight at once per connection (the system bus allows 128 pending replies per connection). */
  window: number;
  /** Connections that send `window` calls and disconnect without waiting for any answer. */
  abandoned: number;
  /** An absolute path to name in Apply calls. */
  file: string;
  /** A call not answered within this long counts as unanswered. */
  deadlineMs: number;
}

export interface Mismatch {
  count: number;
  expect: string;
  got: string;
}

export interface FloodResult {
  calls: number;
  replies: number;
  /** Error replies by D-Bus error name. */
  errors: Record<string, number>;
  unanswered: number;
  /** Calls by kind whose answer was not the one expected (mix.ts), with the first wrong answer. */
  mismatches: Record<string, Mismatch>;
  /** Wall time of each half: one connection, then several. */
  phases: { connections: number; calls: number; ms: number }[];
  /** Calls sent on connections closed before any answer. */
  abandonedCalls: number;
}

export type SamplerCommand = { do: 'idle'; count: number } | { do: 'start' } | { do: 'stop' };

/** List latencies in ms; `busy`: those whose call began or ended while the Manager's State was "busy". */
export interface Samples {
  all: number[];
  busy: number[];
}

const UNANSWERED = 'unanswered';
const O_PATH = 0o10000000; // x86-64 and arm64; node has no constant for it, open(2) takes it as is

/** 'reply', the D-Bus error name, or UNANSWERED. */
async function answerOf(bus: MessageBus, call: FloodCall, deadlineMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(UNANSWERED), deadlineMs);
  });
  const answer = call.danglingFdIndex
    ? callWithDanglingFdIndex(bus, call.message).then((reply) => (reply.type === MessageType.ERROR ? reply.errorName! : 'reply'))
    : bus.call(call.message).then(
        () => 'reply',
        (err: unknown) => (err instanceof DBusError ? err.type : `not a D-Bus error: ${String(err)}`),
      );
  try {
    return await Promise.race([answer, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A FIFO open for reading and writing (so opening it does not wait for a writer), its name already gone. */
function openFifo(): number {
  const dir = mkdtempSync(path.join(tmpdir(), 'spliced-flood-'));
  try {
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    return openSync(path.join(dir, 'fifo'), constants.O_RDWR | constants.O_NONBLOCK);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function knownPatchId(bus: MessageBus): Promise<string | null> {
  const reply = await bus.call(listMessage());
  const rows = (reply?.body[0] ?? []) as [string][];
  return rows[0]?.[0] ?? null;
}

async function flood(spec: FloodSpec): Promise<FloodResult> {
  if (!fstatSync(0).isSocket()) throw new Error('the flood client needs a socket as its stdin');
  const first = await connectBus();
  const ctx: MixContext = {
    pipeFd: openFifo(),
    socketFd: 0,
    pathFd: openSync(spec.file, O_PATH),
    fileFd: openSync(spec.file, 'r'),
    file: spec.file,
    knownId: await knownPatchId(first),
  };
  const result: FloodResult = { calls: 0, replies: 0, errors: {}, unanswered: 0, mismatches: {}, phases: [], abandonedCalls: 0 };
  const record = (kind: string, expect: string, got: string) => {
    result.calls++;
    if (got === 'reply') result.replies++;
    else if (got === UNANSWERED) result.unanswered++;
    else result.errors[got] = (result.errors[got] ?? 0) + 1;
    if (got !== expect) {
      const m = (result.mismatches[kind] ??= { count: 0, expect, got });
      m.count++;
    }
  };
  // `window` workers per connection take the next call number until `end`.
  let next = 0;
  const drive = async (bus: MessageBus, end: number) => {
    const worker = async () => {
      while (next < end) {
        const call = floodCall(next++, ctx);
        record(call.kind, call.expect, await answerOf(bus, call, spec.deadlineMs));
      }
    };
    await Promise.all(Array.from({ length: spec.window }, worker));
  };
  const phase = async (buses: MessageBus[], end: number) => {
    const started = Date.now();
    const calls = end - next;
    await Promise.all(buses.map((bus) => drive(bus, end)));
    result.phases.push({ connections: buses.length, calls, ms: Date.now() - started });
  };

  const half = Math.floor(spec.calls / 2);
  await phase([first], half);
  const others = await Promise.all(Array.from({ length: spec.connections }, () => connectBus()));
  await phase(others, spec.calls);

  // Callers that vanish mid-call: spliced answers (or asks polkit about) a name that is gone.
  for (let c = 0; c < spec.abandoned; c++) {
    const bus = await connectBus();
    for (let i = 0; i < spec.window; i++) void answerOf(bus, floodCall(c * spec.window + i, ctx), spec.deadlineMs);
    result.abandonedCalls += spec.window;
    bus.disconnect();
  }
  for (const bus of [first, ...others]) bus.disconnect();
  return result;
}

async function sampler(): Promise<void> {
  const bus = await connectBus();
  const object = await bus.getProxyObject(BUS_NAME, MANAGER_PATH);
  const props = object.getInterface('org.freedesktop.DBus.Properties');
  let state = ((await props.Get(MANAGER_INTERFACE, 'State')) as { value: string }).value;
  props.on('PropertiesChanged', (iface: string, changed: Record<string, { value: unknown }>) => {
    if (iface === MANAGER_INTERFACE && changed.State) state = String(changed.State.value);
  });

  let samples: Samples = { all: [], busy: [] };
  const sample = async () => {
    const busyAtStart = state === 'busy';
    const started = process.hrtime.bigint();
    await bus.call(listMessage());
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    samples.all.push(ms);
    if (busyAtStart || state === 'busy') samples.busy.push(ms);
  };
  let running: Promise<void> | null = null;
  let stopping = false;
  const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as SamplerCommand;
    if (command.do === 'idle') {
      samples = { all: [], busy: [] };
      for (let i = 0; i < command.count; i++) await sample();
      say(samples);
    } else if (command.do === 'start') {
      samples = { all: [], busy: [] };
      stopping = false;
      await sample(); // answered once before the caller goes on
      running = (async () => {
        while (!stopping) await sample();
      })();
      say({ started: true });
    } else {
      stopping = true;
      await running;
      say(samples);
    }
  }
  bus.disconnect();
}

async function main(): Promise<void> {
  const [role, spec] = process.argv.slice(2);
  if (role === 'flood') process.stdout.write(`${JSON.stringify(await flood(JSON.parse(spec) as FloodSpec))}\n`);
  else if (role === 'sampler') await sampler();
  else throw new Error('usage: client.js flood SPEC_JSON | client.js sampler');
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(1);
    },
  );
}
