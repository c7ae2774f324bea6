#!/usr/bin/env bash
# `make test`: every tox env. The `cluster` env (a real single-node Kubernetes: ~8 min warm,
# most of it spent waiting on controllers, KEDA windows and alert `for:` clauses) runs beside
# the others instead of after them, which takes those minutes off a warm run; its lines are
# prefixed `cluster | `. The other envs still run one after another, as `tox run` would.
#   GALLERY_TEST_SERIAL=1   everything in one `tox run` (one log stream, slower)
#   TOX_SKIP_ENV=REGEX      leaves envs out, as tox itself reads it (GitHub Actions: cluster)
# Exit status: non-zero when any env failed; both summaries are printed either way.
set -euo pipefail
cd "$(dirname "$0")/.."
TOX=.venv/bin/tox

mapfile -t envs < <("$TOX" list --no-desc -q)
if [[ -n "${TOX_SKIP_ENV:-}" ]]; then
  mapfile -t envs < <(printf '%s\n' "${envs[@]}" | grep -Ev "^(${TOX_SKIP_ENV})" || true)
fi
host=()
cluster=""
for env in "${envs[@]}"; do
  if [[ $env == cluster ]]; then cluster=$env; else host+=("$env"); fi
done
if [[ -n "${GALLERY_TEST_SERIAL:-}" || -z $cluster || ${#host[@]} -eq 0 ]]; then
  exec "$TOX" run -e "$(IFS=,; echo "${envs[*]}")"
fi

# Environments and the editable package first, in one process: two tox processes building
# the package into the same .tox at once would race. Both runs below then skip that step.
"$TOX" run --notest -e "$(IFS=,; echo "${envs[*]}")"

# Job control for the background run only: it gets a process group of its own and keeps
# SIGINT (a background job of a non-interactive shell would otherwise ignore it, and a
# Ctrl-C could not reach the cluster's teardown). Ctrl-C here is forwarded to it below.
set -m
# The prefixing sed ignores SIGINT so that the env's teardown output still comes through.
( "$TOX" run -e "$cluster" --skip-pkg-install 2>&1 | (trap '' INT; exec sed -u 's/^/cluster | /') ) &
cluster_job=$!
set +m
stop_cluster() { kill -INT -- "-$cluster_job" 2>/dev/null || true; }
trap stop_cluster INT TERM

host_rc=0
"$TOX" run -e "$(IFS=,; echo "${host[*]}")" --skip-pkg-install || host_rc=$?
if ((host_rc > 128)); then stop_cluster; fi
echo "test: host envs done (exit $host_rc); waiting for the cluster env" >&2
cluster_rc=0
wait "$cluster_job" || cluster_rc=$?
# A Ctrl-C interrupts `wait` itself: wait again until the cluster env has torn down.
while kill -0 "$cluster_job" 2>/dev/null; do cluster_rc=0; wait "$cluster_job" || cluster_rc=$?; done
echo "test: ${host[*]}: exit $host_rc; $cluster: exit $cluster_rc" >&2
((host_rc == 0 && cluster_rc == 0))
