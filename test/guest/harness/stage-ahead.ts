// The guest suites' host work that needs no guest, done ahead while the unit tests run (scripts/test): the guest
// image and the Debian package the daemon suite installs (packaging/build-deb, ≈ 1 min whenever its inputs changed,
// which is every CI run). Both are cached by their inputs' hash, so the suites then find them made.
// Run: node dist/test/guest/harness/stage-ahead.js
import { ensureImage } from './image';
import { packageDebs } from './package-repo';

async function main(): Promise<void> {
  const started = Date.now();
  await ensureImage();
  const imageDone = Date.now();
  packageDebs();
  console.log(`stage-ahead: image ${((imageDone - started) / 1000).toFixed(1)} s, package ${((Date.now() - imageDone) / 1000).toFixed(1)} s`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
