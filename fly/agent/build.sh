#!/usr/bin/env bash
# Builds and pushes the agent machine image from the repository root with the pinned OpenClaw version.
#   fly/agent/build.sh [IMAGE]        default registry.fly.io/openagents-agent:openclaw-<version>
# Needs flyctl (remote builder) or docker; `AGENT_IMAGE` then names what it printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
version="$(tr -d '[:space:]' < fly/agent/OPENCLAW_VERSION)"
image="${1:-registry.fly.io/openagents-agent:openclaw-${version}}"
if command -v flyctl >/dev/null 2>&1; then
  flyctl deploy . --config fly/agent/fly.toml --dockerfile fly/agent/Dockerfile \
    --build-arg "OPENCLAW_VERSION=${version}" --build-only --push --image-label "openclaw-${version}"
else
  docker build -f fly/agent/Dockerfile --build-arg "OPENCLAW_VERSION=${version}" -t "$image" .
  docker push "$image"
fi
echo "$image"
