"""The Temporal Web UI server (`temporalio/ui-server`), on 127.0.0.1 only, pointed at our frontend.

It has no login of its own here: bound to loopback, only people on this machine reach it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deploy.config import HOST, TopologyConfig
from deploy.processes import ProcessSpec, base_environment
from deploy.tls import TLSFiles


def render_ui_config(config: TopologyConfig, tls: TLSFiles | None) -> dict[str, Any]:
    origin = f"http://{HOST}:{config.ports.ui}"
    rendered: dict[str, Any] = {
        "temporalGrpcAddress": f"{HOST}:{config.ports.temporal_frontend}",
        "host": HOST,
        "port": config.ports.ui,
        "enableUi": True,
        "defaultNamespace": config.namespace,
        "notifyOnNewVersion": False,  # it would call out to the internet
        "cors": {"allowOrigins": [origin], "cookieInsecure": True},  # plain HTTP on loopback
        "auth": {"enabled": False},
        # Operators' browsers decode payloads through the API's codec endpoint, with the session cookie
        # its /codec/session page sets (api/codec.py); the API admits this UI's origin.
        "codec": {"endpoint": f"http://{HOST}:{config.ports.api}/codec", "includeCredentials": True},
    }
    if tls is not None:
        pair = tls.client("temporal-ui")
        rendered["tls"] = {
            "caFile": str(tls.ca),
            "certFile": str(pair.cert),
            "keyFile": str(pair.key),
            "serverName": tls.server_name,
            "enableHostVerification": True,
        }
    return rendered


def ui_process(ui_server: Path, config: TopologyConfig, tls: TLSFiles | None) -> ProcessSpec:
    root = config.state_dir / "ui"
    config_file = root / "config" / f"{config.server_environment}.yaml"
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(yaml.safe_dump(render_ui_config(config, tls), sort_keys=False))
    argv = [str(ui_server), "--root", str(root), "--config", "config", "--env", config.server_environment, "start"]
    return ProcessSpec("temporal-ui", argv, cwd=root, env=base_environment())
