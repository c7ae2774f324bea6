"""Security headers on every answer of the public listener, and no version banner.

Every response (the web UI, JSON, errors, static files) carries a Content-Security-Policy
the web UI passes with no inline script or style (its scripts and styles are files under
``/static/``; images come as ``blob:`` URLs read with fetch, ThumbHash placeholders as
``data:`` URLs; videos play from ``blob:`` URLs too), ``X-Content-Type-Options: nosniff``,
``frame-ancestors 'none'`` (and the legacy ``X-Frame-Options: DENY``) and
``Referrer-Policy: no-referrer``. Stored photos (originals and renditions,
:mod:`gateway.delivery`) get a policy of their own that runs nothing even when opened as a
page (``sandbox``). Over HTTPS the answers carry HSTS.
``Server`` names the product only: no Python or aiohttp version for a scanner to match.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from gateway.appkeys import SETTINGS

SERVER_NAME = "gallery"
HSTS = "max-age=31536000; includeSubDomains"
#: For bytes we store for users: nothing in them may run, load or frame anything.
OBJECT_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
_OBJECT_CSP_HEADER = "X-Gallery-Object"  # set by delivery: marks a stored object's answer


def page_csp(s3_public_endpoint: str) -> str:
    """The policy of the web UI (and every API answer): same-origin only. With downloads
    redirected to presigned URLs, the store's public origin may be fetched and shown too."""
    store = _origin(s3_public_endpoint)
    extra = f" {store}" if store else ""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' blob: data:{extra}",
            # Videos and motion photos play from blob: URLs read with fetch, as images do.
            f"media-src 'self' blob:{extra}",
            f"connect-src 'self'{extra}",
            "font-src 'self'",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def add_security_headers(app: web.Application) -> None:
    """Put :func:`_security_headers` on every response of ``app``."""
    settings = app[SETTINGS]
    store = ""
    if settings.storage.backend == "s3":  # a download may redirect to a presigned URL
        store = settings.s3.public_endpoint or settings.s3.endpoint
    policy = page_csp(store)

    async def hook(request: web.Request, response: web.StreamResponse) -> None:
        _security_headers(request, response, policy)

    app.on_response_prepare.append(hook)


def _security_headers(request: web.Request, response: web.StreamResponse, policy: str) -> None:
    """Runs for every response, just before its headers are sent."""
    headers = response.headers
    stored_object = headers.pop(_OBJECT_CSP_HEADER, None) is not None
    headers["Content-Security-Policy"] = OBJECT_CSP if stored_object else policy
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Server"] = SERVER_NAME
    if request.secure:
        headers["Strict-Transport-Security"] = HSTS


def mark_stored_object(response: web.StreamResponse) -> None:
    """Give ``response`` the stored-object policy instead of the page's."""
    response.headers[_OBJECT_CSP_HEADER] = "1"
