#!/usr/bin/env bash
# Deploys the Mobius stack into a running LocalStack (see localstack/deploy.ts) and writes the
# outputs, the DNS-free API URL among them, to localstack/outputs.json.
#   AWS_ENDPOINT_URL=http://127.0.0.1:4566 localstack/deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec npx tsx localstack/deploy.ts
