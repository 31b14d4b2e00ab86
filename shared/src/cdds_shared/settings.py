"""Settings: one pydantic-settings model composed of per-dependency parts.

Environment names are ``CDDS_<PART>__<FIELD>`` (e.g. ``CDDS_RABBIT__URL``). Secrets are
``SecretStr``. The development defaults match the local stack (``make up``); outside
``CDDS_ENVIRONMENT=development``/``test`` they are refused, so production never runs on them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable
from typing import Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from cdds_shared.errors import ConfigError

__all__ = [
    "ExportSettings",
    "GatewaySettings",
    "JanitorSettings",
    "MinioSettings",
    "MongoSettings",
    "OtelSettings",
    "RabbitSettings",
    "RetentionSettings",
    "RetrySettings",
    "Settings",
    "TransitSettings",
    "UcsSettings",
    "WorkerSettings",
    "load_settings",
]

DEV_RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEV_MINIO_SECRET = "cdds-dev-secret"  # noqa: S105 - development default, refused elsewhere
DEV_TRANSIT_KEY = "ZGV2LW9ubHktdHJhbnNpdC1rZXktMzItYnl0ZXMhISE="
DEV_UCS_DSN = "postgresql://cdds:cdds@127.0.0.1:5432/ucs"


class RabbitSettings(BaseModel):
    url: SecretStr = Field(SecretStr(DEV_RABBIT_URL), description="AMQP URL of RabbitMQ")
    management_url: str = Field(
        "http://127.0.0.1:15672", description="RabbitMQ management API (dead letters, health)"
    )
    # The one prefetch of every consumer (exporter, encryptor, janitor): how many messages each
    # handles at once. Compression runs in threads, so about the number of cores.
    prefetch: int = Field(
        2, ge=1, le=1000, description="messages each consumer handles at once (its prefetch)"
    )
    delivery_limit: int = Field(5, ge=1, description="deliveries before a message is dead-lettered")


class MongoSettings(BaseModel):
    url: SecretStr = Field(SecretStr("mongodb://127.0.0.1:27017/"), description="MongoDB URL")
    database: str = Field("cdds", description="database name")


class MinioSettings(BaseModel):
    endpoint: str = Field("127.0.0.1:9000", description="host:port of MinIO / S3")
    public_endpoint: str | None = Field(
        None, description="host:port that browsers reach; presigned URLs are signed for it"
    )
    access_key: str = Field("cdds", description="access key")
    secret_key: SecretStr = Field(SecretStr(DEV_MINIO_SECRET), description="secret key")
    secure: bool = Field(False, description="use TLS")
    region: str = Field("us-east-1", description="region")
    bucket: str = Field("cdds-artifacts", description="bucket for sealed artifacts")
    staging_prefix: str = Field("staging/", description="prefix of transit-encrypted parts")


class UcsSettings(BaseModel):
    dsn: SecretStr = Field(SecretStr(DEV_UCS_DSN), description="PostgreSQL DSN of the UCS database")
    # 250: PostgreSQL spends about a sixth less CPU rendering 100 000 records fetched 250 at a
    # time than 2000 at a time (docs/benchmarks.md), and the exporter holds less.
    fetch_size: int = Field(250, ge=1, description="rows per server-side cursor fetch")


class GatewaySettings(BaseModel):
    url: str = Field("http://127.0.0.1:8080", description="public base URL of the gateway")
    host: str = Field("127.0.0.1", description="bind address")
    port: int = Field(8080, description="bind port")
    session_hours: float = Field(8.0, gt=0, description="lifetime of a session")
    remember_me_days: float = Field(30.0, gt=0, description="lifetime with Remember me")
    login_max_failures: int = Field(5, ge=1, description="failed sign-ins before a lockout")
    login_lockout_seconds: float = Field(900.0, ge=0, description="how long a lockout lasts")
    certificate_max_bytes: int = Field(65536, ge=1024, description="largest certificate upload")
    # The HTTP edge (docs/operations.md, "The HTTP edge"): enforced by cdds_gateway.serve and
    # the gateway's middleware while the request streams in, never after buffering it.
    max_body_bytes: int = Field(65536, ge=1024, description="largest JSON or form body")
    max_header_bytes: int = Field(
        32768, ge=1024, description="largest request line and headers of one request"
    )
    max_headers: int = Field(100, ge=8, description="most header fields in one request")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="time a client has to send a request line and headers"
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="time a client has to send a request body, once it is read"
    )
    keep_alive_seconds: int = Field(5, ge=1, description="an idle keep-alive connection closes")
    limit_concurrency: int = Field(
        1000, ge=1, description="open connections and requests beyond which requests get 503"
    )
    backlog: int = Field(2048, ge=1, description="connections the kernel queues before accept")
    login_ip_max_failures: int = Field(
        30, ge=1, description="failed sign-ins from one address per window, whatever the names"
    )
    login_ip_window_seconds: float = Field(
        900.0, gt=0, description="the window of login_ip_max_failures"
    )
    scheduler_interval_seconds: float = Field(
        30.0, gt=0, description="how often recurring jobs are checked"
    )
    download_mode: Literal["proxy", "redirect"] = Field(
        "proxy",
        description="proxy: files stream through the gateway; redirect: after the same checks "
        "and audit, 307 to a presigned object-store URL valid 60 s (clients must reach "
        "CDDS_MINIO__PUBLIC_ENDPOINT)",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="addresses or CIDRs of the proxies whose X-Forwarded-For/-Proto are honoured "
        "(JSON list; empty: none, the socket's peer is the client)",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR") from None
        return value


class WorkerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="bind address of the health endpoint")
    port: int = Field(8081, description="port of the health endpoint")


class TransitSettings(BaseModel):
    key: SecretStr = Field(
        SecretStr(DEV_TRANSIT_KEY),
        description="base64 of 32 bytes; wraps per-part data keys between exporter and encryptor",
    )

    @field_validator("key")
    @classmethod
    def _32_bytes(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except binascii.Error:
            raise ValueError("not valid base64") from None
        if len(raw) != 32:
            raise ValueError(f"must be base64 of exactly 32 bytes (got {len(raw)})")
        return value


class ExportSettings(BaseModel):
    compression_level: int = Field(6, ge=0, le=9, description="deflate level of the ZIP parts")
    deflate: Literal["zlib-ng", "zlib"] = Field(
        "zlib-ng",
        description="deflate library of new runs' ZIP parts: zlib-ng (same format and ratio, about "
        "half the CPU) or the standard library's zlib; a run keeps the one it was planned with",
    )
    partition_records: int = Field(
        100_000,
        ge=1,
        description="records per partition; partitions run in parallel on any exporter replica, "
        "and each partition ends with its own (possibly smaller) file",
    )
    max_partitions: int = Field(64, ge=1, description="upper bound of partitions per run")
    stall_timeout_seconds: float = Field(
        1200.0,
        gt=0,
        description="a running run with no progress for this long is marked failed; keep it "
        "above CDDS_RETRY__BUDGET_SECONDS, so an outage fails a run naming the dependency",
    )
    watchdog_interval_seconds: float = Field(30.0, gt=0, description="how often stalls are checked")
    # Fair share (docs/pipeline.md, "Fair share"): read by the gateway (the backlog cap) and the
    # exporter (admission and partition dispatch).
    max_runs_per_user: int = Field(2, ge=1, description="runs of one user exporting at once")
    max_runs_per_tenant: int = Field(4, ge=1, description="runs of one tenant exporting at once")
    max_queued_runs_per_user: int = Field(
        20, ge=1, description="queued runs of one user beyond which a new start is refused (429)"
    )
    partitions_per_tenant: int = Field(
        2,
        ge=1,
        description="partitions of one tenant in flight (published, not finished) at once; set "
        "it to the exporters' total concurrency (replicas x CDDS_RABBIT__PREFETCH)",
    )
    dispatch_interval_seconds: float = Field(
        5.0, gt=0, description="how often an exporter repeats the dispatch of every tenant"
    )


class RetentionSettings(BaseModel):
    seconds: int = Field(2_592_000, ge=1, description="artifact lifetime (default 30 days)")


class RetrySettings(BaseModel):
    """How a message that failed for a transient reason comes back (``messaging/fate.py``)."""

    budget_seconds: float = Field(
        900.0,
        gt=0,
        description="how long a message keeps being retried after its first failure before the "
        "run it belongs to fails, naming the dependency",
    )
    tiers_seconds: tuple[float, ...] = Field(
        (1.0, 5.0, 30.0, 120.0),
        min_length=1,
        description="delays of the retry queues, one per attempt (the last one repeats); JSON list",
    )
    probe_interval_seconds: float = Field(
        2.0, gt=0, description="how often a worker paused by a dependency outage probes it"
    )

    @field_validator("tiers_seconds")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(t <= 0 for t in value):
            raise ValueError("every delay must be above 0")
        return value


class JanitorSettings(BaseModel):
    sweep_interval_seconds: float = Field(300.0, gt=0, description="seconds between sweeps")


class OtelSettings(BaseModel):
    """Traces over OTLP (``cdds_shared.telemetry``; docs/operations.md, "Traces")."""

    endpoint: str | None = Field(
        None,
        description="OTLP/HTTP traces URL of a collector, e.g. http://otel-collector:4318/v1/traces;"
        " unset: no tracing at all",
    )
    service_name: str | None = Field(
        None, description="the resource's service.name (default cdds-<service>)"
    )

    @field_validator("endpoint", "service_name", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # ``CDDS_OTEL__ENDPOINT=`` in an env file: off


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CDDS_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    startup_timeout_seconds: float = Field(
        30.0, ge=0, description="how long a service waits for its dependencies before giving up"
    )
    rabbit: RabbitSettings = RabbitSettings()
    mongo: MongoSettings = MongoSettings()
    minio: MinioSettings = MinioSettings()
    ucs: UcsSettings = UcsSettings()
    gateway: GatewaySettings = GatewaySettings()
    worker: WorkerSettings = WorkerSettings()
    transit: TransitSettings = TransitSettings()
    export: ExportSettings = ExportSettings()
    retention: RetentionSettings = RetentionSettings()
    retry: RetrySettings = RetrySettings()
    janitor: JanitorSettings = JanitorSettings()
    otel: OtelSettings = OtelSettings()

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        """Every service reads the broker and the object store: their development secrets are
        refused here. The UCS DSN and the transit key only where they are read
        (``refuse_unsafe_defaults``), so a gateway needs neither."""
        self.refuse_unsafe_defaults(("CDDS_RABBIT__URL", "CDDS_MINIO__SECRET_KEY"))
        return self

    def unsafe_defaults(self) -> dict[str, bool]:
        """Each secret setting with a development default: is it still that default?"""
        return {
            "CDDS_RABBIT__URL": "guest:guest@" in self.rabbit.url.get_secret_value(),
            "CDDS_MINIO__SECRET_KEY": self.minio.secret_key.get_secret_value() == DEV_MINIO_SECRET,
            "CDDS_TRANSIT__KEY": self.transit.key.get_secret_value() == DEV_TRANSIT_KEY,
            "CDDS_UCS__DSN": self.ucs.dsn.get_secret_value() == DEV_UCS_DSN,
        }

    def refuse_unsafe_defaults(self, names: Iterable[str]) -> None:
        """Raise ``ValueError`` when one of ``names`` keeps its development default outside
        development and test."""
        if self.environment in ("development", "test"):
            return
        unsafe = self.unsafe_defaults()
        bad = [name for name in names if unsafe[name]]
        if bad:
            raise ValueError(f"{bad[0]}: unsafe development default refused in {self.environment}")


def _env_name(loc: tuple[int | str, ...]) -> str:
    return "CDDS_" + "__".join(str(part).upper() for part in loc)


def load_settings() -> Settings:
    """Read settings from the environment; on error raise one clear ``ConfigError`` line."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        if not loc:  # a model-level check already names its setting
            raise ConfigError(msg.removeprefix("Value error, ")) from None
        raise ConfigError(f"{_env_name(loc)}: {msg}") from None
