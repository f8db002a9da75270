#!/bin/bash
# Mounts the copies of the host's prepared kernel trees (trees.ts) where the builder looks for them:
# /var/cache/spliced/trees/<entry>, read-write (the disks are per-run copies; nothing reaches the host's cache).
# $GUEST_WORK/kernel-trees.tsv lists "serial<TAB>entry" per disk. Run at every boot that builds. Idempotent.
set -euo pipefail
root=/var/cache/spliced/trees
while IFS=$'\t' read -r serial entry; do
  mountpoint -q "$root/$entry" && continue
  mkdir -p "$root/$entry"
  mount -o noatime "/dev/disk/by-id/virtio-$serial" "$root/$entry"
done < "${GUEST_WORK:-/mnt/work}/kernel-trees.tsv"
