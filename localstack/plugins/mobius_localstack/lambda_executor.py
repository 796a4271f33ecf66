"""A LocalStack Lambda runtime executor that runs Node.js functions as processes on the host.

LocalStack's core ships only a Docker executor: it starts a container per execution environment,
with AWS's runtime interface ("init") inside, which registers with LocalStack and then receives
invocations. On a machine without a Docker engine, this executor plays the same part with a host
process: ``runtime.mjs`` (beside this file) loads the function's unzipped bundle on the given Node.js
binary, reports ready to LocalStack's executor endpoint, takes invocations on
``POST /invoke`` and answers through the same callbacks the container runtime uses
(``executor_endpoint.py``). Chosen with ``LAMBDA_RUNTIME_EXECUTOR=mobius-host``.

Settings (environment of the LocalStack process):
  MOBIUS_LAMBDA_NODE             the Node.js binary that runs functions (default: ``node`` on PATH)
  MOBIUS_LAMBDA_RUNTIME_MODULES  a node_modules folder standing for what the Lambda runtime
                                 provides to every function (the AWS SDK for JavaScript v3);
                                 functions that leave the SDK out of their bundle import it from here
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
from concurrent.futures import InvalidStateError
from collections import deque
from pathlib import Path

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)
from localstack.utils.net import get_free_tcp_port

LOG = logging.getLogger(__name__)

RUNTIME_SCRIPT = Path(__file__).with_name("runtime.mjs")
LOG_TAIL_LINES = 500


def node_binary() -> str:
    return os.environ.get("MOBIUS_LAMBDA_NODE") or shutil.which("node") or "node"


def provide_runtime_modules(code_dir: Path) -> None:
    """Makes the runtime's own modules resolvable from the function's code, as Lambda does.

    ES modules resolve packages through node_modules folders above the importing file, never
    NODE_PATH: a link named node_modules beside the code folder serves them.
    """
    modules = os.environ.get("MOBIUS_LAMBDA_RUNTIME_MODULES")
    if not modules:
        return
    link = Path(code_dir).parent / "node_modules"
    if not link.exists():
        try:
            link.symlink_to(modules, target_is_directory=True)
        except FileExistsError:
            pass  # another environment of the same version linked it first


class HostRuntimeExecutor(RuntimeExecutor):
    """One execution environment = one Node.js process on 127.0.0.1, stopped by PID."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.executor_endpoint = ExecutorEndpoint(self.id, container_address="127.0.0.1")
        self.process: subprocess.Popen[bytes] | None = None
        self.env_vars: dict[str, str] = {}
        self.output: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        # The request id of the invocation in progress, for the error a crash answers it with.
        self._invoking: str | None = None

    def start(self, env_vars: dict[str, str]) -> None:
        runtime = self.function_version.config.runtime or ""
        if not runtime.startswith("nodejs"):
            raise LambdaRuntimeException(
                f"The mobius-host executor runs Node.js functions only, not {runtime or 'images'}."
            )
        self.env_vars = {key: str(value) for key, value in env_vars.items()}
        self._spawn()

    def _spawn(self) -> None:
        """Starts the environment's process and waits until it reports ready."""
        code_dir = self.function_version.config.code.get_unzipped_code_location()
        provide_runtime_modules(code_dir)
        port = get_free_tcp_port()
        self.executor_endpoint.container_port = port
        self.executor_endpoint.start()
        env = dict(self.env_vars)
        env.update(
            {
                # The container's /var/task is the unzipped code on the host.
                "LAMBDA_TASK_ROOT": str(code_dir),
                "MOBIUS_RUNTIME_PORT": str(port),
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": os.environ.get("HOME", "/tmp"),
            }
        )
        self.process = subprocess.Popen(
            [node_binary(), str(RUNTIME_SCRIPT)],
            cwd=code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(
            target=self._pump_output, args=(self.process,), name=f"lambda-host-{self.id}", daemon=True
        ).start()
        LOG.debug(
            "Started %s as PID %s on 127.0.0.1:%s",
            self.function_version.qualified_arn,
            self.process.pid,
            port,
        )
        self.executor_endpoint.wait_for_startup()

    def _pump_output(self, process: subprocess.Popen[bytes]) -> None:
        if process.stdout is not None:
            for raw in iter(process.stdout.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                self.output.append(line)
                LOG.debug("[%s] %s", self.function_version.id.function_name, line)
        # The process is gone. Mid-invocation (the handler crashed it: process.exit, an
        # out-of-memory kill), answer that invocation at once as Lambda does, with
        # Runtime.ExitError, instead of leaving it to wait out the maximum Lambda timeout.
        pending = self.executor_endpoint.invocation_future
        if process is self.process and pending is not None and not pending.done():
            request_id = self._invoking or ""
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                f"exit status {process.wait()}",
            }
            try:
                pending.set_result(
                    InvocationResult(
                        request_id,
                        json.dumps(error).encode(),
                        is_error=True,
                        logs="\n".join(list(self.output)[-20:]),
                    )
                )
            except InvalidStateError:
                pass  # the runtime answered just before it exited: that answer stands
        # If it never said it was ready (a crash at load, a port taken), fail the start now
        # rather than leave it waiting for a signal that cannot come.
        startup = self.executor_endpoint.startup_future
        if process is self.process and startup is not None and not startup.done():
            tail = "\n".join(list(self.output)[-20:])
            startup.set_exception(
                LambdaRuntimeException(
                    f"The Node.js process of {self.function_version.id.function_name} exited "
                    f"before it was ready (exit code {process.wait()}):\n{tail}"
                )
            )

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        try:
            self.executor_endpoint.shutdown()
        except Exception as error:  # noqa: BLE001 - stopping must not fail on a half-started endpoint
            LOG.debug("Error while stopping the executor endpoint of %s: %s", self.id, error)

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # The process runs beside LocalStack: it reaches the gateway on the loopback address.
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://127.0.0.1:{port}{self.executor_endpoint.get_endpoint_prefix()}"

    def invoke(self, payload: dict[str, str]):
        if self.process is not None and self.process.poll() is not None:
            # The runtime ends its process after a timed-out invocation, as Lambda resets a
            # sandbox: the next invocation gets a fresh process, and nothing is lost.
            LOG.debug("Restarting execution environment %s (exit code %s)", self.id, self.process.returncode)
            self.executor_endpoint.shutdown()
            self._spawn()
        self._invoking = payload.get("invoke-id")
        try:
            result = self.executor_endpoint.invoke(payload)
        finally:
            self._invoking = None
        if result.is_error and b"Sandbox.Timedout" in (result.payload or b""):
            # The runtime ends its process after a timeout; wait for it, so the next invocation
            # finds it gone and starts a fresh one instead of reaching a process on its way out.
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return result

    def get_logs(self) -> str:
        return "\n".join(self.output)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.package_type != PackageType.Zip:
            raise LambdaRuntimeException("The mobius-host executor runs zip packages only.")
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        if shutil.which(node_binary()) is None and not Path(node_binary()).is_file():
            LOG.warning("mobius-host executor: no Node.js binary at %s (MOBIUS_LAMBDA_NODE)", node_binary())
            return False
        return True


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "mobius-host"

    def load(self, *args, **kwargs):
        return HostRuntimeExecutor
