"""API keys: who may use the generation routes (``POST /generate``, ``POST /generate/jsonl``).

A client sends its key in the ``X-API-Key`` header. The keys are the ``api_keys`` setting
(``COURSE_API_API_KEYS=key1,key2``). With none configured, the default, the routes are open, as every other
route is; with at least one, a request without a key is a 401 (with ``WWW-Authenticate``), one with a key that is
not configured a 403, both problem details and both before the stream starts (:data:`KeyRequired` is a
dependency, and dependencies run before the answer starts).

A key is compared in constant time with every configured key, never stopping at the first match, so the time of
an answer says nothing about which key, or how much of one, was right; and a key is never logged, nor written
into an answer.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from course_api.server.dependencies import Config
from course_api.server.problems import APIProblem

API_KEY_HEADER = "X-API-Key"
# What a 401 says in its WWW-Authenticate header: the scheme and where the key goes.
AUTHENTICATE = f'APIKey header="{API_KEY_HEADER}"'

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="APIKey",
    description="An API key of this server, when it has keys configured (`api_keys`, `COURSE_API_API_KEYS`); "
    "with none configured the generation routes need no key.",
    auto_error=False,  # a missing key is answered by require_api_key: a 401 with problem details
)

KEY_ERRORS: dict[int | str, str] = {
    401: f"No API key: this server has keys configured (`api_keys`); send one in the `{API_KEY_HEADER}` header.",
    403: f"The `{API_KEY_HEADER}` header holds a key that this server does not accept.",
}


def _digest(key: str) -> bytes:
    # Hashed first: compare_digest then compares two values of one length, whatever the lengths of the keys.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_matches(given: str, keys: Iterable[SecretStr]) -> bool:
    """Whether ``given`` is one of ``keys``, compared in constant time with each of them (no early exit)."""
    given_digest = _digest(given)
    found = False
    for key in keys:
        found |= secrets.compare_digest(given_digest, _digest(key.get_secret_value()))
    return found


async def require_api_key(config: Config, key: Annotated[str | None, Security(api_key_header)]) -> None:
    """Nothing when no keys are configured or the request's key is one of them; else a 401 or 403 problem."""
    if not config.api_keys:
        return
    if not key:
        detail = f"This route needs an API key: send it in the {API_KEY_HEADER} header."
        raise APIProblem("api-key-missing", detail, headers={"WWW-Authenticate": AUTHENTICATE})
    if not key_matches(key, config.api_keys):
        detail = f"The key in the {API_KEY_HEADER} header is not one this server accepts: check it, or ask for one."
        raise APIProblem("api-key-refused", detail)


KeyRequired = Depends(require_api_key)
