#!/bin/bash
# restart.sh: restarts one node of the local cluster: stop (SIGTERM, as
# stop.sh) then start (as start.sh), and waits until it is ready.
#
#   tests/cluster/restart.sh NODE
set -uo pipefail
. "$(dirname "$0")/lib.sh"

if [ $# -ne 1 ]; then
	echo "usage: tests/cluster/restart.sh NODE   (1, 2 or 3)" >&2
	exit 2
fi
check_node "$1" || exit 2
stop_node "$1"
start_node "$1" || exit 1
wait_ready "$1" || exit 1
wait_metadata "$1"
