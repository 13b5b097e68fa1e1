#!/usr/bin/env bash
# Generate the Python modules, gRPC stubs and typed .pyi stubs for every
# proto under protos/ into megarouter/v1/.
#
#   scripts/generate_protos.sh          regenerate in place
#   scripts/generate_protos.sh --check  fail if the committed files are stale
set -euo pipefail
cd "$(dirname "$0")/.."

generate() {
    local out="$1"
    python -m grpc_tools.protoc \
        --proto_path=protos \
        --python_out="$out" \
        --grpc_python_out="$out" \
        --mypy_out="$out" \
        --mypy_grpc_out="$out" \
        protos/megarouter/v1/*.proto
}

if [[ "${1:-}" == "--check" ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    generate "$tmp"
    if ! diff -r -x __init__.py -x __pycache__ -x '*.typed' "$tmp/megarouter/v1" megarouter/v1; then
        echo "megarouter/v1 is stale: run scripts/generate_protos.sh and commit" >&2
        exit 1
    fi
    echo "generated code is fresh"
    exit 0
fi

generate .
echo "generated into megarouter/v1/"
