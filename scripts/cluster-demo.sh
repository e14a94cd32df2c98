#!/usr/bin/env bash
# Several nodes on one machine: PostgreSQL, an nginx-rtmp server the anchors publish to, and two
# costream nodes sharing the database and a data directory. Two synthetic anchors publish to nginx;
# two sessions are created through node a (one runs on each node). Kill a node (its pid is printed)
# and watch its session go on on the other within seconds. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_PACKAGES="postgresql"
source scripts/deps.sh
cargo build --release --quiet
BIN="$PWD/target/release/costream"
DIR="$(mktemp -d /tmp/costream-cluster.XXXXXX)"
chmod 755 "$DIR"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL, as its own user when we are root (the server refuses root).
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
AS=(); if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi
mkdir -p "$DIR/pg" && { [ "$(id -u)" != 0 ] || chown postgres "$DIR/pg"; }
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/pg/data" -A trust -U postgres >/dev/null
PGPORT=$(free_port)
"${AS[@]}" "$PGBIN/postgres" -D "$DIR/pg/data" -k "$DIR/pg" -p "$PGPORT" -c listen_addresses=127.0.0.1 >"$DIR/pg/log" 2>&1 &
PIDS+=($!)
until psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c 'SELECT 1' >/dev/null 2>&1; do sleep 0.2; done
psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c 'CREATE DATABASE costream' >/dev/null
export COSTREAM_DB="postgres://postgres@127.0.0.1:$PGPORT/costream"

# nginx-rtmp: what the anchors publish to, and what the nodes pull from.
RTMP=$(free_port)
mkdir -p "$DIR/nginx"
cat >"$DIR/nginx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off; master_process off; pid $DIR/nginx/nginx.pid; error_log $DIR/nginx/error.log;
events { worker_connections 64; }
rtmp { server { listen 127.0.0.1:$RTMP; application live { live on; } } }
CONF
nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" &
PIDS+=($!)

# Two anchors.
for pattern in "testsrc2=size=640x360:rate=30" "smptehdbars=size=640x360:rate=30"; do
  name="anchor$(( ${#PIDS[@]} ))"
  ffmpeg -v error -re -f lavfi -i "$pattern" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -c:v libx264 -preset ultrafast -g 30 -pix_fmt yuv420p -c:a aac -f flv "rtmp://127.0.0.1:$RTMP/live/$name" &
  PIDS+=($!)
  ANCHORS+=("$name")
done

# Two nodes, one database, one data directory.
TOKEN=$("$BIN" token create --role operator)
declare -A HTTP NODEPID
for n in a b; do
  port=$(free_port)
  HTTP[$n]="http://127.0.0.1:$port"
  "$BIN" serve --http "127.0.0.1:$port" --rtmp "127.0.0.1:$(free_port)" --data-dir "$DIR/data" \
    --node-id "$n" --advertise "${HTTP[$n]}" --node-capacity 4 --allow-private-inputs 2>"$DIR/node-$n.log" &
  NODEPID[$n]=$!
  PIDS+=($!)
  until curl -fs "${HTTP[$n]}/health" >/dev/null; do sleep 0.2; done
done
AUTH="Authorization: Bearer $TOKEN"
for name in "${ANCHORS[@]}"; do
  curl -fs -H "$AUTH" -H "content-type: application/json" -X POST "${HTTP[a]}/sessions" \
    -d "{\"inputs\":[{\"url\":\"rtmp://127.0.0.1:$RTMP/live/$name\"}],\"size\":\"640x360\"}" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("session", s["id"])'
done
echo
echo "nodes:    curl -H '$AUTH' ${HTTP[a]}/nodes"
echo "sessions: curl -H '$AUTH' ${HTTP[a]}/sessions   (either node lists both nodes' sessions, each with its node)"
echo "console:  ${HTTP[a]}/console#token=$TOKEN"
echo "kill a node: kill -9 ${NODEPID[a]} (a) or kill -9 ${NODEPID[b]} (b); its session goes on on the other"
echo "Ctrl-C stops everything"
wait
