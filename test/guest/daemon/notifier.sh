# The desktop notifier as the package installs it, in a real graphical session of the user tester, shown the daemon's
# real events. Sourced by entry.sh in boot 1, spliced installed from its package:
#   notifier.sh start: tester's systemd user manager (loginctl enable-linger) and session bus (dbus-user-session);
#     Xvfb and Debian's dunst (its own user unit) in a session target bound to graphical-session.target, as a desktop's
#     session target is (with xdg-desktop-autostart.target, as GNOME's); DISPLAY given to the manager as a desktop
#     session gives it. The package's spliced-notifier.service, enabled for every graphical session, starts with it:
#     nothing here starts it; its XDG autostart entry must not start a second one.
#   notifier.sh check: after boot 1's apply of A (its CVE in its .modinfo), apply of B and refused revert of A
#     (RevertOrder): exactly one notification per event, read back from dunst (dunstctl history); Xvfb's framebuffer
#     (-fbdir: an XWD file) is the screenshot, left on the share for the host (daemon.test.ts keeps it as evidence).
#     Then the session ends and tester lingers no more: the rest of the suite runs as before.
# shellcheck shell=bash

notifier_uid=$(id -u tester)
notifier_runtime=/run/user/$notifier_uid
notifier_display=:7
# Runtime user units (the user manager's search path), written before the manager starts: gone at the next boot.
notifier_units=/run/systemd/user

# A command as tester, finding their manager and session bus as the session's own programs do.
notifier_as_tester() {
  runuser -u tester -- env XDG_RUNTIME_DIR="$notifier_runtime" DBUS_SESSION_BUS_ADDRESS="unix:path=$notifier_runtime/bus" "$@"
}
notifier_watching() {
  journalctl -b _SYSTEMD_USER_UNIT=spliced-notifier.service -o cat --no-pager | grep -q 'posting desktop notifications'
}
# notifier_counted displayed|history N: dunst holds N notifications there.
notifier_counted() { test "$(notifier_as_tester dunstctl count "$1")" = "$2"; }

case "$1" in
start)
  notifier_started=$(date +%s%N)
  mkdir -p "$notifier_units" /home/tester/.config/dunst
  cat > "$notifier_units/spliced-test-xvfb.service" <<UNIT
[Unit]
Description=X display without a screen (the notifier test's desktop)
PartOf=spliced-test-desktop.target
Before=dunst.service
[Service]
RuntimeDirectory=spliced-test-xvfb
ExecStart=/usr/bin/Xvfb $notifier_display -screen 0 1024x768x24 -nolisten tcp -fbdir %t/spliced-test-xvfb
ExecStartPost=/bin/sh -c 'until [ -S /tmp/.X11-unix/X${notifier_display#:} ]; do sleep 0.2; done'
UNIT
  cat > "$notifier_units/spliced-test-desktop.target" <<UNIT
[Unit]
Description=The notifier test's desktop session (what a desktop's session target is to graphical-session.target)
BindsTo=graphical-session.target
Before=graphical-session.target
# XDG autostart entries too, as GNOME's session starts them: the notifier's own entry must not start a second copy.
Wants=spliced-test-xvfb.service dunst.service xdg-desktop-autostart.target
After=spliced-test-xvfb.service dunst.service
UNIT
  # tester's own dunst settings: notifications stay until closed (the screenshot shows every one), and two alike are
  # two (dunst stacks duplicates by default, which would hide a notification posted twice).
  cat > /home/tester/.config/dunst/dunstrc <<'CONF'
[global]
    font = DejaVu Sans 10
    width = 560
    offset = 10x10
    format = "<b>%a: %s</b>\n%b"
    stack_duplicates = false
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
CONF
  chown -R tester: /home/tester/.config
  check "notifier: loginctl enable-linger tester" loginctl enable-linger tester
  check "notifier: tester's user manager runs, with its session bus" \
    wait_until 60 bash -c "systemctl is-active -q user@$notifier_uid.service && test -S $notifier_runtime/bus"
  notifier_as_tester env DISPLAY="$notifier_display" systemctl --user import-environment DISPLAY
  check "notifier: a graphical session starts (Xvfb, Debian's dunst unit, graphical-session.target)" \
    notifier_as_tester systemctl --user start spliced-test-desktop.target
  check "notifier: the package's spliced-notifier.service started with it, and watches spliced" wait_until 60 notifier_watching
  check_eq "notifier: one runs (its XDG autostart entry, X-systemd-skip, started none)" "$(pgrep -u tester -fc 'splicectl monitor --notify')" 1
  notifier_pid=$(notifier_as_tester systemctl --user show -P MainPID spliced-notifier.service)
  check_eq "notifier: it runs as tester, on Debian's nodejs" \
    "$(stat -c %U "/proc/$notifier_pid") $(dpkg -S "$(readlink -f "/proc/$notifier_pid/exe")" | cut -d: -f1)" "tester nodejs"
  echo "notifier: the session took $(( ($(date +%s%N) - notifier_started) / 1000000 )) ms to start" > /dev/console
  ;;
check)
  notifier_started=$(date +%s%N)
  # The last event's notification may still be on its way.
  check "notifier: three notifications are shown" wait_until 30 notifier_counted displayed 3
  cp "$notifier_runtime/spliced-test-xvfb/Xvfb_screen0" "$GUEST_WORK/notifier-screen.xwd"
  notifier_as_tester dunstctl close-all # closed ones go to dunst's history, which dunstctl can read
  wait_until 10 notifier_counted history 3
  notifier_history=$(notifier_as_tester dunstctl history)
  notifier_ids=$("${BUS[@]}" --json=short call "${MGR[@]}" List | jq -r '.data[0][] | select(.[1] == "spliced_lp_cmdline" or .[1] == "test_klp_livepatch") | .[1] + "=" + .[0]')
  notifier_a=$(grep -oP '^spliced_lp_cmdline=\K.*' <<< "$notifier_ids")
  notifier_b=$(grep -oP '^test_klp_livepatch=\K.*' <<< "$notifier_ids")
  # spliced's notifications in the order they came, as "summary|body" (the body's lines joined by "/").
  notifier_shown=$(jq -r '.data[0] | sort_by(.id.data) | .[] | select(.appname.data == "spliced") | .summary.data + "|" + (.body.data | gsub("\n"; "/"))' <<< "$notifier_history")
  check_eq "notifier: one notification per event: A applied (its CVE from its .modinfo), B applied (none), A's revert refused" \
    "$notifier_shown" \
    "Kernel patched without a reboot|spliced test fixture: livepatch of cmdline_proc_show/Fixes CVE-2026-99001/Patch $notifier_a
Kernel patched without a reboot|Livepatch test: livepatch module/No CVEs declared/Patch $notifier_b
Kernel patch failed: RevertOrder|patch $notifier_a (spliced_lp_cmdline) has patches above it; revert these first, topmost first: $notifier_b (test_klp_livepatch) (or revert down to it)/Patch $notifier_a (spliced_lp_cmdline)"
  journalctl -b _UID="$notifier_uid" -o short-monotonic --no-pager > "$GUEST_WORK/notifier-journal-boot$GUEST_BOOT.txt" 2>&1
  notifier_as_tester systemctl --user stop spliced-test-desktop.target
  loginctl disable-linger tester
  loginctl terminate-user tester
  check "notifier: the session ended (tester's manager stopped)" wait_until 30 bash -c "! systemctl is-active -q user@$notifier_uid.service"
  echo "notifier: the check and the session's end took $(( ($(date +%s%N) - notifier_started) / 1000000 )) ms" > /dev/console
  ;;
esac
