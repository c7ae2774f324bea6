#!/usr/bin/env bash
# The seed's machines for the four-node test cluster, from the one node list Terraform also
# reads (terraform/envs/production/nodes.auto.tfvars.json). One line per node, sorted by name:
#   NAME ROLE ADDRESS POD_CIDR INDEX
# Production's addresses come from MAAS; on this machine node i (0-based, in name order) gets
# 10.251.0.(10+i) on the shared bridge and the pod range 10.245.i.0/24 (docs/operations.md).
# Usage: scripts/cluster/nodes.sh
set -euo pipefail
NODES_FILE="$(cd "$(dirname "$0")/../.." && pwd)/terraform/envs/production/nodes.auto.tfvars.json"
python3 - "$NODES_FILE" <<'PY'
import json, sys
nodes = json.load(open(sys.argv[1], encoding="utf-8"))["nodes"]
for index, name in enumerate(sorted(nodes)):
    print(name, nodes[name]["role"], f"10.251.0.{10 + index}", f"10.245.{index}.0/24", index)
PY
