#!/usr/bin/env bash
# The runner container: a Ray node that offers no CPU or GPU (a Ray driver must run on a node)
# and `convnas runner`, supervised together. If either ends (the node dies when the head is
# lost), the other is stopped and the container exits, so that Docker's restart policy starts
# both again: a runner never lives on without its node (it would wait forever), nor a node
# without its runner. SIGTERM (docker stop) stops the runner first: it ends its searches
# cleanly and queues them again.
set -u
ray start --address="${CONVNAS_RAY_ADDRESS:?set CONVNAS_RAY_ADDRESS to the Ray head, HOST:PORT}" \
    --num-cpus=0 --num-gpus=0 \
    --object-store-memory="${RAY_OBJECT_STORE_MEMORY:-1000000000}" --block &
node=$!
until ray status >/dev/null 2>&1; do
    kill -0 "$node" 2>/dev/null || { echo "the Ray node did not start" >&2; exit 1; }
    sleep 1
done
convnas runner "$@" &
runner=$!
trap 'kill -TERM "$runner" 2>/dev/null; wait "$runner"; kill -TERM "$node" 2>/dev/null; exit 0' TERM INT
wait -n "$node" "$runner"
code=$?
echo "runner-node: $( kill -0 "$runner" 2>/dev/null && echo 'the Ray node' || echo 'the runner' ) ended (code $code): stopping the other" >&2
kill -TERM "$runner" 2>/dev/null && wait "$runner"
kill -TERM "$node" 2>/dev/null
exit "$code"
