#!/usr/bin/env bash
# The suite's speed, measured (not asserted): the whole suite on SQLite and on
# PostgreSQL in the dev topology, and in the production topology (two replicas
# without --dev on PostgreSQL behind nginx with TLS), one after the other on
# this machine, each RUNS times (default 3), with the process backend.
# LAYOUTS="sqlite production" measures some of them only. For each run it prints the scenarios, the wall time
# after Kratos is ready (the scenarios and the flow documentation), the summed
# server-side time of the suite's requests (from Kratos' request log), and the
# ratio of the scenarios' wall time to (server time ÷ cores).
#
#   scripts/bench.sh            # RUNS=5 scripts/bench.sh
#
# It runs after scripts/setup.sh, like cargo test; it is not part of cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
cargo build --tests --quiet
printf '%-10s %-4s %-36s %-10s %-12s %-10s %-12s %-7s\n' layout run scenarios wall "after ready" scenarios "server time" ratio
for layout in ${LAYOUTS:-sqlite postgres production}; do
    case "$layout" in
        sqlite | postgres) env=(KRATOS_DATABASE="$layout") ;;
        production) env=(KRATOS_TOPOLOGY=production) ;;
        *) echo "LAYOUTS: $layout is not one of sqlite, postgres, production" >&2; exit 2 ;;
    esac
    for run in $(seq 1 "$runs"); do
        log=$(mktemp)
        env "${env[@]}" KRATOS_BACKEND=process KRATOS_REPORT_DIR="target/bench/$layout-$run" \
            cargo test --quiet --test conformance >"$log" 2>&1 || { echo "the $layout run $run failed; see $log" >&2; exit 1; }
        scenarios=$(grep -oE '^[0-9]+ scenarios \([^)]*\)' "$log" | tail -1)
        wall=$(grep -oE 'wall time [^;]*' "$log" | tail -1)
        ready=$(sed -E 's/.*Kratos ready ([0-9.]+)(ms|s).*/\1 \2/' <<<"$wall" | awk '{print ($2=="ms") ? $1/1000 : $1}')
        total=$(sed -E 's/wall time ([0-9.]+)(ms|s).*/\1 \2/' <<<"$wall" | awk '{print ($2=="ms") ? $1/1000 : $1}')
        in_scenarios=$(sed -E 's/.*scenarios ([0-9.]+)(ms|s),.*/\1 \2/' <<<"$wall" | awk '{print ($2=="ms") ? $1/1000 : $1}')
        server=$(grep -oE 'server time [0-9.]+(ms|s)' "$log" | tail -1 | sed -E 's/server time //')
        ratio=$(grep -oE 'took [0-9.]+ ×' "$log" | tail -1 | grep -oE '[0-9.]+')
        after=$(awk -v t="$total" -v r="$ready" 'BEGIN{printf "%.1fs", t-r}')
        printf '%-10s %-4s %-36s %-10s %-12s %-10s %-12s %-7s\n' "$layout" "$run" "$scenarios" "${total}s" "$after" "${in_scenarios}s" "$server" "$ratio"
        rm -f "$log"
    done
done
