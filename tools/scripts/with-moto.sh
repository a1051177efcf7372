#!/usr/bin/env bash
# Runs a command with one moto server on a free loopback port, and stops the server afterwards
# (also on failure or Ctrl-C). The SDK reaches it through AWS_ENDPOINT_URL; fixed test
# credentials and AWS_EC2_METADATA_DISABLED keep every call on this machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# moto_server.py is moto_server with atomic DynamoDB conditional writes (see the file).
.venv/bin/python tools/scripts/moto_server.py -H 127.0.0.1 -p "$port" >"${TMPDIR:-/tmp}/reelay-moto-$port.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null; wait $moto_pid 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 $moto_pid 2>/dev/null || { echo "moto exited; see ${TMPDIR:-/tmp}/reelay-moto-$port.log" >&2; exit 1; }
  sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
echo "moto on $AWS_ENDPOINT_URL (pid $moto_pid)"
"$@"
