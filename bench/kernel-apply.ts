// Apply and revert latency of livepatches in the test guest (Debian's 6.1 kernel under QEMU), median of ≥ 5 runs.
// Run: npx tsc -p tsconfig.json && node dist/bench/kernel-apply.js
import { runKernelSuite } from '../test/guest/kernel-suite';

runKernelSuite({ tests: false, bench: true }).then(
  (run) => {
    if (run.bootSeconds !== undefined) console.log(`guest booted to the entry script in ${run.bootSeconds} s`);
    process.stdout.write(run.bench ?? `no bench output; guest console tail:\n${run.guest.console.slice(-3000)}\n`);
    process.exit(run.benchExitCode === 0 ? 0 : 1);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
