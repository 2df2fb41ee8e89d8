"""Settings for the course server: one explicit object, read from arguments or the environment.

Every field can be set through an environment variable named ``COURSE_API_<FIELD>`` (for example
``COURSE_API_DEVICE=cuda`` or ``COURSE_API_PORT=8080``); keyword arguments win over the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

ENV_PREFIX = "COURSE_API_"


def default_weights_dir() -> Path:
    """The folder of trained weights that ships inside the package."""
    return Path(str(resources.files("course_api") / "weights"))


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. Defaults are safe for a laptop: loopback only."""

    host: str = "127.0.0.1"
    port: int = 8000
    device: str = "auto"
    weights_dir: Path = field(default_factory=default_weights_dir)
    max_text_chars: int = 5_000
    max_upload_bytes: int = 5 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096
    max_batch_size: int = 256
    # Micro-batching of model calls (course_api.batching): requests that arrive together share one forward
    # pass of at most batch_max_size inputs; a lone request runs at once; batch_wait_ms is the longest a
    # request waits for others, and only while the server is busy. queue_limit bounds the requests waiting
    # per model: one more gets 503 with Retry-After.
    batching: bool = True
    batch_max_size: int = 64
    batch_wait_ms: float = 2.0
    queue_limit: int = 512

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Build settings from ``COURSE_API_*`` variables, then apply ``overrides`` (None means unset)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw.strip() != "":
                values[f.name] = _convert(f.name, raw.strip())
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"Unknown setting(s): {', '.join(sorted(unknown))}")
        if "weights_dir" in values:
            values["weights_dir"] = Path(values["weights_dir"])
        return cls(**values)

    def with_changes(self, **changes: Any) -> "Settings":
        return replace(self, **changes)


_INT_FIELDS = {
    "port", "max_text_chars", "max_upload_bytes", "max_image_pixels", "max_batch_size", "batch_max_size", "queue_limit",
}
_FLOAT_FIELDS = {"batch_wait_ms"}
_BOOL_FIELDS = {"batching"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(name: str, raw: str) -> Any:
    if name in _BOOL_FIELDS:
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not on or off; set it to 1 or 0.")
    if name in _FLOAT_FIELDS:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a number; set it to e.g. 2 or unset it.") from None
    if name in _INT_FIELDS:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(
                f"{ENV_PREFIX}{name.upper()}={raw!r} is not a whole number; set it to e.g. 8000 or unset it."
            ) from None
    return raw
