#!/bin/bash
# feed-test-source.sh BASE_DEB OUT_DEB WORK SERIES VERSION ENTRY PATCH...: a linux-source-SERIES deb of VERSION made from
# BASE_DEB (Debian's own) the way Debian's next upload would differ: the same tree with PATCHes applied (-p1, paths
# relative to the kernel tree), ENTRY (a changelog entry, as text) on top of changelog.Debian.gz, the control file's
# Version and md5sums updated. Only the changed members are replaced in the source tar (tar --delete, then appended);
# the tar is compressed again with xz -0 (what the feed and the builder read: ./usr/src/linux-source-SERIES.tar.xz),
# the fastest xz there is, and the deb is built uncompressed (-Znone: its payload is that .tar.xz already).
set -euo pipefail
base=$1 out=$2 work=$3 series=$4 version=$5 entry=$6
shift 6
top=linux-source-$series
root=$work/root
dpkg-deb -R "$base" "$root"
tarball=$root/usr/src/$top.tar.xz
changelog=$root/usr/share/doc/$top/changelog.Debian.gz
members=()
for patch in "$@"; do
  while read -r file; do members+=("$top/$file"); done < <(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$patch")
done
xz -dc "$tarball" > "$work/src.tar"
mkdir -p "$work/edit"
tar -xf "$work/src.tar" -C "$work/edit" "${members[@]}"
for patch in "$@"; do patch -s -p1 -d "$work/edit/$top" --no-backup-if-mismatch < "$patch"; done
tar --delete -f "$work/src.tar" "${members[@]}"
tar -rf "$work/src.tar" -C "$work/edit" --owner=0 --group=0 --numeric-owner "${members[@]}"
xz -0 -T0 -c "$work/src.tar" > "$tarball"
rm "$work/src.tar"
{ printf '%s\n\n' "$entry"; gzip -dc "$changelog"; } | gzip -9n > "$changelog.new"
mv "$changelog.new" "$changelog"
sed -i "s/^Version: .*/Version: $version/" "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums)
dpkg-deb -Znone --root-owner-group -b "$root" "$out" > /dev/null
