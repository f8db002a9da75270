import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { computeDelta, deltaPatch, SourceSide } from '../../../src/sources/feed/delta';
import { archOfFlavour } from '../../../src/sources/feed/delta-filter';
import { filesOf, manifestOf, readTreeTar, TreeReader } from '../../../src/sources/feed/source-deb';

const LONG_DIR = `drivers/${'a-very-long-directory-name/'.repeat(5)}`;

/** Two small source trees with one change of every kind the filter tells apart. */
const OLD: Record<string, string> = {
  'fs/ext4/mballoc.c': 'int a(void)\n{\n\treturn 1;\n}\n',
  'fs/ext4/super.c': 'int unchanged;\n',
  'include/linux/gone.h': '#define GONE 1\n',
  'include/linux/foo.h': '#define FOO 1\n',
  'kernel/sched/stats.c': 'int stats = 1;\n',
  'drivers/unused/d.c': 'int d = 1;\n',
  'Documentation/x.rst': 'old\n',
  'tools/perf/a.c': 'int a = 1;\n',
  'arch/arm64/kernel/b.c': 'int b = 1;\n',
  'arch/x86/entry/entry_64.S': 'nop\n',
  'fs/Makefile': 'obj-y += ext4/\n',
  'README': 'Linux\n',
  [`${LONG_DIR}long.c`]: 'int long_one = 1;\n',
};
const NEW: Record<string, string> = {
  ...OLD,
  'fs/ext4/mballoc.c': 'int a(void)\n{\n\treturn 2;\n}\n',
  'include/linux/foo.h': '#define FOO 2\n',
  'kernel/sched/stats.c': 'int stats = 2;\n',
  'drivers/unused/d.c': 'int d = 2;\n',
  'Documentation/x.rst': 'new\n',
  'tools/perf/a.c': 'int a = 2;\n',
  'arch/arm64/kernel/b.c': 'int b = 2;\n',
  'arch/x86/entry/entry_64.S': 'nop\nnop\n',
  'fs/Makefile': 'obj-y += ext4/ nfsd/\n',
  'README': 'Linux 6.1\n',
  'fs/ext4/added.c': 'int added;\n',
  [`${LONG_DIR}long.c`]: 'int long_one = 2;\n',
};
delete NEW['include/linux/gone.h'];

const COMPILED = new Set(['fs/ext4/mballoc.c', 'fs/ext4/super.c', 'fs/ext4/added.c', `${LONG_DIR}long.c`, 'kernel/sched/build_utility.c']);

/** A tarball of the tree under a top directory, like linux-source's ("linux-source-6.1/…"). */
function tarball(dir: string, name: string, files: Record<string, string>, format: 'gnu' | 'pax'): string {
  const top = join(dir, name, 'linux-source-6.1');
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(top, file)), { recursive: true });
    writeFileSync(join(top, file), text);
  }
  symlinkSync('../fs/ext4/super.c', join(top, 'include/link.c'));
  const file = join(dir, `${name}.tar`);
  execFileSync('tar', [`--format=${format}`, '-cf', file, '-C', join(dir, name), 'linux-source-6.1']);
  return file;
}

const tarTree = (file: string): TreeReader => (visit) => readTreeTar(createReadStream(file), visit);

async function side(version: string, file: string): Promise<SourceSide> {
  const tree = tarTree(file);
  return { version, manifest: await manifestOf(tree), read: (wanted) => filesOf(tree, wanted) };
}

for (const format of ['gnu', 'pax'] as const) {
  test(`the delta keeps compiled, #included, header and this arch's assembly changes and counts the rest (${format} tar)`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spliced-delta-test-'));
    try {
      const older = await side('1', tarball(dir, 'old', OLD, format));
      const newer = await side('2', tarball(dir, 'new', NEW, format));
      assert.equal(older.manifest[`${LONG_DIR}long.c`]?.length, 64, 'a path over 100 characters is read whole');
      assert.equal(older.manifest['include/link.c'], 'symlink:../fs/ext4/super.c');
      const asked: string[] = [];
      const delta = await computeDelta(older, newer, {
        arch: archOfFlavour('amd64'),
        isCompiled: (f) => COMPILED.has(f),
        isIncluded: async (f) => (asked.push(f), f === 'kernel/sched/stats.c'),
      });
      assert.deepEqual(
        delta.files.map((f) => [f.path, f.kind, f.change]),
        [
          ['arch/x86/entry/entry_64.S', 'assembly', 'modified'],
          [`${LONG_DIR}long.c`, 'compiled', 'modified'],
          ['fs/ext4/added.c', 'compiled', 'added'],
          ['fs/ext4/mballoc.c', 'compiled', 'modified'],
          ['include/linux/foo.h', 'header', 'modified'],
          ['include/linux/gone.h', 'header', 'removed'],
          ['kernel/sched/stats.c', 'included', 'modified'],
        ],
      );
      assert.deepEqual(asked.sort(), ['drivers/unused/d.c', 'kernel/sched/stats.c']);
      assert.deepEqual(delta.summary, {
        changed: 13,
        kept: { compiled: 3, included: 1, header: 2, assembly: 1 },
        ignored: { documentation: 1, tools: 1, 'other-arch': 1, 'build-file': 1, 'not-compiled': 1, 'not-a-regular-file': 0, other: 1 },
        buildFiles: ['fs/Makefile'],
      });
      const mballoc = delta.files.find((f) => f.path === 'fs/ext4/mballoc.c')!;
      assert.equal(mballoc.diff, '--- a/fs/ext4/mballoc.c\n+++ b/fs/ext4/mballoc.c\n@@ -1,4 +1,4 @@\n int a(void)\n {\n-\treturn 1;\n+\treturn 2;\n }\n');
      assert.match(delta.files.find((f) => f.change === 'added')!.diff, /^--- \/dev\/null\n\+\+\+ b\/fs\/ext4\/added\.c\n/);
      assert.match(delta.files.find((f) => f.change === 'removed')!.diff, /^--- a\/include\/linux\/gone\.h\n\+\+\+ \/dev\/null\n/);

      // The patch of the delta applies with patch -p1 to the old tree and gives the new tree's kept files, but the
      // assembly, which is never built (the feed names it as a reboot reason).
      const tree = join(dir, 'old', 'linux-source-6.1');
      assert.doesNotMatch(deltaPatch(delta), /entry_64\.S/);
      execFileSync('patch', ['-p1', '-s', '-d', tree], { input: deltaPatch(delta) });
      for (const f of delta.files.filter((x) => x.change !== 'removed' && x.kind !== 'assembly')) {
        assert.equal(execFileSync('cat', [join(tree, f.path)], { encoding: 'utf8' }), NEW[f.path]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a symlink changed in a kernel directory is left out as not a regular file', async () => {
  const delta = await computeDelta(
    { version: '1', manifest: { 'include/x.h': 'symlink:a.h' }, read: async () => new Map() },
    { version: '2', manifest: { 'include/x.h': 'symlink:b.h' }, read: async () => new Map() },
    { arch: 'x86', isCompiled: () => false, isIncluded: async () => false },
  );
  assert.deepEqual(delta.files, []);
  assert.equal(delta.summary.ignored['not-a-regular-file'], 1);
});
