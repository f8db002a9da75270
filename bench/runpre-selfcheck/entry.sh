#!/bin/bash
# The run-pre self-check's live half (bench/runpre-selfcheck/live.ts), then the end of the run.
set -u
node "$SPLICED_SRC/dist/bench/runpre-selfcheck/live.js" > /dev/console 2>&1
