#!/bin/bash
# The Debian package as an administrator meets it, in the guest, with only Debian's archive to draw on: the local
# repository $GUEST_WORK/repo (the spliced .debs and exactly the Debian .debs the image lacks for them) is the guest's
# only apt source, and the image's copy of the host's Node is removed first, so Debian's nodejs is the one that runs.
# Boot 1: install, status, man page, a splice applied, upgrade to a newer build with the splice live. Boot 2: the
# stack reapplied at boot, then remove (state kept) and purge (state gone).
set -u
source "$SPLICED_SRC/test/guest/harness/checks.sh"
repo=$GUEST_WORK/repo
read -r first_version upgrade_version < "$GUEST_WORK/versions"
module=$GUEST_WORK/fixtures/stack/spliced_lp_stack_01.ko
effect() { grep -qF 'cmdline patched by spliced_lp_stack_01' /proc/cmdline; }
# The id of the patch named NAME, from splicectl's JSON.
patch_id() { splicectl list --json | jq -r --arg n "$1" '.[] | select(.name == $n) | .id'; }
export DEBIAN_FRONTEND=noninteractive

if [ "$GUEST_BOOT" = 1 ]; then
  rm -f /usr/local/bin/node
  check_fails "no Node before the package brings Debian's" bash -c 'command -v node'
  mkdir -p /etc/apt/sources.list.d.image
  mv /etc/apt/sources.list.d/* /etc/apt/sources.list.d.image/ 2>/dev/null
  rm -f /etc/apt/sources.list
  echo "deb [trusted=yes] file:$repo ./" > /etc/apt/sources.list.d/spliced-test.list
  check "apt-get update (the local repository only)" apt-get update -q
  # man-db's index rebuild takes minutes under TCG and `man NAME` finds a page without it.
  echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
  check "apt-get install ./spliced_${first_version}_amd64.deb" \
    apt-get install -y -q --no-install-recommends "$repo/spliced_${first_version}_amd64.deb" man-db
  check_eq "node is Debian's nodejs" "$(dpkg -S "$(readlink -f "$(command -v node)")" | cut -d: -f1)" nodejs
  check "spliced.service is enabled" systemctl is-enabled spliced.service
  check_match "postinst made the build user (sysusers.d)" "$(getent passwd spliced-build)" '^spliced-build:x:[0-9]+:[0-9]+:.*:/usr/sbin/nologin$'
  check_eq "the build template is installed, never enabled (spliced starts its instances)" \
    "$(systemctl show -P UnitFileState spliced-build@x.service) $(systemctl show -P LoadState spliced-build@x.service)" "static loaded"
  check "the notifier's user unit is enabled for every user session" systemctl --global is-enabled spliced-notifier.service
  check_eq "... WantedBy graphical-session.target" "$(readlink /etc/systemd/user/graphical-session.target.wants/spliced-notifier.service)" \
    /usr/lib/systemd/user/spliced-notifier.service
  check "the notifier's XDG autostart entry is installed" grep -qx 'Exec=splicectl monitor --notify' /etc/xdg/autostart/spliced-notifier.desktop
  check "... and in /usr/share/applications (the notifications' desktop-entry hint)" cmp /etc/xdg/autostart/spliced-notifier.desktop /usr/share/applications/spliced-notifier.desktop
  check "spliced.service is active" wait_until 60 systemctl is-active spliced.service
  status=0; out=$(splicectl status 2>&1) || status=$?
  check_eq "README: splicectl status: nothing applied (exit 2)" "$status" 2
  check_match "splicectl status names the running kernel" "$out" "$(uname -r)"
  out=$(MANWIDTH=80 man -P cat splicectl 2>&1)
  check_match "README: man splicectl renders" "$out" 'splicectl - control spliced'
  check_match "... with docs/cli.md as its body (options, exit codes)" "$out" '^ +--no-ask-password$'
  for page in spliced.8 spliced.conf.5 org.spliced.Spliced1.5; do
    check "man ${page%.*}(${page##*.}) is installed" test -s "/usr/share/man/man${page##*.}/$page.gz"
  done
  check "busctl introspects org.spliced.Spliced1" busctl introspect org.spliced.Spliced1 /org/spliced/Spliced1
  cp "$module" /root/fix.ko
  check "README: splicectl apply ./fix.ko (a fixture livepatch)" bash -c 'cd /root && splicectl apply ./fix.ko'
  check "the splice's effect is visible" effect
  pid_before=$(systemctl show -P MainPID spliced.service)
  check "apt-get install spliced (upgrade to $upgrade_version)" apt-get install -y -q --no-install-recommends spliced
  check_eq "the newer build is installed" "$(dpkg-query -W -f='${Version}' spliced)" "$upgrade_version"
  check "spliced.service is active after the upgrade" wait_until 60 systemctl is-active spliced.service
  check_fails "the upgrade restarted the daemon (new code runs)" test "$(systemctl show -P MainPID spliced.service)" = "$pid_before"
  check_eq "the splice stayed live through the upgrade" "$(cat /sys/kernel/livepatch/spliced_lp_stack_01/enabled 2>&1)" 1
  check "... and its effect too" effect
  check_eq "... and it is recorded as applied" "$(splicectl list --json | jq -r '.[] | select(.name == "spliced_lp_stack_01") | .state')" applied
  exit 99
fi

check "spliced.service is active after the reboot" wait_until 60 systemctl is-active spliced.service
check_eq "Debian's nodejs serves it (no other node)" "$(command -v node)" /usr/bin/node
check "the stack was reapplied at boot: effect visible" effect
status=0; splicectl status >/dev/null 2>&1 || status=$?
check_eq "splicectl status: up to date (exit 0)" "$status" 0
# The README's first steps and busctl examples, as written there (fix.ko is the fixture, copied at boot 1).
check_match "README: busctl get-property … EffectiveVersion" \
  "$(busctl get-property org.spliced.Spliced1 /org/spliced/Spliced1 org.spliced.Spliced1.Manager EffectiveVersion)" '^s "'
check_match "README: splicectl list (ID and MODULE)" "$(splicectl list)" "^1 +$(patch_id spliced_lp_stack_01) +spliced_lp_stack_01 +applied "
check_match "README: splicectl uname -a" "$(splicectl uname -a)" "^Linux version $(uname -r) "
check "README: splicectl revert ID" splicectl revert "$(patch_id spliced_lp_stack_01)"
check_fails "... the effect is gone" effect
check_match "README: busctl call … Apply 'sa{sv}' /root/fix.ko 0" \
  "$(busctl call org.spliced.Spliced1 /org/spliced/Spliced1 org.spliced.Spliced1.Manager Apply 'sa{sv}' /root/fix.ko 0)" \
  '^o "/org/spliced/Spliced1/job/[0-9]+"$'
check "... the effect is back" wait_until 60 effect
check "apt-get remove spliced" apt-get remove -y -q spliced
check_fails "the service is gone" systemctl is-active spliced.service
check "remove keeps the state (/var/lib/spliced/spliced.db)" test -s /var/lib/spliced/spliced.db
check "remove leaves the live patch loaded" test -d /sys/kernel/livepatch/spliced_lp_stack_01
check "apt-get purge spliced" apt-get purge -y -q spliced
check_fails "purge deletes /var/lib/spliced" test -e /var/lib/spliced
check_fails "purge deletes /var/cache/spliced" test -e /var/cache/spliced
exit 0
