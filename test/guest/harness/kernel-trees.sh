#!/bin/bash
# Mounts the copies of the host's prepared kernel trees (trees.ts) where the builder looks for them:
# /var/cache/spliced/trees/<entry>, read-write (the disks are per-run copies; nothing reaches the host's cache).
# $GUEST_WORK/kernel-trees.tsv lists "serial<TAB>entry<TAB>uid" per disk: the copies belong to spliced-build (uid),
# as trees the build unit prepared would, and so does trees/; the user is created with that id if spliced is not
# installed yet (its sysusers.d entry then finds it). Run at every boot that builds. Idempotent.
set -euo pipefail
root=/var/cache/spliced/trees
while IFS=$'\t' read -r serial entry uid; do
  if ! getent passwd spliced-build > /dev/null; then
    systemd-sysusers --inline "u spliced-build $uid \"spliced kernel builds\" $root /usr/sbin/nologin"
  fi
  if [ "$(id -u spliced-build)" != "$uid" ]; then
    echo "kernel-trees.sh: spliced-build is uid $(id -u spliced-build), the tree copies belong to $uid" >&2
    exit 1
  fi
  # As the build unit's CacheDirectory= would have made it: systemd chowns a trees/ of another owner whole.
  install -d -o spliced-build -g spliced-build -m 0700 "$root"
  mountpoint -q "$root/$entry" && continue
  mkdir -p "$root/$entry"
  mount -o noatime "/dev/disk/by-id/virtio-$serial" "$root/$entry"
done < "${GUEST_WORK:-/mnt/work}/kernel-trees.tsv"
