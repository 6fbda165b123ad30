# Sourced by scripts/bootstrap.sh and scripts/demo.sh: run each step quietly, one line per step.
#
#   step "what it does" command [args...]
#
# The step's own output (apt's, pip's, the image builds', egov's tables) goes to $STEPS_LOG; the
# screen gets one line per step with its duration, and on a terminal a ticking line with the
# step's latest log line while it runs. A failed step prints the log's last lines and its path,
# then exits with the step's status.

STEPS_LOG_DIR=${EGOV_LOG_DIR:-/var/log/egov}
STEPS_STARTED=$(date +%s.%N)

steps_log() {  # steps_log NAME: start the log file $STEPS_LOG_DIR/NAME.log
  mkdir -p "$STEPS_LOG_DIR"
  STEPS_LOG="$STEPS_LOG_DIR/$1.log"
  : >"$STEPS_LOG"
}

steps_seconds() {  # seconds since $1 (date +%s.%N), one decimal
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

step() {
  local title=$1; shift
  local started rc=0 pid
  started=$(date +%s.%N)
  echo "== $title" >>"$STEPS_LOG"
  if [ -t 1 ]; then
    "$@" >>"$STEPS_LOG" 2>&1 </dev/null & pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      printf '\r\033[K  %-34s %6ss  %s' "$title" "$(steps_seconds "$started")" \
        "$(tail -n 1 "$STEPS_LOG" | tr -d '\r' | cut -c1-60)"
      sleep 0.2
    done
    wait "$pid" || rc=$?
    printf '\r\033[K'
  else
    "$@" >>"$STEPS_LOG" 2>&1 </dev/null || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    printf '  %-34s FAILED after %ss (exit %s); last lines of %s:\n' "$title" "$(steps_seconds "$started")" \
      "$rc" "$STEPS_LOG"
    tail -n 25 "$STEPS_LOG" | sed 's/^/    /'
    exit "$rc"
  fi
  printf '  %-34s %6ss\n' "$title" "$(steps_seconds "$started")"
}

steps_total() {  # seconds since the script sourced this file
  steps_seconds "$STEPS_STARTED"
}
