// A bounded flood of spliced from an unprivileged client, run as root beside the daemon (docs/testing.md, "Load"):
// the client (client.ts) runs as `user` over the system bus; this side reads the daemon's descriptors and memory
// (/proc/PID: root only), and applies and reverts a real splice with splicectl while List is timed. Per round:
//   1. List latency idle (sampler, one call at a time);
//   2. the flood (client.ts flood) while the sampler times List, the daemon's fds and RSS watched for their peak;
//   3. the daemon's fd count waited for to come back to its value before the flood (up to settleMs);
//   4. with `apply`: List timed while root applies the module and reverts it; only samples taken while the Manager's
//      State was "busy" count.
// Prints one Report JSON line. Used by the daemon guest suite (test/guest/daemon/flood.sh), bench/flood-guest.ts and
// the host test (test/unit/daemon/flood.test.ts).
// Run: node run.js --pid PID --user USER [--sampler-user USER --calls N --connections C --window W --abandoned A --rounds R
//      --idle-samples S --file PATH --apply MODULE --revert NAME --settle-ms MS]

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { FloodResult, FloodSpec, SamplerCommand, Samples } from './client';
import { latencyOf, type Latency } from './stats';
import { isAlive, usageOf, watchPeak, type Usage } from './usage';

export interface RunOptions {
  /** The daemon's process. */
  pid: number;
  /** The unprivileged user the flood runs as. */
  user: string;
  /** The user whose List calls are timed (default: `user`); another user shows what the flood costs everyone else. */
  samplerUser?: string;
  /** The client's DBUS_SYSTEM_BUS_ADDRESS (a private bus in host tests); the system bus when absent. */
  busAddress?: string;
  /** client.js as `user` can read it (default: beside this file). */
  clientPath?: string;
  flood: FloodSpec;
  rounds: number;
  idleSamples: number;
  /** Root applies `module` with splicectl, then reverts it by `name`, while List is timed. */
  apply?: { module: string; name: string };
  /** How long the daemon's fd count may take to come back after the flood. */
  settleMs: number;
}

export interface RoundReport {
  /** Wall time of the whole round, the idle samples to the settling after the apply. */
  ms: number;
  latency: { idle: Latency; flood: Latency; apply?: Latency };
  daemon: { before: Usage; peak: Usage; afterFlood: Usage; settleMs: number; afterApply?: Usage };
  flood: FloodResult & { ms: number; callsPerSecond: number };
  apply?: { applyExit: number; revertExit: number; ms: number; samplesWhileBusy: number; samplesTotal: number };
}

export interface Report {
  pid: number;
  /** Who the List calls were timed as. */
  samplerUser: string;
  alive: boolean;
  rounds: RoundReport[];
}

interface Account {
  uid: number;
  gid: number;
}

function accountOf(user: string): Account {
  const id = (flag: string) => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** This process's environment (the node that runs it may need its LD_LIBRARY_PATH), with the bus to flood. */
function clientEnv(options: RunOptions): NodeJS.ProcessEnv {
  return { ...process.env, ...(options.busAddress ? { DBUS_SYSTEM_BUS_ADDRESS: options.busAddress } : {}) };
}

function spawnClient(options: RunOptions, account: Account, args: string[]): ChildProcess {
  const client = options.clientPath ?? path.join(__dirname, 'client.js');
  return spawn(process.execPath, [client, ...args], {
    ...account,
    cwd: '/',
    env: clientEnv(options),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** The sampler: one JSON answer line per command. */
class Sampler {
  private readonly pending: { resolve(line: string): void; reject(err: Error): void }[] = [];
  private exited: Error | null = null;

  constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.pending.shift()?.resolve(line));
    child.stdin!.on('error', () => undefined); // a sampler that died: its exit says so
    child.on('exit', (code, signal) => {
      this.exited = new Error(`the sampler exited (${code ?? signal}): did spliced stop answering?`);
      for (const waiter of this.pending.splice(0)) waiter.reject(this.exited);
    });
  }

  ask<T>(command: SamplerCommand): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve: (line) => resolve(JSON.parse(line) as T), reject });
      this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.exited) return resolve();
      this.child.once('exit', () => resolve());
      this.child.stdin!.end();
    });
  }
}

function runFloodClient(options: RunOptions, account: Account): Promise<FloodResult> {
  const child = spawnClient(options, account, ['flood', JSON.stringify(options.flood)]);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as FloodResult);
      else reject(new Error(`the flood client exited with ${code}: ${out}`));
    });
  });
}

/** Exit status of `splicectl ARGS` (as root). */
function splicectl(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    execFile('splicectl', args, (err) => resolve(err ? (typeof err.code === 'number' ? err.code : 255) : 0));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const GONE: Usage = { fds: -1, rssKb: -1 };

/**
 * Wait until the daemon holds no more descriptors than `fds`: how long it took (-1: it never did) and what it held
 * then (or last).
 */
async function settle(pid: number, fds: number, withinMs: number): Promise<{ ms: number; usage: Usage }> {
  const started = Date.now();
  let usage = GONE;
  while (isAlive(pid)) {
    usage = usageOf(pid);
    if (usage.fds <= fds) return { ms: Date.now() - started, usage };
    if (Date.now() - started > withinMs) break;
    await sleep(100);
  }
  return { ms: -1, usage };
}

async function round(options: RunOptions, account: Account, sampler: Sampler): Promise<RoundReport> {
  const { pid } = options;
  const roundStarted = Date.now();
  const idle = await sampler.ask<Samples>({ do: 'idle', count: options.idleSamples });
  const before = usageOf(pid);

  await sampler.ask({ do: 'start' });
  const watch = watchPeak(pid, 100);
  const started = Date.now();
  const flood = await runFloodClient(options, account);
  const ms = Date.now() - started;
  const peak = watch.stop();
  const duringFlood = await sampler.ask<Samples>({ do: 'stop' });
  const settled = await settle(pid, before.fds, options.settleMs);
  const report: RoundReport = {
    ms: 0,
    latency: { idle: latencyOf(idle.all), flood: latencyOf(duringFlood.all) },
    daemon: { before, peak, afterFlood: settled.usage, settleMs: settled.ms },
    flood: { ...flood, ms, callsPerSecond: Math.round((flood.calls / ms) * 1000) },
  };

  if (options.apply && isAlive(pid)) {
    await sampler.ask({ do: 'start' });
    const applyStarted = Date.now();
    const applyExit = await splicectl(['apply', options.apply.module]);
    const revertExit = await splicectl(['revert', options.apply.name]);
    const applyMs = Date.now() - applyStarted;
    const duringApply = await sampler.ask<Samples>({ do: 'stop' });
    report.latency.apply = latencyOf(duringApply.busy);
    report.apply = {
      applyExit,
      revertExit,
      ms: applyMs,
      samplesWhileBusy: duringApply.busy.length,
      samplesTotal: duringApply.all.length,
    };
    report.daemon.afterApply = (await settle(pid, before.fds, options.settleMs)).usage;
  }
  report.ms = Date.now() - roundStarted;
  return report;
}

export async function runFlood(options: RunOptions): Promise<Report> {
  const account = accountOf(options.user);
  const samplerUser = options.samplerUser ?? options.user;
  const sampler = new Sampler(spawnClient(options, accountOf(samplerUser), ['sampler']));
  const rounds: RoundReport[] = [];
  try {
    for (let r = 0; r < options.rounds && isAlive(options.pid); r++) rounds.push(await round(options, account, sampler));
  } finally {
    await sampler.close();
  }
  return { pid: options.pid, samplerUser, alive: isAlive(options.pid), rounds };
}

function optionsFromArgs(argv: string[]): RunOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      pid: { type: 'string' },
      user: { type: 'string' },
      'sampler-user': { type: 'string' },
      calls: { type: 'string', default: '2000' },
      connections: { type: 'string', default: '4' },
      window: { type: 'string', default: '32' },
      abandoned: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '1' },
      'idle-samples': { type: 'string', default: '200' },
      file: { type: 'string', default: '/etc/hostname' },
      apply: { type: 'string' },
      revert: { type: 'string' },
      'settle-ms': { type: 'string', default: '30000' },
      'deadline-ms': { type: 'string', default: '60000' },
    },
  });
  if (!values.pid || !values.user) throw new Error('--pid and --user are required');
  if ((values.apply === undefined) !== (values.revert === undefined)) throw new Error('--apply and --revert go together');
  return {
    pid: Number(values.pid),
    user: values.user,
    samplerUser: values['sampler-user'],
    flood: {
      calls: Number(values.calls),
      connections: Number(values.connections),
      window: Number(values.window),
      abandoned: Number(values.abandoned),
      file: values.file!,
      deadlineMs: Number(values['deadline-ms']),
    },
    rounds: Number(values.rounds),
    idleSamples: Number(values['idle-samples']),
    apply: values.apply ? { module: values.apply, name: values.revert! } : undefined,
    settleMs: Number(values['settle-ms']),
  };
}

if (require.main === module) {
  runFlood(optionsFromArgs(process.argv.slice(2))).then(
    (report) => process.stdout.write(`${JSON.stringify(report)}\n`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(1);
    },
  );
}
