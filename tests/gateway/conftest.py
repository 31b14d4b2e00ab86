"""The gateway in-process, against the real servers, driven over ASGI by ``httpx``.

Fixtures:

- ``gateway`` (module): ``create_app(settings)`` running inside its lifespan, with this module's own
  MongoDB database and MinIO bucket (dropped afterwards) and the stack's RabbitMQ. A module that
  needs other gateway settings defines ``GATEWAY = {"login_max_failures": 2, ...}``.
- ``client``: a fresh ``httpx.AsyncClient`` on it (its own cookie jar), per test.
- ``tenant``: a new tenant; ``exporter``: a signed-in user with the ``exporter`` role in it.

Helpers: ``new_tenant``, ``new_user`` (an ``Account``: user + password), ``sign_in`` (a
``SignedInUser`` with ``bearer`` / ``cookie`` headers), ``running_gateway`` for a second app with
other settings, and ``rsa_certificate`` for an acceptable certificate.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from cdds_gateway.app import create_app
from cdds_gateway.deps import GatewayDeps
from cdds_gateway.security import CSRF_HEADER, SESSION_COOKIE
from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.identity import IdentityStore, Tenant, User
from cdds_shared.settings import Settings
from tests.infra import StackInfo

GATEWAY_URL = "http://gateway.test"
PASSWORD = "correct horse battery staple"


# -- the app -------------------------------------------------------------------------------------


@dataclass
class Gateway:
    app: FastAPI
    settings: Settings

    @property
    def deps(self) -> GatewayDeps:
        deps: GatewayDeps = self.app.state.deps
        return deps

    @property
    def identity(self) -> IdentityStore:
        return self.deps.identity

    def client(self, base_url: str = GATEWAY_URL) -> httpx.AsyncClient:
        """A client of the app (``https://…`` base URLs make the requests HTTPS)."""
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url=base_url)


def gateway_settings(stack: StackInfo, suffix: str, **gateway: Any) -> Settings:
    """Settings of a test gateway with its own database and bucket; ``gateway`` overrides
    ``GatewaySettings`` fields (e.g. ``url="https://cdds.example"``)."""
    return Settings(
        environment="test",
        startup_timeout_seconds=10,
        rabbit={"url": stack.rabbit_url, "management_url": stack.rabbit_management_url},
        mongo={"url": stack.mongo_url, "database": f"cdds_test_gateway_{suffix}"},
        minio={
            "endpoint": stack.minio_endpoint,
            "access_key": stack.minio_access_key,
            "secret_key": stack.minio_secret_key,
            "bucket": f"cdds-test-gateway-{suffix}",
        },
        gateway={"url": GATEWAY_URL, **gateway},
    )  # type: ignore[arg-type]


@asynccontextmanager
async def running_gateway(stack: StackInfo, **gateway: Any) -> AsyncIterator[Gateway]:
    """A gateway app inside its lifespan; its database and bucket are removed afterwards."""
    settings = gateway_settings(stack, uuid.uuid4().hex[:10], **gateway)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        running = Gateway(app, settings)
        try:
            yield running
        finally:
            documents, objects = running.deps.documents, running.deps.objects
            assert isinstance(documents, MongoDocumentStore)
            await documents.drop_database()
            if isinstance(objects, MinioObjectStore):
                await objects.remove_bucket()


@pytest.fixture(scope="module")
async def gateway(stack: StackInfo, request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    async with running_gateway(stack, **getattr(request.module, "GATEWAY", {})) as running:
        yield running


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.client() as c:
        yield c


# -- tenants, users, sign-in ---------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    user: User
    tenant: Tenant
    password: str = PASSWORD

    @property
    def username(self) -> str:
        return self.user.username


@dataclass(frozen=True)
class SignedInUser(Account):
    token: str = ""
    csrf_token: str = ""

    @property
    def bearer(self) -> dict[str, str]:
        """Headers of a bearer request (CLI, integrations)."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def cookie(self) -> dict[str, str]:
        """Headers of a browser request: the session cookie and the CSRF token."""
        return {"Cookie": f"{SESSION_COOKIE}={self.token}", CSRF_HEADER: self.csrf_token}


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def new_tenant(gateway: Gateway) -> Tenant:
    return await gateway.identity.create_tenant(new_name("t"), random.randrange(1, 2**31))


async def new_user(
    gateway: Gateway,
    tenant: Tenant,
    *,
    username: str | None = None,
    roles: Sequence[str] = ("exporter",),
    password: str = PASSWORD,
) -> Account:
    user = await gateway.identity.create_user(
        username or new_name("u"), tenant.name, roles, password
    )
    return Account(user, tenant, password)


async def sign_in(
    client: httpx.AsyncClient,
    account: Account,
    *,
    remember_me: bool = False,
    keep_cookie: bool = False,
) -> SignedInUser:
    """Sign in through the API; the client's cookie jar is cleared unless ``keep_cookie``."""
    response = await client.post(
        "/api/v1/session",
        json={
            "username": account.username,
            "tenant": account.tenant.name,
            "password": account.password,
            "remember_me": remember_me,
        },
    )
    assert response.status_code == 200, response.text
    if not keep_cookie:
        client.cookies.clear()
    body = response.json()
    return SignedInUser(
        account.user, account.tenant, account.password, body["token"], body["csrf_token"]
    )


@pytest.fixture
async def tenant(gateway: Gateway) -> Tenant:
    return await new_tenant(gateway)


@pytest.fixture
async def exporter(gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant) -> SignedInUser:
    """A signed-in user with the ``exporter`` role (and no certificate yet)."""
    return await sign_in(client, await new_user(gateway, tenant))


# -- certificates --------------------------------------------------------------------------------


@cache
def _rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def rsa_certificate(
    *, bits: int = 2048, days: float = 365, name: str = "cdds-test"
) -> tuple[x509.Certificate, bytes]:
    """An acceptable certificate (RSA, valid from yesterday for ``days``) and its PEM."""
    key = _rsa_key(bits)
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert, cert.public_bytes(serialization.Encoding.PEM)
