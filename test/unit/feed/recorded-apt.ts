// Replays the outputs of apt's tools recorded on a Debian 12 host (test/fixtures/apt/commands.json): a command the
// recording does not hold fails the test, so the view cannot quietly ask apt something new.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ToolRunner } from '../../../src/sources/feed/apt-view';

export const APT_FIXTURES = resolve(__dirname, '../../../../test/fixtures/apt');

interface Recording {
  code: number;
  stdout: string;
  stderr?: string;
}

export function recordedApt(calls: string[] = []): ToolRunner {
  const recordings = JSON.parse(readFileSync(join(APT_FIXTURES, 'commands.json'), 'utf8')) as Record<string, Recording>;
  return async (program, args) => {
    const line = [program, ...args].join(' ');
    calls.push(line);
    const rec = recordings[line];
    if (!rec || line === '_') throw new Error(`no recorded output for: ${line}`);
    return { code: rec.code, stdout: readFileSync(join(APT_FIXTURES, rec.stdout), 'utf8'), stderr: rec.stderr ?? '' };
  };
}
