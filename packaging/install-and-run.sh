#!/usr/bin/env bash
# Installs what Paddock needs, builds it, and runs it: `bash packaging/install-and-run.sh [PADDOCK ARGUMENTS]`.
# With no arguments it checks this host (`paddock doctor`).
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/deps.sh
install_debs "${runtime_debs[@]}" "${build_debs[@]}"
mkdir -p bin
go build -o bin/paddock .
# The lean VMM program runs the VMs: no cgo, no GUI toolkit (see README).
CGO_ENABLED=0 go build -o bin/paddock-vmm ./ui/paddock-vmm
# The guest agent (clipboard sharing), static, to copy into Linux guests.
CGO_ENABLED=0 go build -o bin/paddock-agent ./sharing/agent/cmd/paddock-agent
if [ $# -eq 0 ]; then set -- doctor; fi
exec ./bin/paddock "$@"
