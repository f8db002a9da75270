import * as path from 'node:path';

/** The repository root (this file runs from dist/test/support). */
export const REPO = path.resolve(__dirname, '../../..');
