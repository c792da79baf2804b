"""Webhook endpoints: where events are delivered, and with which secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import invalid
from ..core.ids import new_id, random_token
from ..core.params import get_bool, get_dict, get_list, get_str, merge_metadata
from ..core.shapes import blank
from .events import API_VERSION, cancel_endpoint_deliveries
from .objects import load

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox


def _enabled_events(params: dict[str, Any]) -> list[str]:
    events = [str(e) for e in get_list(params, "enabled_events")]
    if not events:
        raise invalid("Missing required param: enabled_events.", param="enabled_events")
    return events


def _url(params: dict[str, Any]) -> str:
    url = get_str(params, "url", required=True)
    assert url is not None
    if not url.startswith(("http://", "https://")):
        raise invalid("Invalid URL: must be an http or https URL.", param="url")
    return url


def create_endpoint(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any]:
    """Create an endpoint; the returned object is the only one carrying ``secret``."""
    secret = "whsec_" + random_token(32)
    endpoint = blank(
        "webhook_endpoint",
        id=new_id("we_"),
        api_version=get_str(params, "api_version") or API_VERSION,
        application=None,
        created=sandbox.clock.wall(),
        description=get_str(params, "description"),
        enabled_events=_enabled_events(params),
        metadata=get_dict(params, "metadata"),
        status="enabled",
        url=_url(params),
        _secret=secret,
    )
    sandbox.store.put(endpoint)
    return dict(endpoint, secret=secret)


def update_endpoint(sandbox: Sandbox, endpoint_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Change an endpoint's url, events, description, metadata or ``disabled`` flag."""
    endpoint = load(sandbox, "webhook_endpoint", endpoint_id)
    if "url" in params:
        endpoint["url"] = _url(params)
    if "enabled_events" in params:
        endpoint["enabled_events"] = _enabled_events(params)
    if "description" in params:
        endpoint["description"] = get_str(params, "description")
    if "metadata" in params:
        endpoint["metadata"] = merge_metadata(endpoint.get("metadata") or {}, params["metadata"])
    disabled = get_bool(params, "disabled")
    if disabled is not None:
        endpoint["status"] = "disabled" if disabled else "enabled"
    sandbox.store.put(endpoint)
    if disabled:
        cancel_endpoint_deliveries(sandbox, endpoint_id)
    return endpoint


def delete_endpoint(sandbox: Sandbox, endpoint_id: str) -> dict[str, Any]:
    """Delete an endpoint; its queued deliveries are dropped."""
    load(sandbox, "webhook_endpoint", endpoint_id)
    sandbox.store.delete(endpoint_id)
    cancel_endpoint_deliveries(sandbox, endpoint_id)
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}
