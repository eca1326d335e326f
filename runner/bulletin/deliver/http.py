"""POST JSON with httpx, turning every outcome into Sent, Transient or Permanent."""

from __future__ import annotations

import httpx

from bulletin.deliver.retry import Permanent, Transient, http_error

USER_AGENT = "bulletin/0.1 (+https://bulletin.dev)"


def post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], *,
         what: str, timeout: float) -> httpx.Response:
    """POST ``body``; a 2xx response is returned, anything else raised as a DeliveryError.

    Redirects are not followed (a signed body must reach the configured endpoint). Messages
    name ``what`` and the host, never the URL, which may carry a token.
    """
    host = httpx.URL(url).host
    try:
        response = client.post(
            url, content=body, follow_redirects=False,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )
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
    detail = " ".join(response.text[:200].split())
    raise http_error(response.status_code, f"{what} ({host})",
                     response.headers.get("Retry-After"), detail)
