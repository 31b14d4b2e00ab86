"""A sample integrator of CDDS: request an export over RabbitMQ, wait for it, download and verify.

It holds only what ``cdds-admin integration create`` printed (a JSON file) and needs only
aio-pika and httpx (``pip install aio-pika httpx``); nothing of CDDS is imported. The contract it
follows is docs/integration.md.

    python integrator.py integration.json --record-type interaction \\
        --start 2026-01-01T00:00:00Z --end 2026-02-01T00:00:00Z --out ./files

It declares its own queue ``cdds.int.TENANT.NAME.events`` and binds it to the events exchange
with ``TENANT.#`` (before publishing, so no answer is missed), publishes a ``RequestRun`` with
``user_id`` set to its username, waits for ``run.accepted`` or ``run.rejected``, then for
``run.completed`` or ``run.failed`` of its run, and downloads every file with the REST token,
checking its size and SHA-256. A file that does not match is deleted. The files are still sealed:
open them with ``openssl cms -decrypt`` and the integration's private key.

Exit status: 0 done; 1 rejected, failed or a file that does not verify; 2 usage; 3 timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import httpx

__all__ = [
    "Stop",
    "amqp_url",
    "build_request",
    "events_queue",
    "load_integration",
    "main",
    "parse_args",
]

TIMEOUT_EXIT = 3
INTEGRATION_KEYS = ("name", "tenant", "token", "amqp")
AMQP_KEYS = ("url", "username", "password", "vhost", "requests_exchange", "events_exchange")


class Stop(Exception):
    """End the program with this message and exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _moment(text: str) -> str:
    """ISO 8601 with a time zone, as the contract demands (``Z`` or ``+01:00``)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 moment: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (Z or +hh:mm): {text!r}")
    return moment.isoformat()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("integration", type=Path, help="the JSON `integration create` printed")
    parser.add_argument("--record-type", choices=("interaction", "contact"), default="interaction")
    parser.add_argument(
        "--media-type", action="append", dest="media_types", help="repeat; default: all"
    )
    parser.add_argument("--start", type=_moment, help="inclusive, e.g. 2026-01-01T00:00:00Z")
    parser.add_argument("--end", type=_moment, help="exclusive; default: up to now")
    parser.add_argument("--split-size", type=int, help="largest file in bytes (min 1 MiB)")
    parser.add_argument("--title", help="shown in the run history")
    parser.add_argument(
        "--request-id", default=None, help="idempotency key; default: a new UUID (a new run)"
    )
    parser.add_argument("--out", type=Path, default=Path("cdds-files"), help="output directory")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds to wait for the run (3600)"
    )
    return parser.parse_args(argv)


def load_integration(path: Path) -> dict[str, Any]:
    """The printed JSON: ``{"id", "name", "tenant", "token", "amqp": {…}}``."""
    try:
        integration = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise Stop(f"{path}: cannot read it: {error}", 2) from None
    amqp = integration.get("amqp") if isinstance(integration, dict) else None
    missing = [
        k for k in INTEGRATION_KEYS if not isinstance(integration, dict) or k not in integration
    ]
    missing += [f"amqp.{k}" for k in AMQP_KEYS if not isinstance(amqp, dict) or k not in amqp]
    if missing:
        raise Stop(f"{path}: not what `cdds-admin integration create` printed: no {missing}", 2)
    return dict(integration)


def amqp_url(integration: dict[str, Any]) -> str:
    """The broker URL with the integration's credentials and virtual host."""
    amqp = integration["amqp"]
    parts = urlsplit(str(amqp["url"]))
    host = parts.hostname or "localhost"
    netloc = f"{quote(amqp['username'], safe='')}:{quote(amqp['password'], safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, "/" + quote(amqp["vhost"], safe=""), "", ""))


def events_queue(integration: dict[str, Any]) -> str:
    """The only queue names the broker lets this integration declare: cdds.int.TENANT.NAME.*"""
    return f"cdds.int.{integration['tenant']}.{integration['name']}.events"


def build_request(args: argparse.Namespace, integration: dict[str, Any]) -> dict[str, Any]:
    """The ``RequestRun`` body (schema_version 1)."""
    return {
        "schema_version": 1,
        "request_id": args.request_id or str(uuid.uuid4()),
        "tenant": integration["tenant"],
        "record_type": args.record_type,
        "media_types": args.media_types,
        "timeframe": {"start": args.start, "end": args.end},
        "split_size_bytes": args.split_size,
        "title": args.title,
    }


async def _wait(
    queue: aio_pika.abc.AbstractQueue, tenant: str, wanted: dict[str, tuple[str, str]]
) -> tuple[str, dict[str, Any]]:
    """The next event named in ``wanted`` whose body has the given field and value, e.g.
    ``{"run.accepted": ("request_id", "crm-1")}``. Other events are acknowledged and skipped: a
    real integrator would hand them to whoever waits for them."""
    async with queue.iterator() as messages:
        async for message in messages:
            async with message.process():
                event = (message.routing_key or "").removeprefix(f"{tenant}.")
                try:
                    body = json.loads(message.body)
                except ValueError:
                    continue
                if event in wanted and isinstance(body, dict):
                    field, value = wanted[event]
                    if body.get(field) == value:
                        return event, body
    raise Stop("the broker closed the events queue")


async def _request(integration: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """Publish the request and wait for its run's end; the ``run.completed`` body."""
    amqp, tenant = integration["amqp"], integration["tenant"]
    connection = await aio_pika.connect(amqp_url(integration))
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.set_qos(prefetch_count=10)
        queue = await channel.declare_queue(events_queue(integration), durable=True)
        await queue.bind(amqp["events_exchange"], routing_key=f"{tenant}.#")
        requests = await channel.get_exchange(amqp["requests_exchange"], ensure=False)
        message = aio_pika.Message(
            json.dumps(request).encode(),
            content_type="application/json",
            user_id=amqp["username"],  # the broker refuses any other: this is the authentication
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=request["request_id"],
        )
        await requests.publish(message, routing_key=f"{tenant}.run.request", mandatory=True)
        by_request = ("request_id", request["request_id"])
        answer, body = await _wait(
            queue, tenant, {"run.accepted": by_request, "run.rejected": by_request}
        )
        if answer == "run.rejected":
            raise Stop(f"rejected: {body.get('reason')}")
        run_id = body["run_id"]
        print(f"accepted: run {run_id}", file=sys.stderr)
        by_run = ("run_id", run_id)
        end, body = await _wait(queue, tenant, {"run.completed": by_run, "run.failed": by_run})
        if end == "run.failed":
            raise Stop(f"run {run_id} failed: {body.get('reason')}")
        return body


async def _download(client: httpx.AsyncClient, file: dict[str, Any], out: Path) -> Path:
    """Stream one file to ``out``, checking size and SHA-256; a file that does not match is
    deleted."""
    target = out / Path(file["name"]).name  # never a path the event could steer elsewhere
    partial = target.with_name(target.name + ".part")
    digest, size = hashlib.sha256(), 0
    async with client.stream("GET", file["content_url"]) as response:
        if response.status_code != 200:
            raise Stop(f"{file['name']}: download answered {response.status_code}")
        with partial.open("wb") as sink:
            async for chunk in response.aiter_bytes():
                digest.update(chunk)
                size += len(chunk)
                sink.write(chunk)
    if size != file["size"] or digest.hexdigest() != file["sha256"]:
        partial.unlink()
        raise Stop(f"{file['name']}: does not verify (size {size}, sha256 {digest.hexdigest()})")
    partial.replace(target)
    return target


async def run(args: argparse.Namespace) -> int:
    integration = load_integration(args.integration)
    request = build_request(args, integration)
    try:
        async with asyncio.timeout(args.timeout):
            completed = await _request(integration, request)
    except TimeoutError:
        waited = f"no end of request {request['request_id']} in {args.timeout:g} s"
        raise Stop(waited, TIMEOUT_EXIT) from None
    except (aio_pika.exceptions.AMQPError, OSError) as error:
        # A refused publish (another user_id, another tenant's key) closes the channel.
        raise Stop(f"broker: {error!r}") from None
    args.out.mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {integration['token']}"}
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60.0)) as client:
        for file in completed["files"]:
            try:
                print(await _download(client, file, args.out))
            except httpx.HTTPError as error:
                raise Stop(f"{file['name']}: download failed: {error!r}") from None
    print(f"run {completed['run_id']}: {completed['status']}, {len(completed['files'])} files")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except Stop as stop:
        print(f"integrator: {stop}", file=sys.stderr)
        return stop.status


if __name__ == "__main__":
    raise SystemExit(main())
