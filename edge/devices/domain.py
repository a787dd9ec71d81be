"""The devices domain as the daemon composes it: device attach/detach events are an audit
trail for the log and the lane streams (live state is the registry's, bindings are primary
state), its lane and admin routes."""

from __future__ import annotations

from edge.devices.routes import AdminController, LaneDeviceController
from edge.domain import Domain
from edge.store.projector import audit_only
from schemas import events as ev

DOMAIN = Domain(name="devices",
                projections=[(ev.DeviceAttached, audit_only), (ev.DeviceDetached, audit_only)],
                routes=[LaneDeviceController, AdminController])
