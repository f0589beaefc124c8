#!/usr/bin/env bash
# The agent machine's entrypoint (ARCHITECTURE §5a). Runs under tini in the image; runs as is under
# the local Fly emulator and in tests (with OPENCLAW_NODE / OPENCLAW_ENTRY / PYTHON pointing at the
# npm-installed Node and openclaw and the project's Python).
#
#   OPENAGENTS_AGENT_RUNTIME=offline   → only the bridge (exec), deterministic model
#   OPENAGENTS_AGENT_RUNTIME=openclaw  → prepare (openclaw.json, gateway token, skill re-verification),
#                                        then OpenClaw `gateway run --bind loopback` and the bridge side
#                                        by side; when either exits the other is stopped and the machine
#                                        exits with its status (Fly's restart policy brings it back).
#
# Environment (besides the bridge's own, see fly/agent/bridge/config.py):
#   BRIDGE_DATA_DIR (/data)        the volume; also OPENCLAW_STATE_DIR
#   OPENCLAW_GATEWAY_PORT (18789)  OpenClaw's loopback port; `auto` picks a free one (many machines on one host)
#   OPENCLAW_NODE (node), OPENCLAW_ENTRY (/app/openclaw.mjs), PYTHON (python3)
#   AGENT_HOME                     HOME for both processes; relative = under the data dir (local machines)
#   FLY_EMULATOR_MOUNTS            set by the local Fly emulator: {"<mount path>": "<folder>"}
#   AGENT_USER                     when running as root: chown the volume to this user and drop to it
set -euo pipefail

DATA="${BRIDGE_DATA_DIR:-/data}"
PY="${PYTHON:-python3}"
RUNTIME="${OPENAGENTS_AGENT_RUNTIME:-openclaw}"
if [ -n "${FLY_EMULATOR_MOUNTS:-}" ]; then
  # Under the local Fly emulator a volume is a folder: map the mount path ({"/data": "<dir>"}).
  DATA="$("$PY" -c 'import json, os, sys
p = sys.argv[1]
for mount, folder in sorted(json.loads(os.environ["FLY_EMULATOR_MOUNTS"]).items(), key=lambda kv: -len(kv[0])):
    if p == mount or p.startswith(mount.rstrip("/") + "/"):
        p = folder + p[len(mount):]
        break
print(p)' "$DATA")"
fi
export BRIDGE_DATA_DIR="$DATA" OPENCLAW_STATE_DIR="$DATA" OPENAGENTS_AGENT_RUNTIME="$RUNTIME"
mkdir -p "$DATA"
if [ -n "${AGENT_HOME:-}" ]; then
  case "$AGENT_HOME" in /*) ;; *) AGENT_HOME="$DATA/$AGENT_HOME" ;; esac
  mkdir -p "$AGENT_HOME"
  export HOME="$AGENT_HOME"
fi

run_as=()
if [ "$(id -u)" = 0 ] && [ -n "${AGENT_USER:-}" ] && id "$AGENT_USER" >/dev/null 2>&1; then
  if [ "$(stat -c %U "$DATA")" != "$AGENT_USER" ]; then chown -R "$AGENT_USER:" "$DATA"; fi
  export HOME="$(getent passwd "$AGENT_USER" | cut -d: -f6)"
  run_as=(setpriv --reuid="$AGENT_USER" --regid="$AGENT_USER" --init-groups)
fi

if [ "$RUNTIME" != openclaw ]; then
  exec "${run_as[@]}" "$PY" -m fly.agent.bridge
fi

OPENCLAW_GATEWAY_PORT="${OPENCLAW_GATEWAY_PORT:-18789}"
if [ "$OPENCLAW_GATEWAY_PORT" = auto ]; then
  OPENCLAW_GATEWAY_PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
export OPENCLAW_GATEWAY_PORT
export OPENCLAW_GATEWAY_URL="http://127.0.0.1:${OPENCLAW_GATEWAY_PORT}"
export OPENCLAW_DISABLE_BONJOUR=1 OPENCLAW_NO_AUTO_UPDATE=1
# Node's compile cache for OpenClaw's worker threads too: openclaw.mjs turns it on for its main
# thread only, unless this is set (it then keeps its own per-version folder under it). OpenClaw
# retires idle workers after 30-60 s, so a turn after a pause (every warm-pool hire: the timers all
# come due on resume) starts them again, loading their modules: seconds of CPU, less with this cache.
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-${TMPDIR:-/tmp}/node-compile-cache}"
"${run_as[@]}" "$PY" -m fly.agent.bridge prepare >/dev/null
if [ -z "${OPENCLAW_GATEWAY_TOKEN:-}" ]; then
  OPENCLAW_GATEWAY_TOKEN="$(cat "$DATA/.openagents/openclaw-token")"
fi
export OPENCLAW_GATEWAY_TOKEN

# OpenClaw (and the agent's tools) never see the bridge's token or the platform's key set.
(cd "$DATA" && exec env -u GATEWAY_TOKEN -u SKILL_SIGNING_PUBLIC_KEYS "${run_as[@]}" \
   "${OPENCLAW_NODE:-node}" "${OPENCLAW_ENTRY:-/app/openclaw.mjs}" \
   gateway run --bind loopback --port "$OPENCLAW_GATEWAY_PORT") &
gateway=$!
"${run_as[@]}" "$PY" -m fly.agent.bridge &
bridge=$!

asked=0
stop() { kill -TERM "$gateway" "$bridge" 2>/dev/null || true; }
trap 'asked=1; stop' TERM INT
status=0
wait -n "$gateway" "$bridge" || status=$?
stop
wait "$gateway" "$bridge" 2>/dev/null || true
if [ "$asked" = 1 ]; then exit 0; fi  # a requested stop is not a failure
exit "$status"
