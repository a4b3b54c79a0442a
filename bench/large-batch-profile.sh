#!/usr/bin/env bash
# Where a 5,000-event request spends its time: the CPU seconds of the host and of Azurite per
# request, and Azurite's CPU profile split by service (queue, table, blob, HTTP and the rest).
#   dotnet build -c Release src/EventIngest.DevServer
#   bench/large-batch-profile.sh src/EventIngest.DevServer/bin/Release/net10.0/EventIngest.DevServer.dll [requests]
# Run it on an otherwise idle machine (docs/benchmarks.md, "Large requests").
set -euo pipefail
dll=$(realpath "$1"); requests=${2:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
azurite_js=$root/tools/azurite/node_modules/azurite/dist/src/azurite.js
[ -f "$azurite_js" ] || (cd "$root/tools/azurite" && npm ci --silent)
work=$(mktemp -d)
read -r bport qport tport hport < <(python3 -c '
import socket
ss=[socket.socket() for _ in range(4)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(*[s.getsockname()[1] for s in ss])')
python3 -c 'import json; print(json.dumps([{"name":"app/bench","data":{"i":i,"s":"x"*200}} for i in range(5000)]))' > "$work/body.json"

node --cpu-prof --cpu-prof-dir="$work/prof" "$azurite_js" --silent --skipApiVersionCheck --disableTelemetry \
  --blobPort "$bport" --queuePort "$qport" --tablePort "$tport" --location "$work/azurite" > "$work/azurite.log" 2>&1 &
azurite=$!
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
storage="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$bport/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$qport/devstoreaccount1;TableEndpoint=http://127.0.0.1:$tport/devstoreaccount1;"
EventIngest__Storage__ConnectionString=$storage EventIngest__Local__DataPath=$work \
  dotnet "$dll" --urls "http://127.0.0.1:$hport" > "$work/host.log" 2>&1 &
host=$!
trap 'kill $host $azurite 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$hport/openapi.yaml" && break; sleep 1; done
curl -s -o /dev/null -d '[{"name":"warm"}]' "http://127.0.0.1:$hport/e/k"

cpu() { awk '{print ($14 + $15) * 10}' "/proc/$1/stat"; } # milliseconds, at 100 ticks a second
for r in $(seq 1 "$requests"); do
  seed="$((1750000000000 + r)),$(head -c 10 /dev/urandom | base64)"
  h0=$(cpu $host); a0=$(cpu $azurite)
  answer=$(curl -s -o /dev/null -w "%{http_code} in %{time_total} s" -H "x-inngest-event-id-seed: $seed" \
    --data-binary @"$work/body.json" "http://127.0.0.1:$hport/e/k")
  h1=$(cpu $host); a1=$(cpu $azurite)
  echo "request $r: $answer; CPU: host $(( (h1 - h0) )) ms, Azurite $(( (a1 - a0) )) ms"
done

kill $host; wait $host 2>/dev/null || true
kill -INT $azurite; wait $azurite 2>/dev/null || true # node writes the profile on exit
python3 - "$work"/prof/*.cpuprofile <<'EOF'
import collections, json, re, sys
profile = json.load(open(sys.argv[1]))
nodes = {n["id"]: n for n in profile["nodes"]}
parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}
named = {"(idle)": "idle", "(garbage collector)": "garbage collector", "(program)": "native"}
memo = {}
def service(node_id):
    chain, x = [], node_id
    while x is not None and x not in memo:
        chain.append(x)
        found = re.search(r"azurite/dist/src/(queue|table|blob)/", nodes[x]["callFrame"]["url"])
        if found:
            for c in chain: memo[c] = found.group(1)
            return memo[node_id]
        x = parent.get(x)
    if x is not None:
        for c in chain: memo[c] = memo[x]
        return memo[x]
    # no Azurite service frame above: HTTP parsing, sockets, module loading, or idle
    return named.get(nodes[node_id]["callFrame"]["functionName"], "HTTP, sockets, start-up")
spent = collections.Counter()
for sample, delta in zip(profile["samples"], profile["timeDeltas"]):
    spent[service(sample)] += delta
busy = sum(v for k, v in spent.items() if k != "idle")
print(f"Azurite's profile over the whole run: {busy / 1e6:.1f} s busy, {spent['idle'] / 1e6:.1f} s idle")
for name, micros in spent.most_common():
    if name != "idle":
        print(f"  {name:26} {micros / 1e6:6.2f} s  {100 * micros / busy:5.1f} % of busy")
EOF
