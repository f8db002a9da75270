// The feed's splice with the real builder on this host, for 6.1.0-55 (6.1.192-1): a test-made delta holding a
// spliceable fix (fixture 01, a small unit: the real ext4 fix is the guest's, guest-build boot 2) and a change the
// builder refuses (fixture 12: the initial value of existing data). The refused fix becomes a reboot reason naming
// its changelog line and CVE; the other is still built, as a module that declares no Spliced-Version (not every fix
// is in it). Needs the prepared tree of 6.1.0-55-amd64 (prepared on first use, ≈ 1 min cold); two builds.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildSplice } from '../../../src/build/build';
import { parsePatch } from '../../../src/build/patch/patchfile';
import { run } from '../../../src/build/process';
import type { SpliceBuilder } from '../../../src/engine/types';
import { buildFeedSplice } from '../../../src/sources/feed/feed-splice';
import { REPO } from '../../support/repo';

const RELEASE = '6.1.0-55-amd64';
const diffOf = (fixture: string) => parsePatch(fs.readFileSync(path.join(REPO, 'test/fixtures/patches', fixture), 'utf8')).files[0].diff;

test('a refused file needs a reboot, named by its changelog line; the other fix is still built', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-feed-splice-'));
  try {
    const texts: string[] = [];
    const builder: SpliceBuilder = {
      build: async ({ patchText }, output) => {
        texts.push(patchText);
        await buildSplice({ patchText, target: { release: RELEASE } }, output);
      },
    };
    const output = path.join(dir, 'splice.ko');
    const splice = await buildFeedSplice({
      plan: {
        report: {
          changelog: [
            {
              version: '6.1.192-2',
              cves: ['CVE-2026-99990'],
              lines: [
                { text: 'proc: fix the meminfo banner' },
                { text: 'mm/util.c: raise the default overcommit ratio (CVE-2026-99990)', cves: ['CVE-2026-99990'], files: ['mm/util.c'] },
              ],
            },
          ],
        },
        patchText: diffOf('01-string-meminfo.patch') + diffOf('12-fail-data-init.patch'),
      },
      running: '6.1.192-1',
      target: '6.1.192-2',
      builder,
      output,
      onStep: () => undefined,
      signal: new AbortController().signal,
    });
    assert.equal(splice.built, true);
    assert.equal(splice.complete, false);
    assert.deepEqual(splice.refused.map((r) => [r.file, r.kind]), [['mm/util.c', 'UnsafePatch']]);
    assert.equal(splice.rebootReasons.length, 1);
    assert.match(splice.rebootReasons[0], /^Debian 6\.1\.192-2 "mm\/util\.c: raise the default overcommit ratio \(CVE-2026-99990\)" \(CVE-2026-99990\): mm\/util\.c cannot be spliced \(UnsafePatch: /);
    // The whole delta, then the rest once the differ named the refused file (its problems carry their objects).
    assert.equal(texts.length, 2);
    const info = async (field: string) => (await run('modinfo', ['-F', field, output])).stdout.trim();
    assert.equal(await info('spliced.version'), '');
    assert.equal(await info('spliced.cves'), '');
    assert.match(await info('spliced.functions'), /vmlinux:meminfo_proc_show/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
