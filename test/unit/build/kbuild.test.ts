import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLinked, readConfig } from '../../../src/build/kbuild';

function fakeTree(makefile: string, config: string): string {
  const root = mkdtempSync(join(tmpdir(), 'kbuild-'));
  mkdirSync(join(root, 'fs/demo'), { recursive: true });
  writeFileSync(join(root, 'fs/demo/Makefile'), makefile);
  writeFileSync(join(root, '.config'), config);
  return root;
}

const MAKEFILE = `# demo
obj-$(CONFIG_DEMO_FS) += demo.o
demo-y := super.o inode.o \\
\t\tdir.o
demo-$(CONFIG_DEMO_ACL) += acl.o
demo-$(CONFIG_DEMO_OFF) += off.o
obj-y += always.o
obj-$(CONFIG_DEMO_TEST) += demo-test.o
demo-test-objs += selftest.o
`;

test('objects of composite modules, config-dependent parts, and unset options', async () => {
  const root = fakeTree(MAKEFILE, 'CONFIG_DEMO_FS=m\nCONFIG_DEMO_ACL=y\n# CONFIG_DEMO_OFF is not set\n');
  const config = await readConfig(root);
  const linked = async (o: string) => isLinked(root, `fs/demo/${o}`, config);
  assert.equal(await linked('inode.o'), true);
  assert.equal(await linked('dir.o'), true, 'continuation lines are part of the list');
  assert.equal(await linked('acl.o'), true);
  assert.equal(await linked('off.o'), false, 'its option is not set');
  assert.equal(await linked('always.o'), true);
  assert.equal(await linked('selftest.o'), false, 'its module is not configured');
  assert.equal(await linked('stats.o'), false, 'listed nowhere (e.g. only #included)');
});

test('a composite whose own option is off links none of its parts', async () => {
  const root = fakeTree(MAKEFILE, 'CONFIG_DEMO_ACL=y\n');
  assert.equal(await isLinked(root, 'fs/demo/inode.o', await readConfig(root)), false);
  assert.equal(await isLinked(root, 'fs/demo/always.o', await readConfig(root)), true);
});
