#!/bin/bash
# The corpus guest half, at every boot of the 6.1.0-53 guest: try the splices not tried yet (run.ts resumes after a
# reset), then end the run.
set -u
node "$SPLICED_SRC/dist/bench/corpus-guest/run.js" > /dev/console 2>&1
