// The run-pre self-check's count: every function of an unpatched object run-pre checked against a kernel's code
// (a file image on the host, live memory in the guest), matches and mismatches by class. Shared by
// bench/runpre-selfcheck.ts and its live half (bench/runpre-selfcheck/live.ts).
import { loadObject } from '../../src/build/differ/object';
import { checkFunction, runPreSites } from '../../src/build/runpre/check';
import { RunningKernel } from '../../src/build/runpre/sources';
import { STB } from '../../src/elf/reader';

export interface Tally {
  functions: number;
  matched: number;
  /** Matches among several same-named running functions: told apart by code, or (same code) by translation unit or position. */
  duplicates: { byCode: number; byPosition: number };
  /** Functions the target does not run as compiled here, for a reason that is not run-pre's: named per reason. */
  notRunning: Map<string, string[]>;
  mismatches: Map<string, string[]>;
}

function add(map: Map<string, string[]>, key: string, item: string): void {
  map.set(key, [...(map.get(key) ?? []), item]);
}

export function checkObject(object: string, bytes: Buffer, target: string, kernel: RunningKernel, tally: Tally): void {
  const obj = loadObject(bytes);
  const sites = runPreSites(obj);
  for (const fn of obj.functions) {
    if (fn.size === 0) continue;
    tally.functions++;
    const result = checkFunction(obj, fn, target, kernel, sites);
    const where = `${object}:${fn.name}`;
    if (result.matched.length === 1) {
      tally.matched++;
      if (result.entries > 1) tally.duplicates[result.byPosition ? 'byPosition' : 'byCode']++;
      continue;
    }
    if (result.matched.length > 1) {
      add(tally.mismatches, 'several running functions match, position does not tell', where);
      continue;
    }
    const section = obj.sections[fn.shndx].name;
    if (result.entries === 0) add(tally.notRunning, 'not in the target (discarded or merged at link time)', where);
    // Live memory only: the kernel frees its init code after boot (a change to it is refused as init before run-pre),
    // and rewrites a static call's trampoline whenever the call's target is set.
    else if (/^\.(init|exit)\./.test(section)) add(tally.notRunning, 'init or exit code, freed after boot (a change to it is refused as init)', where);
    else if (fn.name.startsWith('__SCT__')) add(tally.notRunning, "a static call's trampoline, rewritten by the kernel", where);
    else if (fn.bind === STB.WEAK && !kernel.entriesOf(target, fn.name).some((e) => /^[wW]$/.test(e.type))) {
      add(tally.notRunning, 'weak, another (strong) definition is linked', where);
    }
    else add(tally.mismatches, result.difference?.reason ?? 'unreadable', `${where}+0x${(result.difference?.offset ?? 0).toString(16)}`);
  }
}

export function newTally(): Tally {
  return { functions: 0, matched: 0, duplicates: { byCode: 0, byPosition: 0 }, notRunning: new Map(), mismatches: new Map() };
}

/** The match rate, how same-named functions were told apart, and every mismatch by class (`show` of each). */
export function printTally(tally: Tally, show: number, print: (line: string) => void): void {
  const mismatched = [...tally.mismatches.values()].reduce((n, l) => n + l.length, 0);
  const notRunning = [...tally.notRunning.values()].reduce((n, l) => n + l.length, 0);
  const checked = tally.matched + mismatched;
  print(`functions: ${tally.functions}; checked ${checked}: ${tally.matched} match, ${mismatched} mismatch — ${((100 * tally.matched) / Math.max(1, checked)).toFixed(2)}% match`);
  print(`same-named running functions: ${tally.duplicates.byCode} told apart by code, ${tally.duplicates.byPosition} by translation unit or position`);
  print(`not run-pre's to check (${notRunning}):`);
  for (const [why, list] of tally.notRunning) print(`  ${list.length}  ${why}  e.g. ${list.slice(0, 3).join(', ')}`);
  print(`mismatches by class (${mismatched}):`);
  for (const [why, list] of [...tally.mismatches].sort((a, b) => b[1].length - a[1].length)) {
    print(`  ${list.length}  ${why}`);
    for (const item of list.slice(0, show)) print(`      ${item}`);
  }
}
