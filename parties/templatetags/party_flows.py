"""The party page's "Klaviyo flows" panel reads its own data, so the panel is one include in
the party page (templates/parties/_flows_panel.html) and the page's view does not change."""

from __future__ import annotations

from django import template

from parties.flows_panel import FlowsPanel, flows_panel
from parties.models import Party

register = template.Library()


@register.simple_tag
def party_flows(party: Party) -> FlowsPanel:
    return flows_panel(party=party)
