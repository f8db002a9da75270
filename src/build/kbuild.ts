// Which objects of a directory this kernel configuration links, read from the directory's kbuild Makefile.
// kbuild compiles any `dir/x.o` asked for (even a .c that is only #included elsewhere, like kernel/sched/stats.c),
// so the builder must know on its own whether an object is part of the kernel at all.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';

type ConfigValue = 'y' | 'm' | '';

export type Config = ReadonlyMap<string, string>;

/** CONFIG_* settings of a .config. */
export async function readConfig(sourceDir: string): Promise<Config> {
  const text = await fs.readFile(path.join(sourceDir, '.config'), 'utf8');
  return new Map([...text.matchAll(/^(CONFIG_\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
}

interface Assignment {
  /** `obj`, `lib`, or a composite object's name (`ext4` of `ext4-y`). */
  target: string;
  value: ConfigValue;
  objects: string[];
}

/** The list assignments of a kbuild Makefile (`obj-$(CONFIG_X) += a.o`, `ext4-y := b.o`, `foo-objs += c.o`). */
function assignments(makefile: string, config: Config): Assignment[] {
  const joined = makefile.replace(/\\\n/g, ' ');
  const result: Assignment[] = [];
  for (const m of joined.matchAll(/^([A-Za-z0-9_-]+?)-(y|m|objs|\$\((CONFIG_\w+)\))\s*(?::=|\+=|=)(.*)$/gm)) {
    const [, target, suffix, configName, rest] = m;
    let value: ConfigValue;
    if (configName) {
      const setting = config.get(configName);
      value = setting === 'y' || setting === 'm' ? setting : '';
    } else value = suffix === 'm' ? 'm' : 'y';
    const objects = rest.replace(/#.*/, '').split(/\s+/).filter((w) => w.endsWith('.o'));
    result.push({ target, value, objects });
  }
  return result;
}

/**
 * Whether `object` (e.g. "fs/ext4/inode.o") is linked into vmlinux or a module in this configuration, judged by its
 * directory's Makefile. Conditionals (ifdef/ifeq) are not evaluated, so the answer errs towards "linked"; a directory
 * kbuild does not descend into is caught by make itself ("No rule to make target"). Which module an object belongs
 * to is read from kbuild's own compile command instead (see compile.ts).
 */
export async function isLinked(sourceDir: string, object: string, config: Config): Promise<boolean> {
  const dir = path.posix.dirname(object);
  const makefile =
    (await fs.readFile(path.join(sourceDir, dir, 'Kbuild'), 'utf8').catch(() => undefined)) ??
    (await fs.readFile(path.join(sourceDir, dir, 'Makefile'), 'utf8').catch(() => ''));
  const lists = assignments(makefile, config).filter((a) => a.value !== '');
  const linked = (name: string, seen: Set<string>): boolean =>
    lists.some((list) => {
      if (!list.objects.includes(name)) return false;
      if (list.target === 'obj' || list.target === 'lib') return true;
      const composite = `${list.target}.o`;
      return !seen.has(composite) && linked(composite, new Set([...seen, composite]));
    });
  return linked(path.posix.basename(object), new Set());
}
