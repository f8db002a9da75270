// The notifier's user unit and XDG autostart entry (units/): both start the same `splicectl monitor --notify`,
// with the graphical session; the desktop entry is valid for desktop-file-validate.

import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { it } from 'node:test';
import { parseCommandLine } from '../../../src/cli/args';
import { REPO, run } from '../bus/harness';

const unitFile = path.join(REPO, 'units/spliced-notifier.service');
const desktopFile = path.join(REPO, 'units/spliced-notifier.desktop');

/** key=value lines of an ini-style file, by section. */
function sections(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let current = new Map<string, string>();
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) out.set(header[1], (current = new Map()));
    else if (/^[\w-]+=/.test(line)) current.set(line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1));
  }
  return out;
}

it('the user unit starts with the graphical session and runs splicectl monitor --notify', () => {
  const unit = sections(readFileSync(unitFile, 'utf8'));
  assert.equal(unit.get('Install')?.get('WantedBy'), 'graphical-session.target');
  assert.equal(unit.get('Unit')?.get('PartOf'), 'graphical-session.target');
  const [program, ...args] = unit.get('Service')!.get('ExecStart')!.split(' ');
  assert.equal(program, '/usr/bin/splicectl');
  const inv = parseCommandLine(args, {});
  assert.deepEqual([inv.command, inv.notify, inv.json], ['monitor', true, false]);
});

it('the autostart entry runs the same command, is skipped where systemd runs the unit, and is valid', async () => {
  const entry = sections(readFileSync(desktopFile, 'utf8')).get('Desktop Entry')!;
  const unit = sections(readFileSync(unitFile, 'utf8')).get('Service')!;
  assert.equal(entry.get('Exec'), unit.get('ExecStart')!.replace('/usr/bin/', ''));
  assert.equal(entry.get('X-systemd-skip'), 'true');
  const r = await run('desktop-file-validate', [desktopFile]);
  assert.deepEqual([r.code, r.stdout + r.stderr], [0, '']);
});

it('systemd-analyze verify --user finds nothing wrong in the unit (run from the checkout, the man page not yet installed)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spliced-unit-'));
  try {
    chmodSync(dir, 0o700);
    // The unit as installed, but starting the checkout's splicectl (nothing is installed to /usr/bin here).
    const unit = readFileSync(unitFile, 'utf8').replace('/usr/bin/splicectl', `${process.execPath} ${path.join(REPO, 'dist/src/cli/main.js')}`);
    const copy = path.join(dir, 'spliced-notifier.service');
    writeFileSync(copy, unit);
    const r = await run('systemd-analyze', ['verify', '--user', copy], { env: { XDG_RUNTIME_DIR: dir } });
    const complaints = (r.stdout + r.stderr).split('\n').filter((l) => l !== '' && !/Command 'man splicectl\(1\)' failed/.test(l));
    assert.deepEqual(complaints, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
