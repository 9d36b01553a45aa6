#!/usr/bin/env bash
# Regenerates openapi/openapi.json from the operations in src/api.
# Run it after changing the API and commit the result; a test fails while
# the committed file and the generated spec differ.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --bin catalog -- openapi > openapi/openapi.json.tmp
mv openapi/openapi.json.tmp openapi/openapi.json
echo "wrote openapi/openapi.json"
