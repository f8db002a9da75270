// The README demo: build a splice from a kernel source patch with `spliced build` on this host, for Debian's
// 6.1.0-56-amd64, then boot that kernel in a QEMU guest and apply the splice live through spliced and splicectl.
// Run: scripts/demo
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_KERNEL, repoRoot, runGuest, stageInstall } from '../guest/harness';

const PATCH = 'test/fixtures/patches/01-string-meminfo.patch';

function say(line: string): void {
  process.stdout.write(`\n== ${line}\n`);
}

async function main(): Promise<number> {
  const workDir = mkdtempSync(join(tmpdir(), 'spliced-demo-'));
  try {
    say(`The patch (${PATCH}):`);
    process.stdout.write(readFileSync(join(repoRoot(), PATCH), 'utf8').split('\n').filter((l) => /^[-+@]/.test(l)).join('\n') + '\n');
    say(`Building a splice for ${DEFAULT_KERNEL}: only the touched file is compiled, before and after, and the objects are diffed`);
    const spliced = join(repoRoot(), 'dist/src/daemon/main.js');
    execFileSync(process.execPath, [spliced, 'build', '--kernel-release', DEFAULT_KERNEL, join(repoRoot(), PATCH), '-o', join(workDir, 'demo.ko')], {
      stdio: 'inherit',
    });
    say('Booting Debian 12 with its own kernel in QEMU (about 20 s here, no KVM)');
    stageInstall(workDir);
    copyFileSync(join(repoRoot(), 'test/demo/entry.sh'), join(workDir, 'entry.sh'));
    let pending = '';
    const result = await runGuest({
      name: 'demo',
      workDir,
      entry: 'entry.sh',
      timeoutMs: 10 * 60_000,
      onConsole: (chunk) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          const at = line.indexOf('demo| ');
          if (at >= 0) process.stdout.write(line.slice(at + 6).replace(/\r$/, '') + '\n');
        }
      },
    });
    if (result.exitCode !== 0) {
      process.stderr.write(`demo failed in the guest (exit ${result.exitCode}); console tail:\n${result.console.slice(-3000)}\n`);
      return 1;
    }
    say('Done: the running kernel was patched and unpatched live.');
    return 0;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
