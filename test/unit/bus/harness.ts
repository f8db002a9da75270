// Test harness for the bus surface: a private dbus-daemon with the system bus's default-deny policy plus the shipped
// dbus/org.spliced.Spliced1.conf, the adapter serving a FakeEngine on it, and the command-line tools a user would use.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo, tmpdir } from 'node:os';
import * as path from 'node:path';
import { startBus, type Authority, type AuthorizationRequest, type BusHandle, type Verdict } from '../../../src/bus';
import type { SplicedError } from '../../../src/errors';
import { FakeEngine } from './fake-engine';

/** The repository root (this file runs from dist/test/unit/bus). */
export const REPO = path.resolve(__dirname, '../../../..');
export const NOBODY = 65534;

export interface PrivateBus {
  address: string;
  /** SIGKILL the dbus-daemon: every connection breaks without a word. */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

/** Start a dbus-daemon for one test file. `extraPolicy` is more <policy> XML (e.g. to own a fake polkit's name). */
export async function startPrivateBus(extraPolicy = ''): Promise<PrivateBus> {
  const dir = mkdtempSync(path.join(tmpdir(), 'spliced-bus-'));
  chmodSync(dir, 0o755); // other uids (NOBODY) connect too
  const config = path.join(dir, 'bus.conf');
  // A non-root test runner may own the name too (the shipped policy gives it to root only).
  const runner = userInfo().username;
  const ownAsRunner =
    process.getuid?.() === 0 ? '' : `<policy user="${runner}"><allow own="org.spliced.Spliced1"/></policy>`;
  writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>spliced-test</type>
  <listen>unix:dir=${dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  ${ownAsRunner}
  ${extraPolicy}
  <include>${path.join(REPO, 'dbus/org.spliced.Spliced1.conf')}</include>
</busconfig>
`,
  );
  const daemon = spawn('dbus-daemon', ['--nofork', '--nopidfile', `--config-file=${config}`, '--print-address=1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Its stderr (e.g. "Failed to set fd limit") only matters when it does not start.
  let complaints = '';
  daemon.stderr!.on('data', (d) => (complaints += d));
  const address = await firstLine(daemon).catch((err: Error) => {
    throw new Error(`${err.message}: ${complaints}`);
  });
  return {
    address,
    crash: () => stopChild(daemon, 'SIGKILL'),
    stop: async () => {
      await stopChild(daemon);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

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
  stop(): Promise<void>;
}

/** A private bus with the adapter serving a fresh FakeEngine. trustRoot defaults to false: tests run as root. */
export async function startDaemon(options: { trustRoot?: boolean; jobLingerMs?: number } = {}): Promise<Daemon> {
  const bus = await startPrivateBus();
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
  });
  return {
    bus,
    engine,
    authority,
    handle,
    lost,
    logged,
    stop: async () => {
      await handle.stop();
      await bus.stop();
    },
  };
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

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (d: Buffer) => {
      buffered += d.toString();
      const newline = buffered.indexOf('\n');
      if (newline >= 0) {
        child.stdout!.off('data', onData);
        resolve(buffered.slice(0, newline).trim());
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code} before printing its address`)));
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
