#!/bin/bash
# LocalStack boot hook (runs before LocalStack starts, inside the container): installs the
# project's plugins (localstack/plugins, mounted read-only) into LocalStack's own Python, so the
# compose path serves DynamoDB from moto (never DynamoDB Local) and runs Lambda-backed custom
# resources, as the host path does. Lambda itself stays on the image's Docker executor.
set -euo pipefail
work=$(mktemp -d)
cp -r /opt/mobius-localstack-plugins/. "$work"
python=/opt/code/localstack/.venv/bin/python
[ -x "$python" ] || python=python3
"$python" -m pip install --quiet --disable-pip-version-check --no-deps "$work"
rm -rf "$work"
echo "mobius: LocalStack plugins installed"
