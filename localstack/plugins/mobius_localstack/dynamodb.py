"""DynamoDB and DynamoDB Streams served by moto inside LocalStack.

LocalStack's own DynamoDB providers forward to DynamoDB Local, which is under AWS's licence terms
rather than an open-source one; this project does not use it. These providers implement no
operation themselves: ``MotoFallbackDispatcher`` sends every operation to moto's in-process backend
(Apache-2.0), exactly as LocalStack already does for several other services. Chosen with
``PROVIDER_OVERRIDE_DYNAMODB=moto`` and ``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto``.

DynamoDB operations run one at a time: DynamoDB applies the writes to an item atomically, while
moto's backend reads, modifies and writes items without a lock, so LocalStack's concurrent request
threads could lose one another's updates (counters, conditional writes).
"""

import functools
import threading

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """Every DynamoDB operation falls through to moto."""


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi):
    """Every DynamoDB Streams operation falls through to moto (records of moto's tables)."""


_one_at_a_time = threading.Lock()


def _serialised(handler):
    @functools.wraps(handler)
    def run(*args, **kwargs):
        with _one_at_a_time:
            return handler(*args, **kwargs)

    return run


def _serialised_moto(provider):
    from localstack.services.moto import MotoFallbackDispatcher

    return {operation: _serialised(handler) for operation, handler in MotoFallbackDispatcher(provider).items()}


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=_serialised_moto)


@aws_provider(api="dynamodbstreams", name="moto")
def dynamodbstreams_moto():
    # Stream reads take the same turn as table writes: they read the tables' record lists.
    return Service.for_provider(
        MotoDynamoDBStreamsProvider(), dispatch_table_factory=_serialised_moto
    )
