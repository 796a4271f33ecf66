"""moto server, with DynamoDB requests applied one at a time.

DynamoDB applies the writes to an item atomically: concurrent `ADD`s and conditional updates never
lose one another. moto's server is threaded and its DynamoDB backend reads, modifies and writes an
item without a lock, so concurrent updates of one item can be lost (the registry's concurrency
tests saw 19.2 where 20 was right). Serialising DynamoDB requests gives back DynamoDB's guarantee;
every other service (SQS long polls above all) stays concurrent.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (the arguments of `moto_server`)
"""

import threading

from moto import server

_dynamodb = threading.Lock()
_original = server.DomainDispatcherApplication


class DynamoDBOneAtATime:
    def __init__(self, app):
        self.app = app

    def __getattr__(self, name):
        return getattr(self.app, name)

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with _dynamodb:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


server.DomainDispatcherApplication = lambda *args, **kwargs: DynamoDBOneAtATime(
    _original(*args, **kwargs)
)

if __name__ == "__main__":
    server.main()
