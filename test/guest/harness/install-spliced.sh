#!/bin/bash
# Installs a staged spliced (see install.ts) into the guest's root as a package would, then starts it.
# Usage: install-spliced.sh STAGE_DIR
set -euo pipefail
stage=$1
rm -rf /usr/lib/spliced
cp -a "$stage/lib" /usr/lib/spliced
chmod 0755 /usr/lib/spliced/dist/src/daemon/main.js /usr/lib/spliced/dist/src/cli/main.js
ln -sf /usr/lib/spliced/dist/src/daemon/main.js /usr/sbin/spliced
ln -sf /usr/lib/spliced/dist/src/cli/main.js /usr/bin/splicectl
# The unit runs Debian's /usr/bin/node; the image carries the host's Node in /usr/local/bin instead of the nodejs package.
[ -e /usr/bin/node ] || ln -s /usr/local/bin/node /usr/bin/node
install -m 0644 "$stage/units/spliced.service" "$stage/units/spliced-build@.service" "$stage/units/spliced-reboot-flag.service" /etc/systemd/system/
install -m 0644 "$stage/units/sysusers.d/spliced.conf" /usr/lib/sysusers.d/spliced.conf
systemd-sysusers spliced.conf
install -m 0644 "$stage/dbus/org.spliced.Spliced1.conf" /usr/share/dbus-1/system.d/
install -m 0644 "$stage/dbus/org.spliced.Spliced1.service" /usr/share/dbus-1/system-services/
install -m 0644 "$stage/dbus/org.spliced.policy" /usr/share/polkit-1/actions/
mkdir -p /usr/share/dbus-1/interfaces
install -m 0644 "$stage"/dbus/org.spliced.Spliced1.*.xml /usr/share/dbus-1/interfaces/
systemctl daemon-reload
systemctl reload dbus.service
systemctl enable spliced.service
