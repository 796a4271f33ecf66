"""LocalStack plugins for running the Mobius stack on a host without Docker or DynamoDB Local."""
