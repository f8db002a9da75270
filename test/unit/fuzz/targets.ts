// The fuzz targets by name, built from plain data so a worker thread can build the same one (see worker.ts): each
// says how its real inputs are mutated, what is run, and which errors are that reader's named ones.

import { dirname } from 'node:path';
import { loadObject } from '../../../src/build/differ/object';
import { parsePatch, TreeLookup } from '../../../src/build/patch/patchfile';
import { ElfFormatError, parseElf, SHT } from '../../../src/elf/reader';
import { isSourcePatch } from '../../../src/engine/build-step';
import { isSplicedError } from '../../../src/errors';
import { moduleInfoOf } from '../../../src/kernel/modinfo';
import { entriesBetween, filesNamedBy, parseChangelog } from '../../../src/sources/feed/changelog';
import { Field, FuzzTarget, mutateBytes, mutateText, Random, stacked } from './fuzz';

export type TargetName = 'elf-reader' | 'object-loader' | 'module-door' | 'patch' | 'changelog';

export interface TargetData {
  /** The real input(s): the first is mutated, all are donors of splices. */
  inputs: (Uint8Array | string)[];
}

const asBuffer = (u: Uint8Array | string) => (typeof u === 'string' ? Buffer.from(u) : Buffer.from(u.buffer, u.byteOffset, u.byteLength));
const asText = (u: Uint8Array | string) => (typeof u === 'string' ? u : asBuffer(u).toString('utf8'));

/** The places of an object where a huge value does the most harm: header counts and offsets, section and symbol fields. */
function fieldsOf(bytes: Buffer): Field[] {
  const fields: Field[] = [
    { at: 40, width: 8 }, // e_shoff
    { at: 58, width: 2 }, // e_shentsize
    { at: 60, width: 2 }, // e_shnum
    { at: 62, width: 2 }, // e_shstrndx
  ];
  const elf = parseElf(bytes);
  const shoff = Number(bytes.readBigUInt64LE(40));
  for (const s of elf.sections) {
    const at = shoff + s.index * 64;
    fields.push({ at, width: 4 }, { at: at + 4, width: 4 }, { at: at + 24, width: 8 }, { at: at + 32, width: 8 });
    fields.push({ at: at + 40, width: 4 }, { at: at + 44, width: 4 }, { at: at + 56, width: 8 });
    if (s.type === SHT.SYMTAB) {
      for (let sym = 0; sym * 24 < Math.min(s.size, 24 * 64); sym++) {
        const st = s.offset + sym * 24;
        fields.push({ at: st, width: 4 }, { at: st + 6, width: 2 }, { at: st + 16, width: 8 });
      }
    }
    if (s.type === SHT.RELA) fields.push({ at: s.offset + 8, width: 8 });
  }
  return fields;
}

/** Everything the reader offers, as the differ and the kernel port use it. */
function readWhole(bytes: Buffer): void {
  const elf = parseElf(bytes);
  for (const s of elf.sections) {
    elf.sectionData(s);
    if (s.type === SHT.RELA) elf.relocations(s);
  }
  elf.symbols();
  elf.sectionByName('.modinfo');
}

function elfTarget(data: TargetData, run: (b: Buffer) => void, allowed: (err: unknown) => boolean): FuzzTarget<Buffer> {
  const donors = data.inputs.map(asBuffer);
  const [input] = donors;
  const fields = fieldsOf(input);
  return {
    mutate: (rng: Random) =>
      stacked(rng, input, (b) => {
        const m = mutateBytes(rng, b, fields, donors);
        return { value: m.bytes, how: m.how };
      }),
    run,
    allowed,
    save: (b) => b,
  };
}

/** A tree holding every file the patches touch (and their directories): the lookup the builder passes. */
function treeOf(patches: string[]): TreeLookup {
  const files = new Set<string>();
  for (const p of patches) for (const m of p.matchAll(/^\+\+\+ b\/(\S+)/gm)) files.add(m[1]);
  const dirs = new Set<string>();
  for (const f of files) for (let d = dirname(f); d !== '.'; d = dirname(d)) dirs.add(d);
  return (rel, kind) => (kind === 'dir' ? dirs.has(rel) : files.has(rel));
}

function textTarget(data: TargetData, run: (text: string) => void, allowed: (err: unknown) => boolean): FuzzTarget<string> {
  const inputs = data.inputs.map(asText);
  return {
    mutate: (rng: Random) =>
      stacked(rng, rng.pick(inputs), (text) => {
        const m = mutateText(rng, text, inputs);
        return { value: m.text, how: m.how };
      }),
    run,
    allowed,
    save: (text) => Buffer.from(text),
  };
}

const isElfError = (err: unknown) => err instanceof ElfFormatError;
const PATCH_ERRORS = ['InvalidArgument', 'UnsafePatch', 'BuildFailed'] as const;
/** Files a delta names, for the changelog's file matching. */
const DELTA_FILES = ['fs/ext4/mballoc.c', 'fs/nfsd/nfs4state.c', 'net/core/dev.c', 'include/linux/fs.h'];

export function makeTarget(name: TargetName, data: TargetData): FuzzTarget<Buffer> | FuzzTarget<string> {
  switch (name) {
    case 'elf-reader':
      return elfTarget(data, readWhole, isElfError);
    case 'object-loader':
      return elfTarget(data, (b) => loadObject(b), isElfError);
    case 'module-door':
      return elfTarget(data, (b) => moduleInfoOf(b, 'fuzz.ko'), (err) => isSplicedError(err, 'CorruptModule'));
    case 'patch': {
      const lookup = treeOf(data.inputs.map(asText));
      const run = (text: string) => {
        isSourcePatch(Buffer.from(text));
        parsePatch(text);
        parsePatch(text, lookup);
      };
      return textTarget(data, run, (err) => PATCH_ERRORS.some((kind) => isSplicedError(err, kind)));
    }
    case 'changelog': {
      const run = (text: string) => {
        const entries = parseChangelog(text);
        const versions = entries.map((e) => e.version);
        entriesBetween(entries, versions.at(-1) ?? '0', versions[0] ?? '0');
        for (const entry of entries) for (const line of entry.lines) filesNamedBy(line, DELTA_FILES);
      };
      // It names no errors: nothing may be thrown.
      return textTarget(data, run, () => false);
    }
  }
}
