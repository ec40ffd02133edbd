"""A minimal Confluent Schema Registry client: register a schema, get its id.

Only what the Kafka sink needs (POST /subjects/{subject}/versions), over urllib so no extra
package is required. Credentials may be given in the URL (https://user:pass@host); they are
sent as basic auth and never appear in messages.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from headwater.errors import SinkError, SinkUnavailable
from headwater.secrets import mask_url, without_credentials

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistry:
    def __init__(self, url: str, sink: str, timeout: float = 10.0):
        parts = urlsplit(url)
        self.sink = sink
        self.timeout = timeout
        self.where = mask_url(url)
        self._auth: str | None = None
        if parts.username is not None:
            # decoded: ${VAR} in a URL's userinfo arrives percent-encoded
            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self._auth = "Basic " + base64.b64encode(token).decode("ascii")
        self.base = without_credentials(url).rstrip("/")
        self._ids: dict[tuple[str, str], int] = {}

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """The registry's id for `schema` under `subject` (registered if new)."""
        text = json.dumps(schema, separators=(",", ":"))
        cached = self._ids.get((subject, text))
        if cached is not None:
            return cached
        body = json.dumps({"schemaType": "AVRO", "schema": text}).encode()
        request = urllib.request.Request(
            f"{self.base}/subjects/{quote(subject, safe='')}/versions",
            data=body,
            method="POST",
            headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
        )
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise SinkError(
                self.sink,
                f"schema registry {self.where} refused subject '{subject}': "
                f"HTTP {exc.code} {detail}",
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SinkUnavailable(
                self.sink, f"cannot reach schema registry {self.where}: {exc}"
            ) from exc
        schema_id = int(reply["id"])
        self._ids[(subject, text)] = schema_id
        return schema_id
