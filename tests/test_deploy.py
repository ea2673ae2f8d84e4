"""Lint deploy/: hadolint on the Dockerfile, the compose spec parser on compose.yaml,
Kubernetes' own OpenAPI schemas (kubernetes-validate) on deploy/k8s, and cross-checks
that every AMBER_* variable they set is a real setting."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose
from dockerfile_parse import DockerfileParser
from kubernetes_validate import utils as k8s

from crawler.settings import Settings
from tests.services import REPO, VENV_BIN, RedisServer

DEPLOY = REPO / "deploy"
K8S_VERSION = "1.30"
SETTINGS = {f"AMBER_{name.upper()}" for name in Settings.model_fields}


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def by_kind(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


def test_dockerfile_passes_hadolint() -> None:
    # Given the Dockerfile and hadolint's settings beside it
    hadolint = shutil.which("hadolint") or str(VENV_BIN / "hadolint")

    # When hadolint lints it (any finding at info level or above fails)
    done = subprocess.run(
        [hadolint, "--config", str(DEPLOY / ".hadolint.yaml"), str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then it is clean
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_is_debian_with_apt_chromium_and_runs_as_non_root() -> None:
    # Given the parsed Dockerfile
    parsed = DockerfileParser(path=str(DEPLOY / "Dockerfile"))
    instructions = [(i["instruction"], i["value"]) for i in parsed.structure]

    # Then the base is Debian, Chromium comes from apt, and the last USER is not root
    assert "bookworm" in parsed.baseimage
    runs = " ".join(value for kind, value in instructions if kind == "RUN")
    assert "apt-get install" in runs and " chromium" in runs
    # with fonts for every script (CJK, colour emoji, Arabic via DejaVu)
    for font in ("fonts-noto-cjk", "fonts-noto-color-emoji", "fonts-dejavu-core"):
        assert font in runs, font
    users = [value for kind, value in instructions if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(kind == "ENTRYPOINT" and "amber" in value for kind, value in instructions)
    # And every directory the image copies exists
    for kind, value in instructions:
        if kind == "COPY":
            assert (REPO / value.split()[0]).exists(), value
    assert parsed.envs["AMBER_CHROMIUM_PATH"] == "/usr/bin/chromium"


def test_compose_file_is_valid_and_complete() -> None:
    # Given compose.yaml, parsed by the Compose specification's own types
    compose = PyCompose.from_yaml((DEPLOY / "compose.yaml").read_text())
    compose.validate()
    services: dict[str, Any] = compose.to_dict()["services"]

    # Then it has the fleet's services, each long-running one with a health check
    assert {"api", "worker", "redis", "postgres"} <= set(services)
    for name in ("api", "worker", "redis", "postgres"):
        assert services[name].get("healthcheck"), name
    # And every dependency and named volume it refers to is defined
    volumes = set(compose.to_dict().get("volumes") or {})
    for name, service in services.items():
        assert set(service.get("depends_on") or {}) <= set(services), name
        for mount in service.get("volumes") or []:
            source = mount.split(":")[0] if isinstance(mount, str) else mount.get("source")
            assert source.startswith(("/", ".")) or source in volumes, (name, mount)
    # And workers can scale: no fixed name, no published port, a SIGTERM grace period
    worker = services["worker"]
    assert "container_name" not in worker and not worker.get("ports")
    assert worker["command"][0] == "worker"
    assert (
        services["api"]["command"][:1] == ["serve"] and "--no-workers" in services["api"]["command"]
    )
    # And PostgreSQL gets more than its default 128 MB of shared buffers
    assert any(str(a).startswith("shared_buffers=") for a in services["postgres"]["command"])
    # And every AMBER_* variable is a real setting
    for name, service in services.items():
        for key in service.get("environment") or {}:
            assert not key.startswith("AMBER_") or key in SETTINGS, (name, key)


def test_kubernetes_manifests_validate_against_the_api_schemas() -> None:
    # Given every manifest (the KEDA custom resource has no built-in schema)
    checked = set()
    for _path, doc in k8s_documents():
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        # When it is validated against Kubernetes' OpenAPI schema, strictly
        k8s.validate(doc, K8S_VERSION, strict=True)
        checked.add(doc["kind"])

    # Then the API, worker, config and secret are all there
    assert {"Deployment", "Service", "ConfigMap", "Secret", "Job"} <= checked
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_kubernetes_invalid_manifest_is_rejected() -> None:
    # Given a Deployment with a misspelt field (proves the validator is strict)
    broken = by_kind("Deployment", "amber-worker")
    broken = {**broken, "spec": {**broken["spec"], "replicaz": 2}}

    # When / Then validation fails
    with pytest.raises(k8s.ValidationError):
        k8s.validate(broken, K8S_VERSION, strict=True)


def test_kubernetes_wiring_is_consistent() -> None:
    # Given the parsed manifests
    config = by_kind("ConfigMap", "amber-config")
    secret = by_kind("Secret", "amber-secrets")
    worker = by_kind("Deployment", "amber-worker")
    api = by_kind("Deployment", "amber-api")
    service = by_kind("Service", "amber-api")
    scaler = by_kind("ScaledObject", "amber-worker")

    # Then every AMBER_* key is a real setting, and secrets stay out of the ConfigMap
    assert set(config["data"]) <= SETTINGS
    assert set(secret["stringData"]) <= SETTINGS
    assert "AMBER_DATABASE_URL" in secret["stringData"]
    assert not {"AMBER_DATABASE_URL", "AMBER_ADMIN_TOKEN"} & set(config["data"])
    # And the Service selects the API pods, and the API runs without workers
    assert (
        service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    )
    assert "--no-workers" in api["spec"]["template"]["spec"]["containers"][0]["args"]
    # And workers get longer to drain than their own shutdown timeout
    pod = worker["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert pod["terminationGracePeriodSeconds"] > float(args[args.index("--shutdown-timeout") + 1])
    for deployment in (worker, api):
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    # And KEDA scales the worker Deployment on a Redis list
    assert scaler["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    [trigger] = scaler["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert int(trigger["metadata"]["listLength"]) > 0


def test_keda_list_name_is_the_key_dramatiq_queues_captures_on() -> None:
    # Given a real Redis and Amber's broker on it
    from crawler.settings import load_settings
    from workers.actors import register_actors
    from workers.broker import make_broker

    server = RedisServer().start()
    try:
        broker = make_broker(load_settings(broker_url=server.url))
        actors = register_actors(broker, None)

        # When one capture is sent
        actors.dispatch(["snapshot-1"])

        # Then it waits on the list the ScaledObject measures
        list_name = by_kind("ScaledObject", "amber-worker")["spec"]["triggers"][0]["metadata"]
        assert broker.client.llen(list_name["listName"]) == 1  # type: ignore[attr-defined]
    finally:
        server.stop()
