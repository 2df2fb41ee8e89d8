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
    # Limits on what a client may send; each answer that refuses is a 4xx with problem details (README,
    # "Limits"). max_body_bytes caps every request body (413, chunked bodies too); max_json_bytes the body of
    # the JSON routes (/predict/text, /predict/pixels: parsing JSON costs memory); max_upload_bytes the uploaded
    # file (413); max_image_pixels its width x height, read from the header before any decoding (413);
    # max_text_chars the text to classify (422); max_batch_size the images in one /predict/pixels batch (422).
    max_body_bytes: int = 6 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    max_upload_bytes: int = 5 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096
    max_text_chars: int = 5_000
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

    def __post_init__(self) -> None:
        for name in _LIMIT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} (env {ENV_PREFIX}{name.upper()}) must be a whole number of at least 1, not {value!r}.")

    def with_changes(self, **changes: Any) -> "Settings":
        return replace(self, **changes)


_INT_FIELDS = {
    "port", "max_body_bytes", "max_json_bytes", "max_upload_bytes", "max_image_pixels", "max_text_chars",
    "max_batch_size", "batch_max_size", "queue_limit",
}
_LIMIT_FIELDS = (
    "max_body_bytes", "max_json_bytes", "max_upload_bytes", "max_image_pixels", "max_text_chars", "max_batch_size",
)
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
