#!/bin/bash
# LocalStack init hook (runs once the services are ready): report what Mobius will use, so a
# broken service shows up here rather than halfway through `cdklocal deploy`.
set -euo pipefail
echo "mobius: LocalStack ready; checking services"
for service in dynamodb sqs events stepfunctions lambda apigateway cloudformation; do
  if awslocal "$service" help >/dev/null 2>&1; then echo "mobius:   $service ok"; else echo "mobius:   $service MISSING"; fi
done
awslocal sts get-caller-identity --query Account --output text | sed 's/^/mobius: account /'
