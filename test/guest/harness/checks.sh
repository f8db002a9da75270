# Assertions for in-guest entry scripts, sourced from bash. Each check appends one TAP line to $GUEST_WORK/checks.tap,
# which the host test turns into one subtest per check (checks.ts). A failing check never stops the script: later
# checks still run and report, so one guest boot tells everything.
CHECKS_FILE=${GUEST_WORK:-/mnt/work}/checks.tap

_record() { # status name detail
  local detail=${3:-}; detail=${detail//$'\n'/ ⏎ }
  if [ "$1" = ok ]; then echo "ok - boot $GUEST_BOOT: $2" >> "$CHECKS_FILE"
  else echo "not ok - boot $GUEST_BOOT: $2 # ${detail:0:1500}" >> "$CHECKS_FILE"; fi
  echo "[$1 at $(cut -d" " -f1 /proc/uptime)s] $2" > /dev/console
}

# check NAME COMMAND...: passes when COMMAND exits 0.
check() {
  local name=$1 out; shift
  if out=$("$@" 2>&1); then _record ok "$name"; else _record fail "$name" "exit $?: $out"; fi
}

# check_fails NAME COMMAND...: passes when COMMAND exits non-zero.
check_fails() {
  local name=$1 out; shift
  if out=$("$@" 2>&1); then _record fail "$name" "unexpectedly succeeded: $out"; else _record ok "$name"; fi
}

# check_eq NAME ACTUAL EXPECTED
check_eq() {
  if [ "$2" = "$3" ]; then _record ok "$1"; else _record fail "$1" "expected [$3], got [$2]"; fi
}

# check_match NAME TEXT EXTENDED-REGEX
check_match() {
  if grep -Eq -- "$3" <<< "$2"; then _record ok "$1"; else _record fail "$1" "[$2] does not match /$3/"; fi
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.2 s; exit status of the last try.
wait_until() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}
