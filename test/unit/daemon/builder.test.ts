import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { processRunner, unitRunner, workerBuilder, type WorkerRunner } from '../../../src/daemon/builder';
import type { BuildStep } from '../../../src/engine';
import { isSplicedError } from '../../../src/errors';

const SPLICED_MAIN = path.resolve(__dirname, '../../../src/daemon/main.js');

/**
 * A stand-in for systemctl that does what spliced-build@.service's unit file tells systemd: the worker with the job
 * file as stdin and the output file as stdout; `stop` kills it. The real unit runs in the guest (guest-build suite).
 */
function fakeSystemctl(dir: string, runDir: string): void {
  const script = `#!/bin/bash
set -u
id=\${2#spliced-build@}; id=\${id%.service}
case "$1" in
  start) setsid "${process.execPath}" "${SPLICED_MAIN}" build-worker < "${runDir}/builds/$id.job" > "${runDir}/builds/$id.out" &
         echo $! > "${dir}/$id.pid"; wait $! ;;
  stop) kill -9 -- -"$(cat "${dir}/$id.pid")" ;;
esac
`;
  fs.writeFileSync(path.join(dir, 'systemctl'), script, { mode: 0o755 });
}

describe('the daemon builder (one build worker per job, as a unit or a child process)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-builder-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const bin = path.join(tmp, 'bin');
  const runDir = path.join(tmp, 'run');
  fs.mkdirSync(bin);
  fakeSystemctl(bin, runDir);
  const withFakeSystemctl = (runner: WorkerRunner): WorkerRunner => async (job, onMessage, signal) => {
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      return await runner(job, onMessage, signal);
    } finally {
      process.env.PATH = saved;
    }
  };
  const runners: [string, WorkerRunner][] = [
    ['child process', processRunner(tmp)],
    ['unit', withFakeSystemctl(unitRunner(runDir))],
  ];

  for (const [where, runner] of runners) {
    it(`${where}: reports the worker's steps and passes its named error back unchanged, writing no module`, async () => {
      const steps: BuildStep[] = [];
      const output = path.join(tmp, 'x.ko');
      await assert.rejects(
        workerBuilder(runner, null, 200).build({ patchText: 'this is not a patch\n' }, output, (s) => steps.push(s), new AbortController().signal),
        (err) => isSplicedError(err, 'InvalidArgument') && /contains no unified diff/.test(err.message),
      );
      assert.deepEqual(steps, [{ progress: 2, message: 'reading the patch' }]);
      assert.equal(fs.existsSync(output), false);
    });

    it(`${where}: kills the worker when the build is aborted, and says the build was stopped`, async () => {
      const controller = new AbortController();
      const building = workerBuilder(runner, null, 200).build({ patchText: 'diff --git a/x b/x\n' }, path.join(tmp, 'y.ko'), () => undefined, controller.signal);
      setTimeout(() => controller.abort(), 50);
      await assert.rejects(building, (err) => isSplicedError(err, 'BuildFailed') && /the build was stopped/.test(err.message));
    });
  }

  it('unit: a unit that cannot start is a named failure naming it, and its job and output files are removed', async () => {
    const broken = path.join(tmp, 'broken-bin');
    fs.mkdirSync(broken);
    fs.writeFileSync(path.join(broken, 'systemctl'), '#!/bin/sh\necho "Failed to start $2: Unit $2 not found." >&2\nexit 5\n', { mode: 0o755 });
    const saved = process.env.PATH;
    process.env.PATH = `${broken}:${saved}`;
    try {
      await assert.rejects(
        workerBuilder(unitRunner(runDir), null, 200).build({ patchText: 'x' }, path.join(tmp, 'z.ko'), () => undefined, new AbortController().signal),
        (err) => isSplicedError(err, 'BuildFailed') && /spliced-build@[0-9a-f]{12}\.service failed: .*not found.*journalctl -u/s.test(err.message),
      );
    } finally {
      process.env.PATH = saved;
    }
    assert.deepEqual(fs.readdirSync(path.join(runDir, 'builds')), []);
  });

  it('hands the worker the patch, the source version it is written against and the configured max_header_units', async () => {
    const jobs: unknown[] = [];
    const recording: WorkerRunner = async (job, onMessage) => {
      jobs.push(job);
      onMessage({ type: 'failed', kind: 'TooManyUnits', message: 'the patch reaches 3 translation units', details: {} });
      return null;
    };
    await assert.rejects(
      workerBuilder(recording, null, 7).build({ patchText: 'a patch', sourceVersion: '6.1.192-2' }, path.join(tmp, 'w.ko'), () => undefined, new AbortController().signal),
      (err) => isSplicedError(err, 'TooManyUnits'),
    );
    assert.equal(jobs.length, 1);
    assert.deepEqual({ ...(jobs[0] as object), runningKernel: null }, { kind: 'build', patchText: 'a patch', sourceVersion: '6.1.192-2', runningKernel: null, maxHeaderUnits: 7 });
  });
});
