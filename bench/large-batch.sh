#!/usr/bin/env bash
# Times seeded 5,000-event requests against one built local host on its own fresh Azurite.
#   dotnet build -c Release src/EventIngest.DevServer
#   bench/large-batch.sh src/EventIngest.DevServer/bin/Release/net10.0/EventIngest.DevServer.dll [port] [label] [requests]
# To compare two builds, alternate them in one sitting (docs/benchmarks.md, "Large requests").
set -euo pipefail
dll=$1; port=${2:-18301}; label=${3:-host}; requests=${4:-6}
data=$(mktemp -d); body=$(mktemp)
python3 -c 'import json; print(json.dumps([{"name":"app/bench","data":{"i":i,"s":"x"*200}} for i in range(5000)]))' > "$body"
EventIngest__Local__DataPath=$data dotnet "$dll" --urls "http://127.0.0.1:$port" > "$data/host.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$body"' EXIT
for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$port/openapi.yaml" && break; sleep 1; done
curl -s -o /dev/null -d '[{"name":"warm"}]' "http://127.0.0.1:$port/e/k"
for r in $(seq 1 "$requests"); do
  seed="$((1750000000000 + r)),$(head -c 10 /dev/urandom | base64)"
  curl -s -o /dev/null -w "$label request $r: %{http_code} %{time_total} s\n" -H "x-inngest-event-id-seed: $seed" --data-binary @"$body" "http://127.0.0.1:$port/e/k"
done
