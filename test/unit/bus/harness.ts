// Test harness for the bus surface: a private dbus-daemon with the system bus's default-deny policy plus the shipped
// dbus/org.spliced.Spliced1.conf, the adapter serving a FakeEngine on it, and the command-line tools a user would use.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import { startBus, type Authority, type AuthorizationRequest, type BusHandle, type Verdict } from '../../../src/bus';
import type { SplicedError } from '../../../src/errors';
import type { Feed } from '../../../src/sources/feed/feed-types';
import { stopChild } from '../../support/child';
import { shippedPolicy, startPrivateBus, type PrivateBus } from '../../support/private-bus';
import { FakeEngine } from './fake-engine';

export { REPO } from '../../support/repo';
export const NOBODY = 65534;

/** An Authority that answers what the test says and remembers what it was asked. */
export class ScriptedAuthority implements Authority {
  verdict: Verdict = 'yes';
  readonly requests: AuthorizationRequest[] = [];
  async check(request: AuthorizationRequest): Promise<Verdict> {
    this.requests.push(request);
    return this.verdict;
  }
}

export interface Daemon {
  bus: PrivateBus;
  engine: FakeEngine;
  authority: ScriptedAuthority;
  handle: BusHandle;
  /** What the adapter reported through onConnectionLost. */
  lost: SplicedError[];
  /** What the adapter logged as its own failures. */
  logged: string[];
  /** A temp directory for the files the tests apply (removed at stop). */
  files: string;
  /** The file `name` under `files`, written (with content naming it) if it is not there yet. */
  file(name: string): string;
  stop(): Promise<void>;
}

/** A private bus with the adapter serving a fresh FakeEngine. trustRoot defaults to false: tests run as root. */
export async function startDaemon(
  options: { trustRoot?: boolean; jobLingerMs?: number; maxInputBytes?: number; maxQueuedJobsPerCaller?: number; feed?: Feed } = {},
): Promise<Daemon> {
  const bus = await startPrivateBus(shippedPolicy());
  const engine = new FakeEngine();
  const authority = new ScriptedAuthority();
  const lost: SplicedError[] = [];
  const logged: string[] = [];
  const handle = await startBus(engine, {
    log: { error: (_fields, message) => logged.push(message) },
    onConnectionLost: (error) => lost.push(error),
    address: bus.address,
    authority,
    trustRoot: options.trustRoot ?? false,
    jobLingerMs: options.jobLingerMs ?? 10_000,
    maxInputBytes: options.maxInputBytes,
    maxQueuedJobsPerCaller: options.maxQueuedJobsPerCaller,
    feed: options.feed,
  });
  const files = mkdtempSync(path.join(tmpdir(), 'spliced-bus-files-'));
  return {
    bus,
    engine,
    authority,
    handle,
    lost,
    logged,
    files,
    file: (name) => {
      const file = path.join(files, name);
      mkdirSync(path.dirname(file), { recursive: true });
      if (!existsSync(file)) writeFileSync(file, `module ${name}`, { mode: 0o644 });
      return file;
    },
    stop: async () => {
      await handle.stop();
      await bus.stop();
      rmSync(files, { recursive: true, force: true });
    },
  };
}

/** A file to apply, in a temp directory removed when the test file ends. */
export function tempModule(name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spliced-bus-files-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  writeFileSync(file, `module ${name}`, { mode: 0o644 });
  return file;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Run as this uid (and gid), e.g. NOBODY. */
  uid?: number;
  cwd?: string;
  timeoutMs?: number;
}

/** Run a program to its end and capture everything (a non-zero exit is a result, not an exception). */
export function run(program: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      uid: options.uid,
      gid: options.uid,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 20_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
  });
}

export function busctl(address: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run('busctl', [`--address=${address}`, ...args], options);
}

/** Call a Manager method with gdbus (args in GVariant text) expecting a D-Bus error, which busctl would not name. */
export async function managerError(
  address: string,
  member: string,
  args: string[],
  options: RunOptions = {},
): Promise<{ name: string; message: string }> {
  const r = await run(
    'gdbus',
    ['call', '--address', address, '--dest', 'org.spliced.Spliced1', '--object-path', '/org/spliced/Spliced1',
      '--method', `org.spliced.Spliced1.Manager.${member}`, ...args],
    options,
  );
  const error = /^Error: GDBus\.Error:([\w.]+): ([\s\S]*)$/.exec(r.stderr.trim());
  if (r.code === 0 || !error) throw new Error(`expected ${member} to fail with a D-Bus error: ${JSON.stringify(r)}`);
  return { name: error[1], message: error[2] };
}

export interface Monitor {
  /** Its JSON messages so far. */
  messages(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** `busctl monitor` of org.spliced.Spliced1 in the background, resolved once it demonstrably sees traffic. */
export async function monitor(address: string): Promise<Monitor> {
  const child = spawn('busctl', [`--address=${address}`, 'monitor', '--json=short', 'org.spliced.Spliced1'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const watch: Monitor = {
    messages: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    stop: () => stopChild(child),
  };
  // Ping spliced until the monitor shows a ping: from then on it misses nothing.
  await eventually(async () => {
    await busctl(address, ['call', 'org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.freedesktop.DBus.Peer', 'Ping']);
    return watch.messages().some((m) => m.member === 'Ping') || undefined;
  }, 10_000);
  return watch;
}

/** Poll until `check` returns a value (not undefined), or fail after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
