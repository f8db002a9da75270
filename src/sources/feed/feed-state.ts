// What the feed remembers across restarts, in <state_dir>/feed/state.json (docs/files.md): when it first saw each
// offered version (feed_delay counts from there: apt's indexes carry no publication time per package), the last
// version it announced, and the splice it built for a running kernel and target. Written atomically.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeWhole } from '../write-whole';
import type { RefusedFix } from './feed-splice';

export interface BuiltSplice {
  /** The running kernel (release and source version) the splice is for. */
  release: string;
  running: string;
  target: string;
  /** The module file, or null when no change of the delta reaches compiled code. */
  module: string | null;
  /** The module's sha256: the applied patch it became has the same. */
  sha256: string | null;
  complete: boolean;
  refused: RefusedFix[];
  rebootReasons: string[];
}

export interface FeedMemory {
  /** ISO time each source version was first seen offered. */
  firstSeen: Record<string, string>;
  announced: string | null;
  built: BuiltSplice | null;
}

const EMPTY: FeedMemory = { firstSeen: {}, announced: null, built: null };

export class FeedState {
  readonly file: string;
  private memory: FeedMemory;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, 'state.json');
    this.memory = read(this.file);
  }

  get(): Readonly<FeedMemory> {
    return this.memory;
  }

  update(change: Partial<FeedMemory>): void {
    this.memory = { ...this.memory, ...change };
    writeWhole(this.file, `${JSON.stringify(this.memory, null, 2)}\n`, 0o600);
  }

  /** When `version` was first seen, recording now if it is new. */
  firstSeen(version: string, now: Date): Date {
    const known = this.memory.firstSeen[version];
    if (known !== undefined) return new Date(known);
    this.update({ firstSeen: { ...this.memory.firstSeen, [version]: now.toISOString() } });
    return now;
  }
}

/** A missing or unreadable file is a fresh start: at worst a delay starts again and a splice is built again. */
function read(file: string): FeedMemory {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<FeedMemory>;
    return { ...EMPTY, ...parsed };
  } catch {
    return { ...EMPTY };
  }
}
