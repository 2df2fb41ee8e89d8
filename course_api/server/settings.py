"""Settings for the course server: one typed object, read from arguments and ``COURSE_API_*`` variables.

Every field can be set through an environment variable named ``COURSE_API_<FIELD>`` (for example
``COURSE_API_DEVICE=cuda`` or ``COURSE_API_PORT=8080``); keyword arguments win over the environment. A value
that is wrong stops start-up with a :class:`SettingsError` that names the variable and says what to set.
Every default lives here and nowhere else.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "COURSE_API_"
DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:\d+)?)$"
MIB = 1024 * 1024
# http(s)://host[/path] or /path, where {port} may stand for the server's port
# (course_api.system.public_url checks more).
PUBLIC_URL_PATTERN = re.compile(r"(https?://[A-Za-z0-9.{}\[\]:-]+)?(/[A-Za-z0-9._~!$()*+;=:@%{}-]*)*")

# Old names that meant something else than they seemed: a variable still set under one is an error, not ignored.
RENAMED = {
    "max_batch_size": "max_images_per_request",
    "batch_max_size": "microbatch_max_rows",
    "batch_wait_ms": "microbatch_wait_ms",
}


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the variable and what to set."""


def default_weights_dir() -> Path:
    """The folder of trained weights that ships inside the package."""
    return Path(str(resources.files("course_api") / "weights"))


_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("course_api_environ", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """``COURSE_API_*`` variables from a given mapping instead of ``os.environ`` (tests, child processes)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        keys = (lambda k: k) if self.case_sensitive else str.lower
        self.env_vars = {keys(k): v for k, v in environ.items() if not (self.env_ignore_empty and v == "")}


def _browser_address(value: str | None) -> str | None:
    """The ``public_url`` setting: http(s)://host[/path] or /path (``{port}`` allowed), nothing else."""
    if value is not None and not PUBLIC_URL_PATTERN.fullmatch(value):
        raise ValueError(
            "not an address a browser can open: give http(s)://host[/path] or /path, where {port} stands for the "
            "server's port (e.g. https://hub.example.org/user/ada/proxy/{port})"
        )
    return value


def _key_list(value: Any) -> Any:
    """The ``api_keys`` setting: a comma-separated string (``COURSE_API_API_KEYS=key1,key2``) or a list."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


# Settings whose values are never shown: not in an error message, not in a repr, not in model_dump_json.
SECRET_SETTINGS = frozenset({"api_keys"})


class Settings(BaseSettings):
    """Everything the server can be told. Defaults are safe for a laptop: loopback only."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", env_ignore_empty=True, validate_default=True
    )

    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on; 127.0.0.1 is this machine only.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on (0: any free port).")
    device: str = Field(
        "auto", pattern=DEVICE_PATTERN, description="Where the models run: auto, cpu, cuda, cuda:N or mps."
    )
    weights_dir: Path = Field(default_factory=default_weights_dir, description="Folder of the trained weights.")
    # Limits on what a client may send; each refusal is a 4xx with problem details (README, "Limits").
    max_body_bytes: int = Field(6 * MIB, ge=1, description="Largest request body on any route (413).")
    max_json_bytes: int = Field(
        MIB, ge=1, description="Largest body of the JSON routes: /predict/text, /predict/pixels, /generate (413)."
    )
    max_upload_bytes: int = Field(5 * MIB, ge=1, description="Largest file uploaded to /predict/image (413).")
    max_image_pixels: int = Field(
        4096 * 4096, ge=1, description="Most pixels (width x height) of an uploaded image, read from its header (413)."
    )
    max_text_chars: int = Field(5_000, ge=1, description="Longest text /predict/text classifies (422).")
    max_images_per_request: int = Field(
        256, ge=1, description="Most 8x8 images a client may send in one /predict/pixels request (422)."
    )
    # Text generation (POST /generate, course_api.server.generation): the size of one request.
    max_prompt_chars: int = Field(
        1_000, ge=1, le=100_000, description="Longest prompt /generate reads, in characters (422)."
    )
    max_new_tokens: int = Field(
        500, ge=1, le=1_000_000, description="Most characters /generate writes for one request (422 above it)."
    )
    # Micro-batching (course_api.server.batching): requests that arrive together share one forward pass.
    batching: bool = Field(True, description="Micro-batching on (1) or off (0: every request runs alone).")
    microbatch_max_rows: int = Field(
        64, ge=1, le=4096, description="Most input rows the server puts in one forward pass (one micro-batch)."
    )
    microbatch_wait_ms: float = Field(
        2.0, ge=0, le=1000, description="Longest a request waits for others to join its micro-batch (only under load)."
    )
    queue_limit: int = Field(512, ge=1, description="Most requests waiting per model; one more gets 503.")
    # Server processes (course-api serve): each loads its own models and runs its own micro-batcher.
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes on one port (course-api serve), each with its own models and micro-batcher.",
    )
    # Where a person's browser reaches the server when that is not its own address (course_api.system.public_url).
    public_url: Annotated[str | None, AfterValidator(_browser_address)] = Field(
        None,
        description="The address a browser opens, if not the server's own: http(s)://host[/path] or /path, "
        "{port} standing for the port (e.g. https://hub.example.org/user/ada/proxy/{port}); its path is the "
        "prefix that the pages' links and /openapi.json's server then carry.",
    )

    # API keys (course_api.server.keys): who may use the generation routes.
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode, BeforeValidator(_key_list)] = Field(
        (),
        description="Keys that clients send in the X-API-Key header to use /generate and /generate/jsonl, "
        "comma-separated (COURSE_API_API_KEYS=key1,key2). None configured (the default): those routes are open "
        "to anyone, as every other route always is. At least one: a request without a key gets 401, one with "
        "another key 403. The keys are secrets: never logged, shown or echoed.",
    )

    @property
    def json_body_limit(self) -> int:
        """The body cap of the JSON routes: ``max_json_bytes``, never above ``max_body_bytes``."""
        return min(self.max_json_bytes, self.max_body_bytes)

    def handover_json(self) -> str:
        """The settings as JSON for the processes ``course-api serve`` starts, the API keys included
        (``model_dump_json()`` writes each secret as ``**********``)."""
        values = self.model_dump(mode="json")
        values["api_keys"] = [key.get_secret_value() for key in self.api_keys]
        return json.dumps(values)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        env = env_settings if environ is None else _MappingEnvSource(settings_cls, environ)
        return (init_settings, env)  # arguments, then the environment: no .env file, no secrets folder

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``COURSE_API_*`` variables (of ``environ``, else the process), then ``overrides``
        (a None override means "not given")."""
        given = {k: v for k, v in overrides.items() if v is not None}
        source = os.environ if environ is None else environ
        _refuse_renamed(source, given)
        try:
            with _reading(environ):
                return cls(**given)
        except ValidationError as exc:
            raise SettingsError(_explain(exc, source, given)) from None

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated like the original."""
        _refuse_renamed({}, changes)
        try:
            with _reading({}):
                return type(self)(**{**self.model_dump(), **changes})
        except ValidationError as exc:
            raise SettingsError(_explain(exc, {}, changes)) from None


@contextmanager
def _reading(environ: Mapping[str, str] | None) -> Iterator[None]:
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


def env_name(field: str) -> str:
    """The environment variable of a setting: ``max_text_chars`` -> ``COURSE_API_MAX_TEXT_CHARS``."""
    return ENV_PREFIX + field.upper()


def _refuse_renamed(environ: Mapping[str, str], given: Mapping[str, Any]) -> None:
    for old, new in RENAMED.items():
        if old in given:
            raise SettingsError(f"The setting {old} is now called {new}: pass {new}=... instead.")
        if environ.get(env_name(old), "").strip():
            raise SettingsError(f"{env_name(old)} is now called {env_name(new)}: set that variable instead.")


def _explain(exc: ValidationError, environ: Mapping[str, str], given: Mapping[str, Any]) -> str:
    """One line per wrong value, naming where it came from (argument or variable) and what to set."""
    lines = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "?"
        if error["type"] == "extra_forbidden":
            known = ", ".join(Settings.model_fields)
            lines.append(f"Unknown setting {field!r}; the settings are: {known}.")
            continue
        where = f"{field}={given[field]!r}" if field in given else f"{env_name(field)}={environ.get(env_name(field))!r}"
        if field in SECRET_SETTINGS:  # a key is never echoed, not even a wrong one
            where = field if field in given else env_name(field)
        lines.append(f"{where}: {error['msg']}. {_advice(field)}")
    return "\n".join(lines)


def _advice(field: str) -> str:
    info = Settings.model_fields.get(field)
    if info is None:
        return ""
    bounds = {type(m).__name__: m for m in info.metadata}
    low = getattr(bounds.get("Ge"), "ge", None)
    high = getattr(bounds.get("Le"), "le", None)
    default = info.get_default(call_default_factory=True)
    if info.annotation is bool:
        wanted = "1 (on) or 0 (off)"
    elif info.annotation in (int, float):
        kind = "a whole number" if info.annotation is int else "a number"
        wanted = kind + (
            f" from {low} to {high}" if high is not None else f" of at least {low}" if low is not None else ""
        )
    elif field == "device":
        wanted = "auto, cpu, cuda, cuda:N or mps"
    elif field == "api_keys":
        wanted, default = "keys separated by commas", "none: the generation routes open"
    else:
        wanted = "a valid value"
    if isinstance(default, bool):
        default = int(default)
    return f"Set {env_name(field)} to {wanted}, or unset it for the default ({default})."
