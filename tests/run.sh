#!/usr/bin/env bash
# Installs what the tests need, checks formatting and static analysis, and runs every test.
# PADDOCK_REQUIRE_KVM=1 turns "skipped: needs /dev/kvm" into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/deps.sh
install_debs "${runtime_debs[@]}" "${build_debs[@]}" "${test_debs[@]}"
install_go_tools

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
staticcheck ./...
# Packages that open windows on their own X servers run one at a time: X servers started side by side have been
# seen to hand a client the wrong display.
gui='/tests/gui|/ui/gui/|/tests/bench/display'
go test -count=1 -timeout 20m "$@" $(go list ./... | grep -v -E "$gui")
go test -count=1 -timeout 20m -p 1 "$@" $(go list ./... | grep -E "$gui")
