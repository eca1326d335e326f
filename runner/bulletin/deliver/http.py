"""POST JSON with httpx, turning every outcome into Sent, Transient or Permanent.

The client should come from bulletin.deliver.netguard.guarded_client: it connects only to
addresses the operator's network policy allows. No part of a reply body ever lands in a
message (a refused request to an internal service must not leak what it answered).
"""

from __future__ import annotations

import httpx

from bulletin.deliver.netguard import AddressRefused, NetPolicy
from bulletin.deliver.retry import Permanent, Transient, http_error

USER_AGENT = "bulletin/0.1 (+https://bulletin.dev)"


def post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], *,
         what: str, timeout: float, policy: NetPolicy | None = None) -> httpx.Response:
    """POST ``body``; a 2xx response is returned, anything else raised as a DeliveryError.

    Redirects are not followed (a signed body must reach the configured endpoint). Messages
    name ``what`` and the host, never the URL, which may carry a token.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise Permanent(f"{what}: the URL is not a valid http(s) URL, e.g."
                        " https://hooks.example.com/x (its value is not shown: it may hold a"
                        " token)") from None
    host = parsed.host
    if parsed.scheme not in ("http", "https"):
        raise Permanent(f"{what} ({host or 'no host'}): {parsed.scheme or 'no'} scheme; the URL"
                        " must be http:// or https://")
    try:
        if policy is not None:
            policy.check_url_host(host)
        response = client.post(
            url, content=body, follow_redirects=False,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )
    except AddressRefused as exc:
        raise AddressRefused(f"{what} ({host}): {exc}") from None
    except httpx.TimeoutException as exc:
        raise Transient(f"{what} ({host}): timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise Transient(f"{what} ({host}): {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise Permanent(f"{what} ({host}): {type(exc).__name__}") from exc
    if response.is_success:
        return response
    if response.is_redirect:
        raise Permanent(f"{what} ({host}): HTTP {response.status_code} redirect; set the final"
                        " URL (redirects are not followed)")
    raise http_error(response.status_code, f"{what} ({host})",
                     response.headers.get("Retry-After"))
