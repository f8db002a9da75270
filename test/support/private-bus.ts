// A throw-away dbus-daemon listening in a temp directory, for running spliced (or the bus adapter alone) on a bus of
// its own in tests and benchmarks. The caller picks the policy: the system bus's rules with spliced's shipped policy,
// or one that allows everything.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import * as path from 'node:path';
import { stopChild } from './child';
import { REPO } from './repo';

export interface PrivateBus {
  address: string;
  /** SIGKILL the dbus-daemon: every connection breaks without a word. */
  crash(): Promise<void>;
  /** Start the dbus-daemon again (after crash()) at the same socket path, as a restarted system bus is. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Installed by dbus-system-bus-common: the policy every system bus runs with. */
const SYSTEM_BUS_CONFIG = '/usr/share/dbus-1/system.conf';

/**
 * The system bus's own <policy> rules (default-deny, read from the installed system.conf, not copied) plus the
 * shipped dbus/org.spliced.Spliced1.conf, as on a real host. `extraPolicy` is more <policy> XML, e.g. to let a fake
 * polkit own its name.
 */
export function shippedPolicy(extraPolicy = ''): string {
  let systemPolicy: string[];
  try {
    const config = readFileSync(SYSTEM_BUS_CONFIG, 'utf8').replace(/<!--[\s\S]*?-->/g, '');
    systemPolicy = config.match(/<policy\b[\s\S]*?<\/policy>/g) ?? [];
  } catch (err) {
    throw new Error(`cannot read the system bus policy (install dbus-system-bus-common): ${(err as Error).message}`);
  }
  if (systemPolicy.length === 0) throw new Error(`no <policy> in ${SYSTEM_BUS_CONFIG}`);
  // A non-root test runner may own the name too (the shipped policy gives it to root only).
  const ownAsRunner =
    process.getuid?.() === 0 ? '' : `<policy user="${userInfo().username}"><allow own="org.spliced.Spliced1"/></policy>`;
  return `${systemPolicy.join('\n  ')}
  ${ownAsRunner}
  ${extraPolicy}
  <include>${path.join(REPO, 'dbus/org.spliced.Spliced1.conf')}</include>`;
}

/** Anyone may own any name and send anything: for tests of the daemon's life cycle, not of its access rules. */
export const PERMISSIVE_POLICY = `<policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>`;

/** Start a dbus-daemon with `policy` (<policy>/<include> XML); fails with dbus-daemon's own words if it cannot. */
export async function startPrivateBus(policy: string): Promise<PrivateBus> {
  const dir = mkdtempSync(path.join(tmpdir(), 'spliced-bus-'));
  chmodSync(dir, 0o755); // other uids (e.g. nobody) connect too
  const config = path.join(dir, 'bus.conf');
  writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>spliced-test</type>
  <listen>unix:path=${path.join(dir, 'socket')}</listen>
  <auth>EXTERNAL</auth>
  ${policy}
</busconfig>
`,
  );
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  const launch = async () => {
    const child = spawn('dbus-daemon', ['--nofork', '--nopidfile', `--config-file=${config}`, '--print-address=1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Its stderr (e.g. "Failed to set fd limit") only matters when it does not start.
    let complaints = '';
    child.stderr!.on('data', (d) => (complaints += d));
    const address = await firstLine(child).catch((err: Error) => {
      throw new Error(`the private dbus-daemon did not start: ${err.message} ${complaints}`.trim());
    });
    return { child, address };
  };
  let daemon: ChildProcess;
  let address: string;
  try {
    ({ child: daemon, address } = await launch());
  } catch (err) {
    removeDir();
    throw err;
  }
  return {
    address,
    crash: () => stopChild(daemon, 'SIGKILL'),
    restart: async () => {
      await stopChild(daemon, 'SIGKILL');
      rmSync(path.join(dir, 'socket'), { force: true });
      ({ child: daemon } = await launch());
    },
    stop: async () => {
      await stopChild(daemon);
      removeDir();
    },
  };
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
    // Not installed: spawn reports ENOENT here instead of an exit.
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code} before printing its address`)));
  });
}
