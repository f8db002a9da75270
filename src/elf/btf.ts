// BTF, the kernel's compact type format (Documentation/bpf/btf.rst): a header, a type section and a string section.
// Read from /sys/kernel/btf/vmlinux (raw), /sys/kernel/btf/<module> (split BTF: its type ids and string offsets
// continue the vmlinux BTF's), or the `.BTF` section of a vmlinux, a .ko, or an object `pahole -J` encoded.
// Only what layout checks need is kept: every type's kind, name, size and members / enumerators / target type.

import { ElfFormatError } from './reader';

export const BTF_MAGIC = 0xeb9f;

export type BtfKind =
  | 'void' | 'int' | 'ptr' | 'array' | 'struct' | 'union' | 'enum' | 'fwd' | 'typedef' | 'volatile' | 'const'
  | 'restrict' | 'func' | 'func_proto' | 'var' | 'datasec' | 'float' | 'decl_tag' | 'type_tag' | 'enum64';

const KINDS: BtfKind[] = [
  'void', 'int', 'ptr', 'array', 'struct', 'union', 'enum', 'fwd', 'typedef', 'volatile', 'const', 'restrict', 'func',
  'func_proto', 'var', 'datasec', 'float', 'decl_tag', 'type_tag', 'enum64',
];

export interface BtfMember {
  name: string;
  type: number;
  /** Offset from the start of the struct, in bits. */
  bitOffset: number;
  /** Width of a bitfield member, 0 for a whole member. */
  bitSize: number;
}

export interface BtfType {
  id: number;
  kind: BtfKind;
  name: string;
  /** Bytes, for int/struct/union/enum/float/datasec; 0 otherwise. */
  size: number;
  /** Referenced type (ptr, typedef, const, volatile, restrict, func, var, type_tag, decl_tag; array element). */
  type: number;
  /** Array element count. */
  count: number;
  members: BtfMember[];
  /** Enumerators (enum, enum64). */
  values: { name: string; value: bigint }[];
}

export interface Btf {
  /** Types by id; 0 is void. A split BTF's array starts with its base's types. */
  types: BtfType[];
  strings: (offset: number) => string;
}

/** Parses raw BTF. `base`: the vmlinux BTF a module's split BTF continues. */
export function parseBtf(data: Buffer, base?: Btf): Btf {
  if (data.length < 24 || data.readUInt16LE(0) !== BTF_MAGIC) throw new ElfFormatError('not BTF (bad magic)');
  const hdrLen = data.readUInt32LE(4);
  const typeOff = data.readUInt32LE(8);
  const typeLen = data.readUInt32LE(12);
  const strOff = data.readUInt32LE(16);
  const strLen = data.readUInt32LE(20);
  const typesStart = hdrLen + typeOff;
  const stringsStart = hdrLen + strOff;
  if (typesStart + typeLen > data.length || stringsStart + strLen > data.length) throw new ElfFormatError('BTF sections beyond its end');
  const baseStrings = base ? base.strings : undefined;
  // A split BTF's string offsets start where its base's string section ends.
  const baseStrLen = base ? (base as BtfWithLength).stringLength : 0;
  const strings = (offset: number): string => {
    if (offset < baseStrLen && baseStrings) return baseStrings(offset);
    const at = stringsStart + offset - baseStrLen;
    if (at < stringsStart || at >= stringsStart + strLen) throw new ElfFormatError(`BTF string offset ${offset} out of range`);
    const end = data.indexOf(0, at);
    return data.toString('latin1', at, end < 0 ? stringsStart + strLen : end);
  };
  const types: BtfType[] = base ? [...base.types] : [{ id: 0, kind: 'void', name: '', size: 0, type: 0, count: 0, members: [], values: [] }];
  let at = typesStart;
  const end = typesStart + typeLen;
  while (at < end) {
    if (at + 12 > end) throw new ElfFormatError('truncated BTF type');
    const nameOff = data.readUInt32LE(at);
    const info = data.readUInt32LE(at + 4);
    const sizeOrType = data.readUInt32LE(at + 8);
    const vlen = info & 0xffff;
    const kind = KINDS[(info >>> 24) & 0x1f];
    if (kind === undefined) throw new ElfFormatError(`unknown BTF kind ${(info >>> 24) & 0x1f}`);
    const kindFlag = (info >>> 31) !== 0;
    at += 12;
    const t: BtfType = { id: types.length, kind, name: strings(nameOff), size: 0, type: 0, count: 0, members: [], values: [] };
    switch (kind) {
      case 'int':
        t.size = sizeOrType;
        at += 4;
        break;
      case 'array':
        t.type = data.readUInt32LE(at);
        t.count = data.readUInt32LE(at + 8);
        at += 12;
        break;
      case 'struct':
      case 'union':
        t.size = sizeOrType;
        for (let i = 0; i < vlen; i++, at += 12) {
          const offset = data.readUInt32LE(at + 8);
          t.members.push({
            name: strings(data.readUInt32LE(at)),
            type: data.readUInt32LE(at + 4),
            bitOffset: kindFlag ? offset & 0xffffff : offset,
            bitSize: kindFlag ? offset >>> 24 : 0,
          });
        }
        break;
      case 'enum':
        t.size = sizeOrType;
        for (let i = 0; i < vlen; i++, at += 8) {
          const raw = data.readUInt32LE(at + 4);
          t.values.push({ name: strings(data.readUInt32LE(at)), value: BigInt(kindFlag ? raw : data.readInt32LE(at + 4)) });
        }
        break;
      case 'enum64':
        t.size = sizeOrType;
        for (let i = 0; i < vlen; i++, at += 12) {
          const value = (BigInt(data.readUInt32LE(at + 8)) << 32n) | BigInt(data.readUInt32LE(at + 4));
          t.values.push({ name: strings(data.readUInt32LE(at)), value: kindFlag ? value : BigInt.asIntN(64, value) });
        }
        break;
      case 'func_proto':
        t.type = sizeOrType;
        at += 8 * vlen;
        break;
      case 'var':
        t.type = sizeOrType;
        at += 4;
        break;
      case 'datasec':
        t.size = sizeOrType;
        at += 12 * vlen;
        break;
      case 'decl_tag':
        t.type = sizeOrType;
        at += 4;
        break;
      case 'float':
        t.size = sizeOrType;
        break;
      default:
        t.type = sizeOrType;
    }
    types.push(t);
  }
  const btf: BtfWithLength = { types, strings, stringLength: baseStrLen + strLen };
  return btf;
}

interface BtfWithLength extends Btf {
  stringLength: number;
}

/** A type as C names it, for messages and comparisons: `struct list_head *`, `u64`, `char [16]`. */
export function typeName(btf: Btf, id: number, depth = 0): string {
  const t = btf.types[id];
  if (!t || depth > 16) return '?';
  switch (t.kind) {
    case 'void':
      return 'void';
    case 'struct':
    case 'union':
    case 'enum':
    case 'fwd':
      return `${t.kind === 'enum' ? 'enum' : t.kind === 'fwd' ? 'struct' : t.kind} ${t.name || '(anon)'}`;
    case 'enum64':
      return `enum ${t.name || '(anon)'}`;
    case 'ptr':
      return `${typeName(btf, t.type, depth + 1)} *`;
    case 'array':
      return `${typeName(btf, t.type, depth + 1)} [${t.count}]`;
    case 'const':
    case 'volatile':
    case 'restrict':
      return `${t.kind} ${typeName(btf, t.type, depth + 1)}`;
    case 'type_tag':
      return typeName(btf, t.type, depth + 1);
    case 'func_proto':
      return 'function';
    default:
      return t.name;
  }
}
