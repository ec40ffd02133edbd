"""A small in-process Confluent Schema Registry, faithful to the REST API the clients use.

Confluent's registry is Java and not packaged for Python, so the Kafka tests run this one:
enough of the API (v1, `application/vnd.schemaregistry.v1+json`) for headwater's sink to
register schemas and for confluent-kafka's own `SchemaRegistryClient` / `AvroDeserializer`
to read them back:

- POST /subjects/{subject}/versions: register; the same schema gets the same id in every
  subject (ids are global and count up from 1), and the same version within its subject.
- GET /schemas/ids/{id}: `{"schema": ...}`; `schemaType` only when not AVRO (as Confluent's
  SchemaTypeConverter leaves it out).
- GET /subjects, /subjects/{subject}/versions, /subjects/{subject}/versions/{n|latest}.
- Errors as `{"error_code": ..., "message": ...}`: 40401 subject, 40402 version, 40403
  schema not found, 42201 invalid schema, 401 without the right basic auth.

Every request is recorded (method, path, query, whether it was authorized) for the tests.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    authorized: bool
    body: Any = None


@dataclass
class _Schema:
    id: int
    text: str
    schema_type: str


class _Error(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class SchemaRegistry:
    """The registry's state; `serve()` puts it behind HTTP on 127.0.0.1."""

    username: str = "user"
    password: str = "secret"
    requests: list[Request] = field(default_factory=list)
    _by_id: dict[int, _Schema] = field(default_factory=dict)
    _ids: dict[tuple[str, str], int] = field(default_factory=dict)
    _subjects: dict[str, list[int]] = field(default_factory=dict)  # subject → ids by version
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the API -------------------------------------------------------------------------

    def register(self, subject: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise _Error(422, 42201, "Either the input schema or one its references is invalid")
        schema_type = body.get("schemaType") or "AVRO"
        text = body["schema"]
        key = (schema_type, self._canonical(schema_type, text))
        with self._lock:
            schema_id = self._ids.get(key)
            if schema_id is None:
                schema_id = len(self._by_id) + 1
                self._ids[key] = schema_id
                self._by_id[schema_id] = _Schema(schema_id, text, schema_type)
            versions = self._subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
        return {"id": schema_id}

    def schema(self, schema_id: int) -> dict[str, Any]:
        found = self._by_id.get(schema_id)
        if found is None:
            raise _Error(404, 40403, f"Schema {schema_id} not found")
        out: dict[str, Any] = {"schema": found.text}
        if found.schema_type != "AVRO":
            out["schemaType"] = found.schema_type
        return out

    def versions(self, subject: str) -> list[int]:
        if subject not in self._subjects:
            raise _Error(404, 40401, f"Subject '{subject}' not found.")
        return list(range(1, len(self._subjects[subject]) + 1))

    def version(self, subject: str, version: str) -> dict[str, Any]:
        numbers = self.versions(subject)
        if version in ("latest", "-1"):
            number = numbers[-1]
        elif version.isdigit() and int(version) in numbers:
            number = int(version)
        else:
            raise _Error(404, 40402, f"Version {version} not found.")
        schema_id = self._subjects[subject][number - 1]
        return {"subject": subject, "version": number, "id": schema_id, **self.schema(schema_id)}

    @staticmethod
    def _canonical(schema_type: str, text: str) -> str:
        """Equal schemas compare equal whatever their spacing; an invalid one is refused."""
        if schema_type != "AVRO":
            return text
        try:
            import fastavro

            parsed = json.loads(text)
            fastavro.parse_schema(parsed)
        except Exception as exc:
            raise _Error(422, 42201, f"Invalid schema: {exc}") from exc
        return json.dumps(parsed, sort_keys=True, separators=(",", ":"))

    # -- HTTP ----------------------------------------------------------------------------

    def route(self, method: str, path: str, body: Any) -> Any:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        match method, parts:
            case "POST", ["subjects", subject, "versions"]:
                return self.register(subject, body)
            case "GET", ["schemas", "ids", schema_id] if schema_id.isdigit():
                return self.schema(int(schema_id))
            case "GET", ["subjects"]:
                return sorted(self._subjects)
            case "GET", ["subjects", subject, "versions"]:
                return self.versions(subject)
            case "GET", ["subjects", subject, "versions", version]:
                return self.version(subject, version)
        raise _Error(404, 404, "HTTP 404 Not Found")

    def authorized(self, header: str | None) -> bool:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return header == f"Basic {token}"

    def serve(self) -> Server:
        return Server(self)


class Server:
    """The registry over HTTP on 127.0.0.1, in a daemon thread; `url` carries the credentials."""

    def __init__(self, registry: SchemaRegistry):
        self.registry = registry
        handler = type("Handler", (_Handler,), {"registry": registry})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, user: str | None = None, password: str | None = None) -> str:
        user = self.registry.username if user is None else user
        password = self.registry.password if password is None else password
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    registry: SchemaRegistry
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        authorized = self.registry.authorized(self.headers.get("Authorization"))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.registry.requests.append(
            Request(method, url.path, parse_qs(url.query), authorized, body)
        )
        try:
            if not authorized:
                raise _Error(401, 401, "Unauthorized")
            status, reply = 200, self.registry.route(method, url.path, body)
        except _Error as err:
            status, reply = err.status, {"error_code": err.code, "message": err.message}
        data = json.dumps(reply).encode()
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="SchemaRegistry"')
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass
