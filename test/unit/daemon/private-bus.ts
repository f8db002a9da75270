// A throw-away dbus-daemon listening in a directory, for running spliced on a bus of its own (tests, benchmarks).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface PrivateBus {
  address: string;
  pid: number;
  stop(): void;
}

/** null when dbus-daemon is not installed. */
export function startPrivateBus(dir: string): PrivateBus | null {
  if (spawnSync('which', ['dbus-daemon']).status !== 0) return null;
  const config = path.join(dir, 'bus.conf');
  fs.writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:dir=${dir}</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>`,
  );
  const bus = spawnSync('dbus-daemon', ['--config-file', config, '--fork', '--print-address=1', '--print-pid=1'], {
    encoding: 'utf8',
  });
  const [address, pid] = bus.stdout.trim().split('\n');
  return {
    address,
    pid: Number(pid),
    stop: () => {
      try {
        process.kill(Number(pid), 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}
