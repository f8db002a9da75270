// Where run-pre reads "the running kernel's code": a source answers symbol lookups (kallsyms text: the running
// kernel's /proc/kallsyms, or one captured from it) and reads bytes at a running address. Sources: a vmlinux file
// (e.g. `scripts/extract-vmlinux /boot/vmlinuz-R`, symbols stripped) shifted by the KASLR offset, or live memory
// through /proc/kcore. Injectable, so tests run against a linked file without a kernel.

import { openSync, readSync, closeSync } from 'node:fs';
import { SplicedError } from '../../errors';
import { parseElf, SHT } from '../../elf/reader';
import { KallsymsEntry, parseKallsyms } from '../module/symbols';

export interface RunningKernel {
  /** Entries named `name` in object ("vmlinux" or a module), in kallsyms order. */
  entriesOf(object: string, name: string): KallsymsEntry[];
  /** `length` bytes of running memory at `address`, or undefined when the source does not hold them. */
  read(address: bigint, length: number): Buffer | undefined;
  /** Whether this source holds the code of `target` ("vmlinux" or a module name). */
  covers(target: string): boolean;
  /** What to add to an absolute address read from the code to get its kallsyms address (KASLR; 0 for live memory). */
  absoluteSlide: bigint;
}

type Index = ReturnType<typeof parseKallsyms>;

function lookup(index: Index) {
  return (object: string, name: string) => index.get(object)?.get(name) ?? [];
}

/** A vmlinux ELF file (link-time addresses) plus kallsyms text of the running kernel (runtime, KASLR-shifted). */
export function vmlinuxFileSource(vmlinux: Buffer, kallsyms: string): RunningKernel {
  const index = parseKallsyms(kallsyms);
  const elf = parseElf(vmlinux);
  const sections = elf.sections.filter((s) => s.type === SHT.PROGBITS && (s.flags & 0x2n) !== 0n && s.addr !== 0n);
  const text = elf.sectionByName('.text');
  const runningText = index.get('vmlinux')?.get('_text')?.[0]?.address;
  // KASLR moves the whole image by one offset: kallsyms' _text minus the link address of .text.
  const slide = text && runningText !== undefined ? runningText - text.addr : 0n;
  return {
    entriesOf: lookup(index),
    absoluteSlide: slide,
    covers: (target) => target === 'vmlinux',
    read(address, length) {
      const linkAddress = address - slide;
      const section = sections.find((s) => linkAddress >= s.addr && linkAddress + BigInt(length) <= s.addr + BigInt(s.size));
      if (!section) return undefined;
      const at = Number(linkAddress - section.addr);
      return Buffer.from(elf.sectionData(section).subarray(at, at + length));
    },
  };
}

/** Live memory of the running kernel: /proc/kcore's PT_LOAD segments, with /proc/kallsyms (root only). */
export function kcoreSource(kallsyms: string, kcorePath = '/proc/kcore'): RunningKernel {
  const index = parseKallsyms(kallsyms);
  const fd = openSync(kcorePath, 'r');
  try {
    const header = Buffer.alloc(64);
    readSync(fd, header, 0, 64, 0);
    const phoff = Number(header.readBigUInt64LE(32));
    const phnum = header.readUInt16LE(56);
    const table = Buffer.alloc(phnum * 56);
    readSync(fd, table, 0, table.length, phoff);
    const segments: { offset: bigint; vaddr: bigint; size: bigint }[] = [];
    for (let i = 0; i < phnum; i++) {
      const at = i * 56;
      if (table.readUInt32LE(at) !== 1) continue; // PT_LOAD
      segments.push({ offset: table.readBigUInt64LE(at + 8), vaddr: table.readBigUInt64LE(at + 16), size: table.readBigUInt64LE(at + 32) });
    }
    return {
      entriesOf: lookup(index),
      absoluteSlide: 0n,
      covers: () => true,
      read(address, length) {
        const segment = segments.find((s) => address >= s.vaddr && address + BigInt(length) <= s.vaddr + s.size);
        if (!segment) return undefined;
        const out = Buffer.alloc(length);
        const kcore = openSync(kcorePath, 'r');
        try {
          // kcore offsets exceed 2^53: pass the position as a bigint.
          readSync(kcore, out, 0, length, segment.offset + (address - segment.vaddr));
        } finally {
          closeSync(kcore);
        }
        return out;
      },
    };
  } catch (err) {
    throw new SplicedError('BuildFailed', `the run-pre check cannot read the running kernel's memory (/proc/kcore): ${(err as Error).message}`);
  } finally {
    closeSync(fd);
  }
}
