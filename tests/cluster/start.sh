#!/bin/bash
# start.sh: starts the local 3-node cluster (or the nodes named), one
# chronik-server per node on 127.0.0.1: Kafka 9092-9094, replication
# 9291-9293, raft 5001-5003, admin 9644-9646 (tests/cluster/node{1,2,3}.toml).
# Data in tests/cluster/data/nodeN, logs in tests/cluster/logs/nodeN.log.
# Waits until every node is ready, then prints each node's metadata role.
#
#   tests/cluster/start.sh [NODE...]
#   CHRONIK_BUILD_DIR=build-X tests/cluster/start.sh
#
# Stop with tests/cluster/stop.sh; restart one node with restart.sh NODE.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

nodes=${*:-$ALL_NODES}
for n in $nodes; do check_node "$n" || exit 2; done
for n in $nodes; do start_node "$n" || exit 1; done
rc=0
for n in $nodes; do wait_ready "$n" || rc=1; done
# A leader needs a majority: give the election a moment to settle.
for n in $nodes; do wait_metadata "$n"; done
exit $rc
