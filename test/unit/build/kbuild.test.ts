import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linkageOf, readConfig } from '../../../src/build/kbuild';

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
demo-$(CONFIG_DEMO_OFF) += off.o   # off.o is not built here
CFLAGS_off.o := -DDEMO
$(obj)/off.o: $(obj)/generated.h
obj-y += always.o
obj-$(CONFIG_DEMO_TEST) += demo-test.o
demo-test-objs += selftest.o
obj-$(subst m,y,$(CONFIG_DEMO_FS)) += clever.o
DEMO_EXTRA := viavar.o
obj-y += $(DEMO_EXTRA)
`;

async function linkage(config: string, object: string) {
  const root = fakeTree(MAKEFILE, config);
  return linkageOf(root, `fs/demo/${object}`, await readConfig(root));
}

test('objects of composite modules and config-dependent parts', async () => {
  const config = 'CONFIG_DEMO_FS=m\nCONFIG_DEMO_ACL=y\n# CONFIG_DEMO_OFF is not set\n';
  assert.equal(await linkage(config, 'inode.o'), 'linked');
  assert.equal(await linkage(config, 'dir.o'), 'linked', 'continuation lines are part of the list');
  assert.equal(await linkage(config, 'acl.o'), 'linked');
  assert.equal(await linkage(config, 'always.o'), 'linked');
  assert.equal(await linkage(config, 'off.o'), 'not-configured', 'per-object flags and rules are not inclusions');
  assert.equal(await linkage(config, 'selftest.o'), 'not-configured', 'its module is not configured');
  assert.equal(await linkage(config, 'stats.o'), 'unlisted');
});

test('a composite whose own option is off links none of its parts', async () => {
  assert.equal(await linkage('CONFIG_DEMO_ACL=y\n', 'inode.o'), 'not-configured');
  assert.equal(await linkage('CONFIG_DEMO_ACL=y\n', 'always.o'), 'linked');
});

test('objects named in ways the reader cannot evaluate count as linked', async () => {
  assert.equal(await linkage('', 'clever.o'), 'linked', '$(subst …) in the list name');
  assert.equal(await linkage('', 'viavar.o'), 'linked', 'list built from a variable');
});
