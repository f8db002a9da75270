// The man pages as `man` shows them: each docs/man frame rendered with its docs/ body (docs/man/render, go-md2man),
// then formatted by man(1). Also: the unit's Documentation= names exactly these pages.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { REPO } from '../../support/repo';

const MAN_DIR = path.join(REPO, 'docs/man');
const pages = readdirSync(MAN_DIR).filter((f) => f.endsWith('.md')).map((f) => f.slice(0, -'.md'.length));

describe('man pages', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'spliced-man-'));
  after(() => rmSync(out, { recursive: true, force: true }));
  const shown = (page: string): string => {
    const roff = path.join(out, page);
    execFileSync(path.join(MAN_DIR, 'render'), [path.join(MAN_DIR, `${page}.md`), roff]);
    return execFileSync('man', ['-l', roff], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MAN_KEEP_FORMATTING: '', LC_ALL: 'C.UTF-8' } });
  };

  it('there are the four pages', () => {
    assert.deepEqual([...pages].sort(), ['org.spliced.Spliced1.5', 'spliced.8', 'spliced.conf.5', 'splicectl.1'].sort());
  });

  for (const page of pages) {
    it(`${page} renders with its NAME line, its body and no leftovers of Markdown`, () => {
      const text = shown(page);
      const name = page.slice(0, page.lastIndexOf('.'));
      assert.match(text, new RegExp(`^NAME\\n +${name.replace(/\./g, '\\.')} +- `, 'm'));
      assert.match(text, /^DESCRIPTION$/m);
      assert.match(text, /^SEE ALSO$/m);
      assert.doesNotMatch(text, /<!--|^\s*\|.*\|\s*$|\]\(/m, 'a body marker, a table row or a link was left');
      assert.doesNotMatch(text, /^Tests$/m, "the developers' Tests section belongs to docs/ only");
    });
  }

  it('splicectl(1) is docs/cli.md: its options and exit codes are there', () => {
    const text = shown('splicectl.1');
    assert.match(text, /^ +--no-ask-password$/m);
    assert.match(text, /^ +77 +PermissionDenied/m);
    assert.match(text, /^ {7}ID .*MODULE/m);
  });

  it('a frame whose body file is missing is an error, not an empty page', () => {
    const frames = mkdtempSync(path.join(out, 'frames-'));
    writeFileSync(path.join(frames, 'x.1.md'), '% x 1\n\n# NAME\n\nx - y\n\n<!-- body: ../missing.md -->\n');
    assert.throws(() => execFileSync(path.join(MAN_DIR, 'render'), [path.join(frames, 'x.1.md'), path.join(frames, 'x.1')], { stdio: 'pipe' }), /missing\.md, which does not exist/);
  });

  it("the unit's Documentation= names exactly these pages", () => {
    const unit = readFileSync(path.join(REPO, 'units/spliced.service'), 'utf8');
    const documented = /^Documentation=(.*)$/m.exec(unit)?.[1].split(/\s+/) ?? [];
    const asManRefs = pages.map((p) => `man:${p.slice(0, p.lastIndexOf('.'))}(${p.slice(p.lastIndexOf('.') + 1)})`);
    assert.deepEqual([...documented].sort(), asManRefs.sort());
  });
});
