"""Treats form-urlencoded request bodies as JSON.

`curl -d '{...}'` labels its body application/x-www-form-urlencoded unless told otherwise. No GANForge
route takes such forms (uploads are multipart), so the label can only be that default, and the
body is read as the JSON it is. Never for a browser (it sends Origin or Sec-Fetch-Site): an HTML form is
how a page on another site would post to the API without a CORS preflight.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.cross_site import is_browser

_FORM = b"application/x-www-form-urlencoded"


class JsonByDefault:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            if not is_browser(dict(headers)) and any(
                    k == b"content-type" and v.split(b";")[0].strip().lower() == _FORM for k, v in headers):
                headers = [(k, b"application/json" if k == b"content-type" else v) for k, v in headers]
                scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)
