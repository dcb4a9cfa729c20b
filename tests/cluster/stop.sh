#!/bin/bash
# stop.sh: stops the nodes tests/cluster/start.sh started (all, or the
# nodes named): SIGTERM to each recorded chronik-server, SIGKILL after 30 s.
# Only those processes are signalled.
#
#   tests/cluster/stop.sh [NODE...]
set -uo pipefail
. "$(dirname "$0")/lib.sh"

nodes=${*:-$ALL_NODES}
for n in $nodes; do check_node "$n" || exit 2; done
for n in $nodes; do stop_node "$n"; done
