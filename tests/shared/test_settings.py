"""Settings: nested names, secrets, unsafe defaults refused outside development, one clear line."""

from __future__ import annotations

import pytest

from cdds_shared.errors import ConfigError
from cdds_shared.runtime import settings_or_exit
from cdds_shared.settings import load_settings


def test_nested_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDDS_MINIO__ENDPOINT", "minio.internal:9000")
    monkeypatch.setenv("CDDS_RETENTION__SECONDS", "5")
    settings = load_settings()
    assert settings.minio.endpoint == "minio.internal:9000"
    assert settings.retention.seconds == 5


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDDS_MINIO__SECRET_KEY", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(load_settings())


def test_unsafe_default_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDDS_ENVIRONMENT", "production")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith("CDDS_RABBIT__URL: unsafe development default")
    assert "\n" not in str(caught.value)


def test_production_with_real_secrets_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "CDDS_ENVIRONMENT": "production",
        "CDDS_RABBIT__URL": "amqp://cdds:long-secret@rabbit:5672/",
        "CDDS_MINIO__SECRET_KEY": "another-long-secret",
        "CDDS_TRANSIT__KEY": "cHJvZHVjdGlvbi10cmFuc2l0LWtleS0zMi1ieXRlcyE=",
        "CDDS_UCS__DSN": "postgresql://reader:pw@ucs-db:5432/ucs",
    }.items():
        monkeypatch.setenv(name, value)
    assert load_settings().environment == "production"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CDDS_GATEWAY__PORT", "eighty", "CDDS_GATEWAY__PORT: Input should be a valid integer"),
        ("CDDS_RABBIT__PREFETCH", "0", "CDDS_RABBIT__PREFETCH: Input should be greater than"),
        ("CDDS_ENVIRONMENT", "staging", "CDDS_ENVIRONMENT: Input should be"),
    ],
)
def test_a_bad_value_names_its_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(expected)


PRODUCTION_SHARED = {
    "CDDS_ENVIRONMENT": "production",
    "CDDS_RABBIT__URL": "amqp://cdds:long-secret@rabbit:5672/",
    "CDDS_MINIO__SECRET_KEY": "another-long-secret",
}


@pytest.mark.parametrize(
    ("service", "refused"),
    [
        ("gateway", None),
        ("janitor", None),
        ("encryptor", "CDDS_TRANSIT__KEY"),
        ("exporter", "CDDS_UCS__DSN"),
    ],
)
def test_a_service_refuses_only_the_defaults_of_what_it_reads(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    service: str,
    refused: str | None,
) -> None:
    """Without a UCS DSN or transit key of their own, the gateway and the janitor start; the
    exporter and the encryptor end with one line naming the first one they read."""
    for name, value in PRODUCTION_SHARED.items():
        monkeypatch.setenv(name, value)
    if refused is None:
        assert settings_or_exit(service).environment == "production"
        return
    with pytest.raises(SystemExit) as stopped:
        settings_or_exit(service)
    assert stopped.value.code == 2
    line = capsys.readouterr().err
    assert line == (
        f"cdds-{service}: bad configuration: {refused}: unsafe development default refused in "
        "production\n"
    )
