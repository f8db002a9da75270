// `node dist/src/sources/feed/command.js plan [--running-release R --running-version V] [--target-version V]
// [--patch FILE]`: the feed's plan for a kernel, by hand, without the daemon (docs/feed.md). Prints JSON.

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { debianVersionFromProcVersion } from '../../build/tree/tree';
import { asSplicedError, SplicedError } from '../../errors';
import { deltaPatch } from './delta';
import { planFeed, planReport } from './plan';

const USAGE = 'usage: node dist/src/sources/feed/command.js plan [--running-release R --running-version V] [--target-version V] [--patch FILE]';

async function runningKernel(release: string | undefined, version: string | undefined): Promise<{ release: string; sourceVersion: string }> {
  if ((release === undefined) !== (version === undefined)) {
    throw new SplicedError('InvalidArgument', '--running-release and --running-version go together');
  }
  if (release !== undefined && version !== undefined) return { release, sourceVersion: version };
  const procVersion = await fs.readFile('/proc/version', 'utf8');
  const sourceVersion = debianVersionFromProcVersion(procVersion);
  if (!sourceVersion) throw new SplicedError('NotApplicable', `the running kernel is not a Debian build: ${procVersion.trim()}`);
  return { release: os.release(), sourceVersion };
}

export async function runFeedCommand(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'running-release': { type: 'string' },
        'running-version': { type: 'string' },
        'target-version': { type: 'string' },
        patch: { type: 'string' },
      },
    });
    if (positionals.length !== 1 || positionals[0] !== 'plan') throw new SplicedError('InvalidArgument', USAGE);
    const running = await runningKernel(values['running-release'], values['running-version']);
    const plan = await planFeed({ running, targetVersion: values['target-version'] });
    if (values.patch !== undefined && plan.target) await fs.writeFile(values.patch, deltaPatch(plan.target.delta));
    process.stdout.write(`${JSON.stringify(planReport(plan), null, 2)}\n`);
    return 0;
  } catch (err) {
    const usage = (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    const e = usage ? new SplicedError('InvalidArgument', `${(err as Error).message}\n${USAGE}`) : asSplicedError(err);
    process.stderr.write(`spliced feed: ${e.message} (${e.kind})\n`);
    return e.kind === 'InvalidArgument' ? 2 : 1;
  }
}

if (require.main === module) void runFeedCommand(process.argv.slice(2)).then((code) => process.exit(code));
