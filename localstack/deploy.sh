#!/usr/bin/env bash
# Bootstraps and deploys the Mobius stack into LocalStack with cdklocal, then writes the stack
# outputs (the API URL among them) to localstack/outputs.json for the integration suite.
#   localstack/deploy.sh            (LocalStack must be running: docker compose up -d)
set -euo pipefail
cd "$(dirname "$0")/.."

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
export CDK_DISABLE_CLI_TELEMETRY=true

if ! curl -fsS "$AWS_ENDPOINT_URL/_localstack/health" >/dev/null; then
  echo "LocalStack is not reachable at $AWS_ENDPOINT_URL: start it with 'docker compose -f localstack/docker-compose.yml up -d'." >&2
  exit 1
fi

npx cdklocal bootstrap --no-notices
npx cdklocal deploy MobiusCoordinator --require-approval never --no-notices --outputs-file localstack/outputs.json
echo "Deployed. Outputs in localstack/outputs.json; run: npm run test:localstack"
