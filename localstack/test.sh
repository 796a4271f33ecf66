#!/usr/bin/env bash
# Runs the end-to-end suite against a LocalStack you started yourself (e.g. the compose file): it
# deploys the stack into it (an unchanged stack deploys in seconds) and leaves it running.
#   localstack/test.sh                      (MOBIUS_LOCALSTACK_ENDPOINT defaults to http://127.0.0.1:4566)
# Without a LocalStack of your own, `npm run test:localstack` starts one on the host and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export MOBIUS_LOCALSTACK_ENDPOINT="${MOBIUS_LOCALSTACK_ENDPOINT:-${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}}"
npm run test:localstack
