// Which objects of a directory this kernel configuration links, read from the directory's kbuild Makefile.
// kbuild compiles any `dir/x.o` asked for (even a .c that is only #included elsewhere, like kernel/sched/stats.c),
// so the builder must know on its own whether an object is part of the kernel at all. When the Makefile is too
// clever to read (variables, $(subst …), conditionals), the answer is "linked": compiling an object the kernel
// does not have costs a compile, while skipping one it has would silently drop part of a fix.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';

type ConfigValue = 'y' | 'm' | '';

export type Config = ReadonlyMap<string, string>;

/** CONFIG_* settings of a .config. */
export async function readConfig(sourceDir: string): Promise<Config> {
  const text = await fs.readFile(path.join(sourceDir, '.config'), 'utf8');
  return new Map([...text.matchAll(/^(CONFIG_\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
}

/**
 * - linked: in a list this configuration builds (or named where we cannot tell);
 * - not-configured: only in lists whose option is unset;
 * - unlisted: not named in the Makefile at all (a .c #included by another one, or a list built by functions).
 */
export type Linkage = 'linked' | 'not-configured' | 'unlisted';

interface Assignment {
  /** `obj`, `lib`, or a composite object's name (`ext4` of `ext4-y`). */
  target: string;
  value: ConfigValue;
  objects: string[];
}

const ASSIGNMENT = /^([A-Za-z0-9_-]+?)-(y|m|objs|\$\((CONFIG_\w+)\))\s*(?::=|\+=|=)(.*)$/;

interface Makefile {
  lists: Assignment[];
  /** Lines that are not simple list assignments (for "named where we cannot tell"). */
  otherLines: string[];
}

function readMakefile(text: string, config: Config): Makefile {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.replace(/#.*/, ''));
  const lists: Assignment[] = [];
  const otherLines: string[] = [];
  for (const line of lines) {
    const m = ASSIGNMENT.exec(line);
    if (!m) {
      otherLines.push(line);
      continue;
    }
    const [, target, suffix, configName, rest] = m;
    let value: ConfigValue;
    if (configName) {
      const setting = config.get(configName);
      value = setting === 'y' || setting === 'm' ? setting : '';
    } else value = suffix === 'm' ? 'm' : 'y';
    lists.push({ target, value, objects: rest.split(/\s+/).filter((w) => w.endsWith('.o')) });
  }
  return { lists, otherLines };
}

/** `name` used as a word, not as part of a per-object flag variable (CFLAGS_x.o) or a rule target ($(obj)/x.o:). */
function mentions(line: string, name: string): boolean {
  const escaped = name.replace(/[.+]/g, '\\$&');
  return new RegExp(`(^|[\\s=:(,])${escaped}(?=[\\s),]|$)`).test(line);
}

/**
 * How `object` (e.g. "fs/ext4/inode.o") is linked in this configuration, judged by its directory's Makefile.
 * Conditionals (ifdef/ifeq) are not evaluated. A directory kbuild does not descend into is caught by make itself
 * ("No rule to make target"). Which module an object belongs to is read from kbuild's compile command (compile.ts).
 */
export async function linkageOf(sourceDir: string, object: string, config: Config): Promise<Linkage> {
  const dir = path.posix.dirname(object);
  const text =
    (await fs.readFile(path.join(sourceDir, dir, 'Kbuild'), 'utf8').catch(() => undefined)) ??
    (await fs.readFile(path.join(sourceDir, dir, 'Makefile'), 'utf8').catch(() => ''));
  const makefile = readMakefile(text, config);
  const resolve = (name: string, seen: Set<string>): Linkage => {
    if (makefile.otherLines.some((line) => mentions(line, name))) return 'linked';
    const containing = makefile.lists.filter((l) => l.objects.includes(name));
    if (containing.length === 0) return 'unlisted';
    for (const list of containing.filter((l) => l.value !== '')) {
      if (list.target === 'obj' || list.target === 'lib') return 'linked';
      const composite = `${list.target}.o`;
      if (seen.has(composite)) continue;
      // A composite named nowhere is put together in a way we cannot read: assume it is built.
      if (resolve(composite, new Set([...seen, composite])) !== 'not-configured') return 'linked';
    }
    return 'not-configured';
  };
  return resolve(path.posix.basename(object), new Set());
}
