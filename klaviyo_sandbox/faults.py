"""Injected failures (outage, 429 storm, slow responses), shared by every process.

Each is a `Fault` row active until its `until`; the OAuth token/revoke and REST endpoints
consult them on every call. The consent page and the sandbox UI ignore them, so a fault can
always be cleared from the browser.
"""

from __future__ import annotations

import math
from datetime import timedelta

from klaviyo_sandbox import clock
from klaviyo_sandbox.models import Fault, FaultKind
from klaviyo_sandbox.routers import DATABASE


def fault_start(*, kind: str, seconds: float, delay_seconds: float = 0) -> Fault:
    fault, _ = Fault.objects.using(DATABASE).update_or_create(
        kind=kind,
        defaults={
            "until": clock.now() + timedelta(seconds=seconds),
            "delay_seconds": delay_seconds,
        },
    )
    return fault


def fault_clear(*, kind: str | None = None) -> None:
    faults = Fault.objects.using(DATABASE).all()
    if kind:
        faults = faults.filter(kind=kind)
    faults.delete()


def faults_active() -> dict[str, Fault]:
    return {
        fault.kind: fault for fault in Fault.objects.using(DATABASE).filter(until__gt=clock.now())
    }


def seconds_left(fault: Fault) -> int:
    return max(1, math.ceil((fault.until - clock.now()).total_seconds()))


__all__ = ["FaultKind", "fault_clear", "fault_start", "faults_active", "seconds_left"]
