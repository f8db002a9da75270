#!/bin/bash
# Installs spliced in the guest from its Debian package, with only Debian's archive to draw on: the local repository
# REPO (made on the host by localAptRepo: the spliced .debs and exactly the Debian .debs the image lacks for them,
# Debian's nodejs among them) becomes the guest's only apt source, and the image's copy of the host's Node moves off
# PATH to /usr/local/libexec/host-node (the test's own tools, run from the checkout whose native addons are built for
# it, use it from there), so that only Debian's nodejs runs spliced and splicectl.
# Usage: install-package.sh REPO VERSION
set -euo pipefail
repo=$1 version=$2
export DEBIAN_FRONTEND=noninteractive
mkdir -p /usr/local/libexec
mv /usr/local/bin/node /usr/local/libexec/host-node
mkdir -p /etc/apt/sources.list.d.image
find /etc/apt/sources.list.d -mindepth 1 -maxdepth 1 -exec mv -t /etc/apt/sources.list.d.image/ {} +
rm -f /etc/apt/sources.list
echo "deb [trusted=yes] file:$repo ./" > /etc/apt/sources.list.d/spliced-test.list
apt-get update -q
# man-db's index rebuild takes minutes under TCG, and `man NAME` finds a page without it.
echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-unsafe-io "$repo/spliced_${version}_amd64.deb" man-db
