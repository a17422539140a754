"""kubectl's ``-o yaml`` printer, in a module of its own so that PyYAML is imported only by
the calls that print YAML."""

from __future__ import annotations

from typing import Any

import yaml


class _KubeDumper(yaml.SafeDumper):
    """Quote with double quotes where quoting is needed, as kubectl's YAML printer does."""

    def choose_scalar_style(self) -> str:
        style: str = super().choose_scalar_style()
        return '"' if style == "'" else style


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_KubeDumper, sort_keys=True, default_flow_style=False, allow_unicode=True)
