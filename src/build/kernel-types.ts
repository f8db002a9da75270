// The target kernel's own types, as BTF, for the layout check (differ/safety-layout.ts): the running kernel's
// /sys/kernel/btf/vmlinux and /sys/kernel/btf/<module> (readable by any user), or, for a kernel that is not running
// here, the `.BTF` section of its vmlinux (from the image package) and of its module's .ko (a module's BTF is split:
// it continues vmlinux's). A module that is neither loaded nor has a .ko at hand has none: the pre object decides.

import { readFile } from 'node:fs/promises';
import { Btf, parseBtf } from '../elf/btf';
import { parseElf } from '../elf/reader';

export type KernelTypes = (target: string) => Promise<Btf | undefined>;

/** The `.BTF` section of an ELF file (vmlinux, .ko), undefined when it has none. */
export function btfSection(elf: Buffer): Buffer | undefined {
  const file = parseElf(elf);
  const section = file.sectionByName('.BTF');
  return section ? file.sectionData(section) : undefined;
}

/**
 * `vmlinux`: raw BTF of the kernel (sysfs) or undefined; `sysfs`: the running kernel's /sys/kernel/btf directory,
 * searched first for a module; `modules`: .ko files by module name. Each BTF is parsed once, on first use.
 */
export function kernelTypes(vmlinux: () => Promise<Buffer | undefined>, modules: ReadonlyMap<string, Buffer>, sysfs?: string): KernelTypes {
  let base: Promise<Btf | undefined> | undefined;
  const cache = new Map<string, Promise<Btf | undefined>>();
  const baseBtf = () => (base ??= vmlinux().then((raw) => (raw ? parseBtf(raw) : undefined)));
  const moduleBtf = async (module: string): Promise<Btf | undefined> => {
    const root = await baseBtf();
    if (!root) return undefined;
    const live = sysfs ? await readFile(`${sysfs}/${module}`).catch(() => undefined) : undefined;
    const ko = modules.get(module);
    const raw = live ?? (ko && btfSection(ko));
    return raw ? parseBtf(raw, root) : undefined;
  };
  return (target) => {
    if (target === 'vmlinux') return baseBtf();
    if (!cache.has(target)) cache.set(target, moduleBtf(target));
    return cache.get(target)!;
  };
}
