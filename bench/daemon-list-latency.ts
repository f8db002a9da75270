// Runs inside the guest (bench/daemon-guest/entry.sh): times org.spliced.Spliced1.Manager.List over the system bus as a
// client sees it, after a warm-up, and prints one JSON line with the percentiles in milliseconds.
import * as dbus from 'dbus-next';

const CALLS = 300;
const WARMUP = 20;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const bus = dbus.systemBus();
  const object = await bus.getProxyObject('org.spliced.Spliced1', '/org/spliced/Spliced1');
  const manager = object.getInterface('org.spliced.Spliced1.Manager');
  let patches = 0;
  const times: number[] = [];
  for (let i = 0; i < WARMUP + CALLS; i++) {
    const started = process.hrtime.bigint();
    const list = (await manager.List()) as unknown[];
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (i >= WARMUP) times.push(ms);
    patches = list.length;
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ patches, calls: CALLS, p50: percentile(times, 50), p99: percentile(times, 99) }));
  bus.disconnect();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
