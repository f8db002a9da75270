// The target kernel's own types, as BTF, for the layout check (differ/safety-layout.ts): the running kernel's
// /sys/kernel/btf/vmlinux and /sys/kernel/btf/<module> (readable by any user), or, for a kernel that is not running
// here, the `.BTF` section of its vmlinux (from the image package) and of its module's .ko (a module's BTF is split:
// it continues vmlinux's). Where there is none, or it cannot be read, the answer says why and the layout check
// compares the pre and post objects only (the build report says so); it never fails a build.

import { readFile } from 'node:fs/promises';
import { Btf, parseBtf } from '../elf/btf';
import { parseElf } from '../elf/reader';
import { readKernelFile } from '../kernel/read-kernel-file';

/** One klp object's types and the file they came from, or why there are none. */
export type TargetTypes = { btf: Btf; source: string } | { btf?: undefined; missing: string };
export type KernelTypes = (target: string) => Promise<TargetTypes>;

/** Raw BTF and where it came from, or why there is none. */
type RawBtf = { data: Buffer; source: string } | { data?: undefined; missing: string };

export const SYSFS_BTF = '/sys/kernel/btf';

/** The `.BTF` section of an ELF file (vmlinux, .ko), undefined when it has none. */
export function btfSection(elf: Buffer): Buffer | undefined {
  const file = parseElf(elf);
  const section = file.sectionByName('.BTF');
  return section ? file.sectionData(section) : undefined;
}

function sectionOf(elf: Buffer, source: string): RawBtf {
  let data: Buffer | undefined;
  try {
    data = btfSection(elf);
  } catch (err) {
    return { missing: `${source} cannot be read as ELF: ${(err as Error).message}` };
  }
  return data ? { data, source: `${source}'s .BTF section` } : { missing: `${source} has no .BTF section` };
}

/** Each BTF is read and parsed once, on first use; any failure becomes the reason there are no types. */
function typesFrom(vmlinux: () => Promise<RawBtf>, module: (name: string) => Promise<RawBtf>): KernelTypes {
  const parsed = async (raw: () => Promise<RawBtf>, base?: Btf): Promise<TargetTypes> => {
    let found: RawBtf;
    try {
      found = await raw();
    } catch (err) {
      return { missing: (err as Error).message };
    }
    if (found.data === undefined) return found;
    try {
      return { btf: parseBtf(found.data, base), source: found.source };
    } catch (err) {
      return { missing: `${found.source} cannot be read as BTF: ${(err as Error).message}` };
    }
  };
  let root: Promise<TargetTypes> | undefined;
  const rootTypes = () => (root ??= parsed(vmlinux));
  const cache = new Map<string, Promise<TargetTypes>>();
  const moduleTypes = async (name: string): Promise<TargetTypes> => {
    // A module name becomes a path under /sys/kernel/btf: nothing but a name.
    if (!/^[\w-]+$/.test(name)) return { missing: `${JSON.stringify(name)} is not a module name` };
    const base = await rootTypes();
    if (!base.btf) return { missing: `no vmlinux types for ${name}'s to continue: ${base.missing}` };
    return parsed(() => module(name), base.btf);
  };
  return (target) => {
    if (target === 'vmlinux') return rootTypes();
    if (!cache.has(target)) cache.set(target, moduleTypes(target));
    return cache.get(target)!;
  };
}

/** Whether an fs error is "no such file". */
const absent = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The running kernel's types: `sysfs` (/sys/kernel/btf), a module that is not loaded from its installed .ko
 * (`modules`, by module name).
 */
export function runningKernelTypes(modules: ReadonlyMap<string, Buffer>, sysfs = SYSFS_BTF): KernelTypes {
  const live = async (name: string): Promise<RawBtf | undefined> => {
    const source = `${sysfs}/${name}`;
    try {
      return { data: await readKernelFile(source), source };
    } catch (err) {
      if (absent(err)) return undefined;
      throw new Error(`${source}: ${(err as Error).message}`);
    }
  };
  return typesFrom(
    async () => (await live('vmlinux')) ?? { missing: `${sysfs}/vmlinux does not exist (a kernel built without CONFIG_DEBUG_INFO_BTF)` },
    async (name) => {
      const loaded = await live(name);
      if (loaded) return loaded;
      const ko = modules.get(name);
      return ko ? sectionOf(ko, `${name}.ko`) : { missing: `${name} is not loaded (no ${sysfs}/${name}) and no ${name}.ko is installed` };
    },
  );
}

/** Another kernel's types: its image package's vmlinux file and its modules' .ko files. */
export function imageKernelTypes(vmlinux: string, modules: ReadonlyMap<string, Buffer>): KernelTypes {
  return typesFrom(
    async () => sectionOf(await readFile(vmlinux), vmlinux),
    async (name) => {
      const ko = modules.get(name);
      return ko ? sectionOf(ko, `${name}.ko`) : { missing: `the image package has no ${name}.ko` };
    },
  );
}
