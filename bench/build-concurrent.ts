// Two builds against one prepared tree: each alone (one after the other: what a lock over the whole build would
// give) and both started together (what the tree lock, held for apply → compile → restore and for the module link,
// gives). Each build is its own `spliced build` process, as daemon workers and the command are.
// Run: npx tsc -p tsconfig.json && node dist/bench/build-concurrent.js [--runs 3]
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { benchTree, median, RELEASE, runsArg, seconds, timed } from './build-common';

const COMMAND = resolve(__dirname, '../src/build/command.js');
const PATCHES = resolve(__dirname, '../../test/fixtures/patches');
const FIXTURES = ['01-string-meminfo.patch', '02-logic-uptime.patch'];

interface Built {
  ms: number;
  /** The build's own figure for its compile step: waiting for the tree lock included. */
  compileMs: number;
}

function build(fixture: string, out: string): Promise<Built> {
  return timed(
    () =>
      new Promise<{ compileMs: number }>((done, fail) =>
        execFile(process.execPath, [COMMAND, 'build', '--kernel-release', RELEASE, join(PATCHES, fixture), '-o', join(out, `${fixture}.ko`), '--json'], (err, stdout) =>
          err ? fail(new Error(`${fixture}: ${stdout || err.message}`)) : done(JSON.parse(stdout) as { compileMs: number }),
        ),
      ),
  ).then(({ ms, value }) => ({ ms, compileMs: value.compileMs }));
}

async function main(): Promise<void> {
  const runs = runsArg(3);
  await benchTree();
  const out = mkdtempSync(join(tmpdir(), 'bench-concurrent-'));
  const alone: number[] = [];
  const together: number[] = [];
  const lines: string[] = [];
  try {
    for (const f of FIXTURES) await build(f, out); // pre objects cached, target image ready
    for (let i = 0; i < runs; i++) {
      const a = await build(FIXTURES[0], out);
      const b = await build(FIXTURES[1], out);
      alone.push(a.ms + b.ms);
      const both = await timed(() => Promise.all(FIXTURES.map((f) => build(f, out))));
      together.push(both.ms);
      lines.push(
        `  run ${i + 1}: alone ${seconds(a.ms)} + ${seconds(b.ms)} = ${seconds(a.ms + b.ms)}; together ${seconds(both.ms)} ` +
          `(each ${both.value.map((v) => `${seconds(v.ms)}, compile+wait ${seconds(v.compileMs)}`).join('; ')})`,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  console.log(`two one-TU builds (${FIXTURES.join(', ')}), ${runs} runs:`);
  lines.forEach((l) => console.log(l));
  console.log(`  one after the other: median ${seconds(median(alone))}; started together: median ${seconds(median(together))}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
