// The distro feed's plan as the daemon runs it: a `plan` job of `spliced build-worker`, here through the process
// runner (build_isolation = process). apt's tools are the recorded ones (recorded-apt.js on PATH); the feed cache is
// seeded with stand-in debs whose sha256 the recorded index vouches for, their manifests, and the plan the host
// computed for 6.1.0-55 → 6.1.192-2 (test/fixtures/feed/), so the worker runs the real plan code without a 1.4 GB
// tarball. The real unit (spliced-build@<id>.service as spliced-build) runs in the guest (guest-build suite).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { processRunner } from '../../../src/daemon/builder';
import { workerPlanner } from '../../../src/daemon/plan-job';
import { isSplicedError } from '../../../src/errors';
import { readRecordings } from '../feed/recorded-apt';

const RECORDED_APT = path.resolve(__dirname, '../feed/recorded-apt.js');
const PLAN_FIXTURE = path.resolve(__dirname, '../../../../test/fixtures/feed/plan-6.1.0-55-amd64-from-6.1.192-1.json');
const RUNNING = { release: '6.1.0-55-amd64', sourceVersion: '6.1.192-1' };
const TARGET = '6.1.192-2';
const deb = (version: string) => `linux-source-6.1_${version}_all.deb`;

/** 'gone' also for a process killed and not yet reaped by whoever inherited it (a zombie). */
function processState(pid: number): string {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 'gone';
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' ? 'gone' : state;
}

describe("the feed's plan as a build worker job (process runner)", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-plan-job-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const cache = path.join(tmp, 'feed-cache');
  const bin = path.join(tmp, 'bin');
  const saved = { ...process.env };

  /** apt-cache, apt-get and dpkg-query answer from the recording (plus the two source debs' index entries). */
  function recordedTools(): void {
    fs.mkdirSync(bin, { recursive: true });
    const recordings = readRecordings();
    for (const version of [RUNNING.sourceVersion, TARGET]) {
      const sha256 = createHash('sha256').update(`stand-in for ${deb(version)}`).digest('hex');
      const show = path.join(tmp, `show-${version}.txt`);
      fs.writeFileSync(show, `Package: linux-source-6.1\nVersion: ${version}\nFilename: pool/main/l/linux/${deb(version)}\nSHA256: ${sha256}\n\n`);
      recordings[`apt-cache show linux-source-6.1=${version}`] = { code: 0, stdout: show };
    }
    fs.writeFileSync(path.join(tmp, 'recordings.json'), JSON.stringify(recordings));
    for (const tool of ['apt-cache', 'apt-get', 'dpkg-query']) {
      fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\nexec "${process.execPath}" "${RECORDED_APT}" ${tool} "$@"\n`, { mode: 0o755 });
    }
  }

  function seedCache(): void {
    fs.rmSync(cache, { recursive: true, force: true });
    for (const version of [RUNNING.sourceVersion, TARGET]) {
      const dir = path.join(cache, 'sources', version);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, deb(version)), `stand-in for ${deb(version)}`);
      fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ deb: deb(version), files: {} }));
    }
    fs.copyFileSync(PLAN_FIXTURE, path.join(cache, 'sources', TARGET, path.basename(PLAN_FIXTURE)));
  }

  recordedTools();
  beforeEach(() => {
    seedCache();
    Object.assign(process.env, { PATH: `${bin}:${saved.PATH}`, RECORDED_APT: path.join(tmp, 'recordings.json'), SPLICED_FEED_CACHE_DIR: cache });
  });
  afterEach(() => {
    for (const key of ['PATH', 'RECORDED_APT', 'SPLICED_FEED_CACHE_DIR']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });
  const plan = (signal = new AbortController().signal) => workerPlanner(processRunner(tmp))(RUNNING, TARGET, signal);

  it("returns the report (apt's view, the target's image, changelog, delta) and the delta as one patch", async () => {
    const { report, patchText } = await plan();
    assert.equal(report.target?.sourceVersion, TARGET);
    assert.equal(report.target?.image?.package, 'linux-image-6.1.0-56-amd64');
    assert.deepEqual(report.changelog?.map((e) => e.version), [TARGET]);
    assert.match(report.changelog![0].lines[0].text, /^ext4: fix NULL folio dereference in mballoc/);
    assert.deepEqual(report.delta?.files, [{ path: 'fs/ext4/mballoc.c', kind: 'compiled', change: 'modified' }]);
    assert.match(patchText, /^--- a\/fs\/ext4\/mballoc\.c\n\+\+\+ b\/fs\/ext4\/mballoc\.c\n@@ /);
  });

  it("a cached deb that no longer matches apt's index is fetched again: apt-get failing is BuildFailed naming the package", async () => {
    fs.appendFileSync(path.join(cache, 'sources', TARGET, deb(TARGET)), 'tampered');
    await assert.rejects(plan(), (err) =>
      isSplicedError(err, 'BuildFailed') && /^the feed's plan for 6\.1\.192-2 failed: could not download linux-source-6\.1 6\.1\.192-2/.test(err.message),
    );
  });

  it('a target apt does not offer: the worker\'s InvalidArgument comes back named', async () => {
    await assert.rejects(workerPlanner(processRunner(tmp))(RUNNING, '6.1.999-1', new AbortController().signal), (err) =>
      isSplicedError(err, 'InvalidArgument') && /linux-source-6\.1 6\.1\.999-1 is not a newer version apt offers/.test(err.message),
    );
  });

  it('a stop kills the worker with the tools it runs, and says the feed was stopped', async () => {
    const pidFile = path.join(tmp, 'dpkg-query.pid');
    fs.writeFileSync(path.join(bin, 'dpkg-query'), `#!/bin/sh\necho $$ > "${pidFile}"\nexec sleep 60\n`, { mode: 0o755 });
    try {
      const controller = new AbortController();
      const planning = plan(controller.signal);
      while (!fs.existsSync(pidFile) || fs.readFileSync(pidFile, 'utf8') === '') await new Promise((r) => setTimeout(r, 20));
      controller.abort();
      await assert.rejects(planning, (err) => isSplicedError(err, 'BuildFailed') && /the feed was stopped/.test(err.message));
      assert.equal(processState(Number(fs.readFileSync(pidFile, 'utf8'))), 'gone');
    } finally {
      recordedTools();
    }
  });
});
