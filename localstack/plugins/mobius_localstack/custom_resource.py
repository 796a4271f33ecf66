"""Lambda-backed CloudFormation custom resources (``Custom::*``) for LocalStack's community edition.

Community LocalStack 2026.3 has no provider for ``AWS::CloudFormation::CustomResource``: it
"deploys" every ``Custom::*`` resource as a no-op. This provider does what CloudFormation does:
it invokes the resource's ServiceToken function asynchronously with the custom-resource event and
waits for the function's answer on the event's ``ResponseURL`` — here a route on LocalStack's own
gateway instead of a presigned S3 URL. SUCCESS gives the physical id and the ``Data`` attributes
(``Fn::GetAtt``); FAILED fails the stack operation with the function's reason, as on AWS.

Lambda-backed only (an SNS ServiceToken is refused with a clear message). The function must PUT
to the whole ResponseURL it is given, scheme and port included; the CDK Provider framework does not
(it always calls port 443), which is why Mobius answers CloudFormation from its own function.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus

from localstack import config
from localstack.http import Response, route
from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)
from localstack.services.edge import ROUTER
from werkzeug import Request

LOG = logging.getLogger(__name__)

RESPONSE_PATH = "/_mobius/cloudformation/custom-resource-responses"
# CloudFormation waits an hour for a custom resource; tests should not.
RESPONSE_TIMEOUT_SECONDS = 300


class _ResponseRoutes:
    """Receives the functions' answers and hands each to the deployment waiting for it."""

    def __init__(self) -> None:
        self.pending: dict[str, Future[dict]] = {}
        self.lock = threading.Lock()

    def expect(self, response_id: str) -> Future[dict]:
        future: Future[dict] = Future()
        with self.lock:
            self.pending[response_id] = future
        return future

    def forget(self, response_id: str) -> None:
        with self.lock:
            self.pending.pop(response_id, None)

    @route(f"{RESPONSE_PATH}/<response_id>", methods=["PUT"])
    def respond(self, request: Request, response_id: str) -> Response:
        with self.lock:
            future = self.pending.get(response_id)
        if future is None or future.done():
            # Unknown, or answered already: CloudFormation takes a resource's first answer only.
            return Response(status=HTTPStatus.NOT_FOUND)
        try:
            future.set_result(json.loads(request.get_data() or b"{}"))
        except (ValueError, TypeError) as error:
            future.set_exception(ValueError(f"The custom resource answered invalid JSON: {error}"))
        return Response(status=HTTPStatus.OK)


_routes: _ResponseRoutes | None = None
_routes_lock = threading.Lock()


def response_routes() -> _ResponseRoutes:
    global _routes
    with _routes_lock:
        if _routes is None:
            _routes = _ResponseRoutes()
            ROUTER.add(_routes)
        return _routes


def _properties_of(state: dict) -> dict:
    """The resource's own properties, without what the provider added to its model: the physical
    id, and the Data attributes (kept both under "Data" and at the top for Fn::GetAtt)."""
    added = {"PhysicalResourceId", "Data", *(state.get("Data") or {})}
    return {key: value for key, value in state.items() if key not in added}


def _gateway_seen_by_functions() -> str:
    """Where functions reach LocalStack's gateway: the loopback address when they run as host
    processes (mobius-host), the address LocalStack gives its Lambda containers otherwise."""
    port = config.GATEWAY_LISTEN[0].port
    if config.LAMBDA_RUNTIME_EXECUTOR == "mobius-host":
        return f"http://127.0.0.1:{port}"
    from localstack.services.lambda_.networking import get_main_endpoint_from_container

    return f"http://{get_main_endpoint_from_container()}:{port}"


class LambdaCustomResourceProvider(ResourceProvider[dict]):
    TYPE = "AWS::CloudFormation::CustomResource"
    SCHEMA = {
        "typeName": TYPE,
        "primaryIdentifier": ["/properties/PhysicalResourceId"],
        "properties": {"ServiceToken": {"type": "string"}},
        "required": ["ServiceToken"],
    }

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return self._run("Create", request)

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return self._run("Update", request)

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return self._run("Delete", request)

    def read(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        raise NotImplementedError

    def _run(self, request_type: str, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        desired = dict(request.desired_state or {})
        previous = dict(request.previous_state or {})
        state = desired if request_type != "Delete" else previous
        properties = _properties_of(state)
        service_token = properties.get("ServiceToken", "")
        if ":lambda:" not in service_token:
            return ProgressEvent(
                status=OperationStatus.FAILED,
                resource_model={},
                message=f"Only Lambda-backed custom resources are supported here, not {service_token!r}",
            )
        response_id = str(uuid.uuid4())
        event = {
            "RequestType": request_type,
            "ServiceToken": service_token,
            "ResponseURL": f"{_gateway_seen_by_functions()}{RESPONSE_PATH}/{response_id}",
            "StackId": request.stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": request.logical_resource_id,
            "ResourceType": request.resource_type,
            "ResourceProperties": properties,
        }
        if request_type in ("Update", "Delete"):
            event["PhysicalResourceId"] = previous.get("PhysicalResourceId")
        if request_type == "Update":
            event["OldResourceProperties"] = _properties_of(previous)

        routes = response_routes()
        answer = routes.expect(response_id)
        try:
            request.aws_client_factory.lambda_.invoke(
                FunctionName=service_token, InvocationType="Event", Payload=json.dumps(event)
            )
            reply = answer.result(timeout=RESPONSE_TIMEOUT_SECONDS)
        except FutureTimeout:
            return ProgressEvent(
                status=OperationStatus.FAILED,
                resource_model={},
                message=f"{request.logical_resource_id}: no answer on the ResponseURL within {RESPONSE_TIMEOUT_SECONDS} s",
            )
        finally:
            routes.forget(response_id)

        if reply.get("Status") != "SUCCESS":
            return ProgressEvent(
                status=OperationStatus.FAILED,
                resource_model={},
                message=f"{request.logical_resource_id}: {reply.get('Reason') or 'the custom resource failed'}",
            )
        if request_type == "Delete":
            return ProgressEvent(status=OperationStatus.SUCCESS, resource_model={})
        data = reply.get("Data") or {}
        # Fn::GetAtt reads attributes from the model: the Data keys go there too.
        model = {**properties, **data, "Data": data}
        model["PhysicalResourceId"] = reply.get("PhysicalResourceId") or response_id
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)


class LambdaCustomResourceProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::CloudFormation::CustomResource"

    def __init__(self):
        self.factory: type[ResourceProvider] | None = None

    def load(self):
        self.factory = LambdaCustomResourceProvider
