"""Storage options of a store URL, and the credentials policy: the same for the CLI and a notebook.

Options come from the environment only: SWEEP_STORAGE_OPTIONS (a JSON object of non-secret fsspec options,
e.g. ``{"client_kwargs": {"region_name": "eu-west-1"}}``) and, for s3:// URLs, the endpoint in
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (made explicit so that every node of a cluster writes to the driver's
endpoint). Credentials are never options (options travel with every task and are never stored): s3fs reads
them on each node from its environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance
role).
"""

from __future__ import annotations

import json
import os
from typing import Optional

from ..config.errors import StoreError

STORAGE_ENV = "SWEEP_STORAGE_OPTIONS"
SECRET_OPTIONS = {"key", "secret", "token", "password", "access_key", "secret_key", "session_token",
                  "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "account_key", "sas_token"}
CREDENTIALS_HINT = ("credentials come from the environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                    "AWS_PROFILE, or the machine's role), the endpoint from AWS_ENDPOINT_URL")


class StorageOptionsError(StoreError):
    """SWEEP_STORAGE_OPTIONS is not usable (not JSON, not an object, or holding credentials)."""


def _secrets(d: dict, path: str = ""):
    for k, v in d.items():
        if str(k).lower() in SECRET_OPTIONS:
            yield path + str(k)
        if isinstance(v, dict):
            yield from _secrets(v, f"{path}{k}.")


def storage_options(url: str) -> Optional[dict]:
    """The fsspec storage options of a store URL (None for a local path), from the environment (see the module
    docstring); raises StorageOptionsError for unusable options."""
    if "://" not in url or url.startswith("file://"):
        return None
    raw = os.environ.get(STORAGE_ENV, "").strip()
    try:
        opts = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise StorageOptionsError(f"{STORAGE_ENV}: not valid JSON: {exc}") from None
    if not isinstance(opts, dict):
        raise StorageOptionsError(f"{STORAGE_ENV}: expected a JSON object of storage options, got "
                                  f"{type(opts).__name__}")
    bad = list(_secrets(opts))
    if bad:
        raise StorageOptionsError(
            f"{STORAGE_ENV}: {', '.join(bad)}: credentials are not storage options here (they would travel with "
            "every task); set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment of the "
            "driver and of every node instead")
    if url.startswith(("s3://", "s3a://")) and "endpoint_url" not in opts:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            opts["endpoint_url"] = endpoint
    return opts or None
