// Run-pre of module code without a running kernel: a module's .ko file laid out and relocated the way the module
// loader would (each allocated section at its own address, RELA relocations applied), so its code can be read like
// running memory. Only the module's own symbols get real addresses: references to vmlinux or other modules are not
// checked by run-pre for a module target anyway (kallsyms of the module has no entry for them). Debian builds
// modules without -ffunction-sections, so calls inside one .text are already final in the file; laying .text out
// whole keeps them right.

import { SplicedError } from '../../errors';
import { parseElf, SHN, SHT, STT } from '../../elf/reader';
import { R_X86_64 } from '../../elf/x86';
import type { KallsymsEntry } from '../module/symbols';
import type { RunningKernel } from './sources';

const SHF_ALLOC = 0x2n;
const MASK64 = (1n << 64n) - 1n;

interface Placed {
  address: bigint;
  bytes: Buffer;
}

function fail(module: string, why: string): never {
  throw new SplicedError('BuildFailed', `the run-pre check cannot lay out ${module}.ko: ${why}`, { module });
}

/** Writes relocation `type` with value S + A (- P for PC-relative ones) into `bytes` at `at`. */
function applyRelocation(bytes: Buffer, at: number, type: number, value: bigint, place: bigint, module: string): void {
  switch (type) {
    case R_X86_64.R64:
      bytes.writeBigUInt64LE(value & MASK64, at);
      return;
    case R_X86_64.PC64:
      bytes.writeBigUInt64LE((value - place) & MASK64, at);
      return;
    case R_X86_64.PC32:
    case R_X86_64.PLT32:
      bytes.writeUInt32LE(Number((value - place) & 0xffffffffn), at);
      return;
    case R_X86_64.R32:
    case R_X86_64.R32S:
      bytes.writeUInt32LE(Number(value & 0xffffffffn), at);
      return;
    case R_X86_64.NONE:
      return;
    default:
      fail(module, `relocation type ${type} is not one the module loader handles`);
  }
}

/**
 * A module file as run-pre's "running kernel" for that one module, at addresses from `base` on. Its symbol entries
 * are in symbol-table order (the kernel lists a module's symbols in that order; see fileSymbols), so a run-pre
 * match gives the sympos the kernel will use.
 */
export function moduleFileSource(module: string, ko: Buffer, base: bigint): RunningKernel {
  const elf = parseElf(ko);
  const placed = new Map<number, Placed>();
  let next = base;
  for (const s of elf.sections) {
    if ((s.flags & SHF_ALLOC) === 0n || s.type === SHT.NULL) continue;
    const align = BigInt(Math.max(1, s.addralign));
    next = ((next + align - 1n) / align) * align;
    placed.set(s.index, { address: next, bytes: s.type === SHT.NOBITS ? Buffer.alloc(s.size) : Buffer.from(elf.sectionData(s)) });
    next += BigInt(s.size);
  }
  const symbols = elf.symbols();
  const addressOf = (index: number): bigint => {
    const s = symbols[index];
    if (s.shndx === SHN.UNDEF || s.shndx >= SHN.LORESERVE) return s.shndx === SHN.ABS ? s.value : 0n;
    return (placed.get(s.shndx)?.address ?? 0n) + s.value;
  };
  for (const rela of elf.sections.filter((s) => s.type === SHT.RELA)) {
    const target = placed.get(rela.info);
    if (!target) continue; // relocations of sections the loader does not keep (debug info)
    for (const r of elf.relocations(rela)) {
      applyRelocation(target.bytes, Number(r.offset), r.type, addressOf(r.symbol) + r.addend, target.address + r.offset, module);
    }
  }
  const byName = new Map<string, KallsymsEntry[]>();
  for (const s of symbols) {
    if (s.name === '' || s.type === STT.SECTION || s.type === STT.FILE || s.shndx === SHN.UNDEF) continue;
    const entry = { address: addressOf(s.index), type: s.bind === 0 ? 't' : 'T', name: s.name };
    byName.set(s.name, [...(byName.get(s.name) ?? []), entry]);
  }
  const entries = (name: string) => byName.get(name) ?? [];
  return {
    entriesOf: (object, name) => (object === module ? entries(name) : []),
    covers: (target) => target === module,
    absoluteSlide: 0n,
    read(address, length) {
      for (const p of placed.values()) {
        const at = address - p.address;
        if (at >= 0n && at + BigInt(length) <= BigInt(p.bytes.length)) return Buffer.from(p.bytes.subarray(Number(at), Number(at) + length));
      }
      return undefined;
    },
  };
}

/** vmlinux's code source plus module file sources: each object answered by the source that holds it. */
export function withModuleCode(vmlinux: RunningKernel, modules: RunningKernel[]): RunningKernel {
  const holder = (object: string) => modules.find((m) => m.covers(object)) ?? vmlinux;
  return {
    entriesOf: (object, name) => holder(object).entriesOf(object, name),
    covers: (target) => vmlinux.covers(target) || modules.some((m) => m.covers(target)),
    absoluteSlide: vmlinux.absoluteSlide,
    read: (address, length) => [vmlinux, ...modules].map((s) => s.read(address, length)).find((b) => b !== undefined),
  };
}
