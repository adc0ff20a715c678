"""nginx (Debian's; see the report for the image's version) tests the balancer's nginx.conf
(`nginx -t`) and starts it on loopback answering /health with the security headers (issue 14).

Substituted: Debian's nginx predates `resolve` in `upstream` servers (1.27.3) and resolves
names at start, so the upstream server becomes 127.0.0.1 (with `resolve` dropped) and the
resolver 127.0.0.1; `listen 8080` becomes a free loopback port; `/etc/nginx/mime.types` and the
temporary paths under /tmp point into the test's directory.
"""

from __future__ import annotations

import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import container, manifest
from tests.real.pod import free_port, image_version, output, program, rewrite, running, version
from tools.offline import Recording

pytestmark = pytest.mark.real

NGINX = "aegis-trader-nginx"


def localise(conf: str, workdir: Path, port: int) -> str:
    (workdir / "mime.types").write_text("types {\n  text/plain txt;\n}\n")
    (workdir / "tmp").mkdir(exist_ok=True)
    conf = rewrite(conf, {"/etc/nginx/mime.types": workdir / "mime.types", "/tmp": workdir / "tmp"})
    conf = re.sub(r"(?m)^(\s*server )\S+:(\d+) resolve;", r"\g<1>127.0.0.1:\2;", conf)
    conf = re.sub(r"(?m)^(\s*resolver )\S+", r"\g<1>127.0.0.1", conf)
    return re.sub(r"(?m)^(\s*listen )8080;", rf"\g<1>127.0.0.1:{port};", conf)


def test_nginx_version_against_the_image() -> None:
    found = version(output([program("nginx"), "-v"]))
    assert found[0] == image_version("nginx")[0]


def test_balancer_config_passes_nginx_t_and_answers_health(
    stack: Recording, tmp_path: Path
) -> None:
    nginx = program("nginx")
    conf = manifest(stack, "ConfigMap", NGINX)["data"]["nginx.conf"]
    assert " resolve;" in conf  # what the substitution stands in for
    port = free_port()
    path = tmp_path / "nginx.conf"
    path.write_text(localise(conf, tmp_path, port))
    spec = container(stack, "Deployment", NGINX, "nginx")
    argv = [nginx if a == "nginx" else a for a in spec["command"]]
    argv = [str(path) if a.endswith("/nginx.conf") else a for a in argv]
    assert argv[1:3] == ["-c", str(path)]
    done = subprocess.run(
        [nginx, "-t", "-c", str(path), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with running([*argv, "-p", str(tmp_path)], tmp_path / "nginx.log", port=port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert response.status == 200
            assert response.read() == b"ok\n"
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        probe = spec["readinessProbe"]["httpGet"]
        assert probe["path"] == "/health"
