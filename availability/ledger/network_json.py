"""The catalogue (locations, channels, groups, ATP rules) as JSON-ready values: one form for every
place that stores it (the embedded ledger's journal and checkpoints, the Redis ledger's catalogue key)."""

from __future__ import annotations

from datetime import time
from typing import Any

from ..locations import LocationTable
from ..model import AtpConfig, Channel, Location, LocationGroup, LocationType, Method


def location_to_json(loc: Location) -> dict[str, Any]:
    return {
        "id": loc.id,
        "name": loc.name,
        "type": loc.type.name,
        "latitude": loc.latitude,
        "longitude": loc.longitude,
        "timezone": loc.timezone,
        "methods": sorted(m.name for m in loc.methods),
        "channels": sorted(loc.channels),
        "processing_hours": loc.processing_hours,
        "cutoff": loc.cutoff.isoformat(),
        "daily_capacity": loc.daily_capacity,
        "handling_cost_per_order": loc.handling_cost_per_order,
        "handling_cost_per_unit": loc.handling_cost_per_unit,
        "priority": loc.priority,
        "enabled": loc.enabled,
    }


def location_from_json(d: dict[str, Any]) -> Location:
    return Location(
        id=d["id"],
        name=d["name"],
        type=LocationType[d["type"]],
        latitude=d["latitude"],
        longitude=d["longitude"],
        timezone=d["timezone"],
        methods=frozenset(Method[m] for m in d["methods"]),
        channels=frozenset(d["channels"]),
        processing_hours=d["processing_hours"],
        cutoff=time.fromisoformat(d["cutoff"]),
        daily_capacity=d["daily_capacity"],
        handling_cost_per_order=d["handling_cost_per_order"],
        handling_cost_per_unit=d["handling_cost_per_unit"],
        priority=d["priority"],
        enabled=d["enabled"],
    )


def network_to_json(net: LocationTable) -> dict[str, Any]:
    cfg = net.config
    return {
        "locations": [location_to_json(loc) for loc in net.locations],
        "channels": [[c.id, c.name] for c in net.channel_list],
        "groups": [[g.id, list(g.locations), g.name] for g in net.group_list],
        "config": {
            "inbound_share_bp": list(cfg.inbound_share_bp),
            "default_safety": list(cfg.default_safety),
            "low_stock_network": cfg.low_stock_network,
            "low_stock_location": cfg.low_stock_location,
        },
    }


def network_from_json(d: dict[str, Any]) -> LocationTable:
    cfg = d["config"]
    return LocationTable(
        [location_from_json(x) for x in d["locations"]],
        [Channel(i, n) for i, n in d["channels"]],
        [LocationGroup(i, tuple(locs), n) for i, locs, n in d["groups"]],
        AtpConfig(
            inbound_share_bp=tuple(cfg["inbound_share_bp"]),
            default_safety=tuple(cfg["default_safety"]),
            low_stock_network=cfg["low_stock_network"],
            low_stock_location=cfg["low_stock_location"],
        ),
    )
