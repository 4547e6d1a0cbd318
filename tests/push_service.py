"""A push service on 127.0.0.1 and synthetic browser subscriptions, for the push tests and the benchmark.

LocalPushService records every POST (path, headers, body, arrival time) and answers 201 unless a
test scripted other answers for an endpoint. PushClient is what a browser holds: a P-256 key pair
and a 16-byte auth secret; it decrypts what arrives with http_ece (aes128gcm).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PushClient:
    """A synthetic browser subscription: EC P-256 key pair (p256dh) and a random auth secret."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def subscription_json(self) -> dict:
        """What PushSubscription.toJSON() gives the page."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth_secret)}}

    def decrypt(self, body: bytes) -> dict:
        import http_ece
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm")
        return json.loads(plain)


def verify_vapid(authorization: str) -> tuple[dict, str]:
    """Check the ES256 signature of `vapid t=<jwt>,k=<key>`; returns (claims, k). Raises on a bad signature."""
    scheme, _, params = authorization.partition(" ")
    assert scheme.lower() == "vapid", authorization
    parts = dict(item.strip().split("=", 1) for item in params.split(","))
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    assert json.loads(unb64url(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    signature = unb64url(signature_b64)
    assert len(signature) == 64
    der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    return json.loads(unb64url(claims_b64)), parts["k"]


class LocalPushService:
    """A threading HTTP server on 127.0.0.1 playing the browser vendor's push service."""

    def __init__(self, delay: float = 0.0):
        self.received: list[dict] = []
        self.delay = delay
        self._answers: dict[str, list[tuple[int, dict]]] = {}
        self._cond = threading.Condition()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real push services do

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                name = self.path.rsplit("/", 1)[-1]
                with service._cond:
                    service.received.append({"name": name, "path": self.path, "body": body, "at": time.monotonic(),
                                             "headers": {k.lower(): v for k, v in self.headers.items()}})
                    queued = service._answers.get(name)
                    status, headers = queued.pop(0) if queued else (201, {})
                    service._cond.notify_all()
                if service.delay:  # a slow push service: the request has arrived, the answer is late
                    time.sleep(service.delay)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LocalPushService":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    def client(self, name: str) -> PushClient:
        return PushClient(self.endpoint(name))

    def answer(self, name: str, *responses: tuple[int, dict]) -> None:
        """Script the next answers for an endpoint, e.g. (429, {"Retry-After": "2"}); afterwards 201."""
        with self._cond:
            self._answers.setdefault(name, []).extend(responses)

    def requests_for(self, name: str) -> list[dict]:
        with self._cond:
            return [r for r in self.received if r["name"] == name]

    def wait_for(self, count: int, name: str | None = None, timeout: float = 10.0) -> list[dict]:
        """Block until `count` requests (for `name`, or in all) arrived; returns them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self.received if name is None or r["name"] == name]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"push service got {len(found)} of {count} requests")
                self._cond.wait(left)
