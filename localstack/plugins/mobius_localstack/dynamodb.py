"""DynamoDB and DynamoDB Streams served by moto inside LocalStack.

LocalStack's own DynamoDB providers forward to DynamoDB Local, which is under AWS's licence terms
rather than an open-source one; this project does not use it. These providers implement no
operation themselves: ``MotoFallbackDispatcher`` sends every operation to moto's in-process backend
(Apache-2.0), exactly as LocalStack already does for several other services. Chosen with
``PROVIDER_OVERRIDE_DYNAMODB=moto`` and ``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto``.
"""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """Every DynamoDB operation falls through to moto."""


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi):
    """Every DynamoDB Streams operation falls through to moto (records of moto's tables)."""


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    from localstack.services.moto import MotoFallbackDispatcher

    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="dynamodbstreams", name="moto")
def dynamodbstreams_moto():
    from localstack.services.moto import MotoFallbackDispatcher

    return Service.for_provider(
        MotoDynamoDBStreamsProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )
