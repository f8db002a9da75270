// A module file's .modinfo, read without loading it: name, vermagic, livepatch flag.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ElfFormatError, parseElf } from '../elf/reader';
import { SplicedError } from '../errors';
import { appendedSignature } from './module-signature';
import type { ModuleInfo } from './types';

/** The kernel's name for a module file name: extension dropped, `-` turned into `_`. */
export function moduleNameFromPath(path: string): string {
  return basename(path).replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');
}

/** `key=value` strings separated by NULs, as the kernel's MODULE_INFO lays them out. */
export function parseModinfo(data: Buffer): Record<string, string[]> {
  const fields: Record<string, string[]> = {};
  for (const entry of data.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const key = entry.slice(0, eq);
    (fields[key] ??= []).push(entry.slice(eq + 1));
  }
  return fields;
}

async function readModuleFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SplicedError('UnreadableModule', `cannot read module file ${path}: ${(err as Error).message}`, { path, code });
  }
}

export async function readModuleInfo(path: string): Promise<ModuleInfo> {
  return moduleInfoOf(await readModuleFile(path), path);
}

/** The modinfo of a module's bytes (`path` names it in messages): CorruptModule for anything that is not a module. */
export function moduleInfoOf(bytes: Buffer, path: string): ModuleInfo {
  let modinfo: Buffer;
  try {
    const elf = parseElf(bytes);
    const section = elf.sectionByName('.modinfo');
    if (!section) throw new ElfFormatError('no .modinfo section');
    modinfo = elf.sectionData(section);
  } catch (err) {
    if (!(err instanceof ElfFormatError)) throw err;
    throw new SplicedError('CorruptModule', `${path} is not a valid kernel module (${err.message})`, { path });
  }
  const fields = parseModinfo(modinfo);
  const vermagic = fields.vermagic?.[0];
  if (!vermagic) {
    throw new SplicedError('CorruptModule', `${path} is not a valid kernel module (its .modinfo has no vermagic)`, { path });
  }
  return {
    path,
    name: (fields.name?.[0] ?? moduleNameFromPath(path)).replace(/-/g, '_'),
    vermagic,
    release: vermagic.split(' ')[0],
    livepatch: fields.livepatch?.includes('Y') ?? false,
    signed: appendedSignature(bytes) !== undefined,
    description: fields.description?.[0],
    fields,
  };
}
