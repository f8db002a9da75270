// Replays the outputs of apt's tools recorded on a Debian 12 host (test/fixtures/apt/commands.json): a command the
// recording does not hold fails the test, so the view cannot quietly ask apt something new.
// Also a program: `node recorded-apt.js PROGRAM ARGS...` answers as the tool would (exit code, stdout, stderr; 100 for
// a command not recorded), from the recording file named by $RECORDED_APT: tests that run apt's callers in another
// process put it on PATH as apt-cache, apt-get and dpkg-query (test/unit/daemon/plan-job.test.ts).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ToolRunner } from '../../../src/sources/feed/apt-view';

export const APT_FIXTURES = resolve(__dirname, '../../../../test/fixtures/apt');

/** A recording: command line -> exit code, stdout file (relative to APT_FIXTURES, or absolute), stderr. */
export interface Recording {
  code: number;
  stdout: string;
  stderr?: string;
}

export const readRecordings = (file = join(APT_FIXTURES, 'commands.json')) =>
  JSON.parse(readFileSync(file, 'utf8')) as Record<string, Recording>;

export function recordedApt(calls: string[] = [], recordings = readRecordings()): ToolRunner {
  return async (program, args) => {
    const line = [program, ...args].join(' ');
    calls.push(line);
    const rec = recordings[line];
    if (!rec || line === '_') throw new Error(`no recorded output for: ${line}`);
    return { code: rec.code, stdout: readFileSync(resolve(APT_FIXTURES, rec.stdout), 'utf8'), stderr: rec.stderr ?? '' };
  };
}

if (require.main === module) {
  recordedApt([], readRecordings(process.env.RECORDED_APT))(process.argv[2], process.argv.slice(3)).then(
    (res) => {
      process.stdout.write(res.stdout);
      process.stderr.write(res.stderr);
      process.exitCode = res.code;
    },
    (err: Error) => {
      process.stderr.write(`E: ${err.message}\n`);
      process.exitCode = 100;
    },
  );
}
