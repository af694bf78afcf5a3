"""The files in deploy/ are well-formed and agree with the code: every YAML parses, the
Kubernetes objects carry what a cluster and our runbook need, compose and the
Containerfile build one image from pyproject, and every ONECODE_* variable they set is
a real setting. No network, no container engine, no cluster."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from onecode import cli
from onecode.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
IMAGE_COMMANDS = {"serve", "migrate", "rollup", "webhooks-worker"}
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
POSTGRES_MAX_CONNECTIONS = 200  # deploy/compose.yaml and deploy/README.md

SETTING_NAMES = {f"ONECODE_{name.upper()}" for name in Settings.__struct_fields__} | {
    "DATABASE_URL"
}


def _yaml_files() -> list[Path]:
    return sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])


def _docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    assert docs, f"{path} holds no YAML document"
    for doc in docs:
        assert isinstance(doc, dict), path
    return docs


def _k8s() -> list[dict[str, Any]]:
    return [d for p in sorted(K8S.glob("*.yaml")) for d in _docs(p)]


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in _k8s() if d["kind"] == kind]


def _workloads() -> list[dict[str, Any]]:
    return _by_kind("Deployment") + _by_kind("Job")


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def _compose() -> dict[str, Any]:
    return _docs(DEPLOY / "compose.yaml")[0]


def _containerfile() -> str:
    return (DEPLOY / "Containerfile").read_text(encoding="utf-8")


def _command_lines() -> list[tuple[str, list[str]]]:
    """Every ``onecode`` command line the deploy files run: (where, arguments)."""
    lines: list[tuple[str, list[str]]] = []
    for obj in _workloads():
        for c in _containers(obj):
            lines.append((f"k8s {obj['metadata']['name']}/{c['name']}", list(c["args"])))
    for name, service in _compose()["services"].items():
        if name != "db":
            lines.append((f"compose {name}", list(service["command"])))
    for unit in UNITS:
        (exec_start,) = _unit(unit)["ExecStart"]
        program, *args = exec_start.split()
        assert program.endswith("/onecode"), (unit.name, exec_start)
        lines.append((f"systemd {unit.name}", args))
    return lines


def _unit(path: Path) -> dict[str, list[str]]:
    """A systemd unit as key -> values (keys may repeat)."""
    out: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not key=value: {line!r}"
        out.setdefault(key.strip(), []).append(value.strip())
    return out


# --- every YAML -----------------------------------------------------------------------


def test_there_is_yaml_to_check() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in _yaml_files()}
    assert {"compose.yaml", "k8s/api-deployment.yaml", "k8s/migrate-job.yaml"} <= names


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses(path: Path) -> None:
    _docs(path)


# --- Kubernetes -----------------------------------------------------------------------


def test_k8s_objects_are_named_and_namespaced() -> None:
    objects = _k8s()
    kinds = {d["kind"] for d in objects}
    assert {
        "Deployment",
        "Job",
        "Service",
        "Secret",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ConfigMap",
    } <= kinds
    for obj in objects:
        assert obj.get("apiVersion"), obj
        assert obj.get("kind"), obj
        if obj["kind"] == "Kustomization":
            for resource in obj["resources"]:
                assert (K8S / resource).is_file(), resource
            assert "secret.example.yaml" not in obj["resources"]  # a template, never applied
            continue
        assert obj.get("metadata", {}).get("name"), obj
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "onecode", obj["metadata"]


def test_workloads_run_as_non_root_with_requests() -> None:
    workloads = _workloads()
    assert len(workloads) >= 3  # api, rollup, migrate
    for obj in workloads:
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod.get("automountServiceAccountToken") is False
        for c in _containers(obj):
            where = f"{obj['metadata']['name']}/{c['name']}"
            requests = c["resources"]["requests"]
            assert requests.get("cpu") and requests.get("memory"), where
            assert c["resources"]["limits"].get("memory"), where
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where


def test_serving_deployments_probe_readyz_and_healthz() -> None:
    serving = [d for d in _by_kind("Deployment") if any(c.get("ports") for c in _containers(d))]
    assert [d["metadata"]["name"] for d in serving] == ["onecode-api"]
    for obj in serving:
        for c in _containers(obj):
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
            # the readiness check itself gives up after 2 s: the probe waits a bit longer
            assert c["readinessProbe"]["timeoutSeconds"] >= 3
        strategy = obj["spec"]["strategy"]["rollingUpdate"]
        assert strategy["maxUnavailable"] == 0


def test_one_image_whose_entrypoint_runs_the_arguments() -> None:
    images = set()
    for obj in _workloads():
        for c in _containers(obj):
            images.add(c["image"])
            assert "command" not in c  # the image's entrypoint is `onecode`
    assert len(images) == 1, images


def test_every_deployed_command_line_parses_with_the_real_cli() -> None:
    """k8s args, compose commands and systemd ExecStart lines are real ``onecode``
    command lines: the CLI's own parser accepts every one (a renamed sub-command or a
    misspelt flag fails here, not at 3 a.m. in a crash loop)."""
    lines = _command_lines()
    seen = {args[0] for _, args in lines}
    assert seen == {"serve", "migrate", "rollup", "webhooks-worker"}, seen
    for where, args in lines:
        parsed = cli.parser().parse_args(args)
        assert parsed.command == args[0], where
    assert len(lines) >= 8  # 3 workloads, 3 compose services, 2 systemd units


@pytest.mark.parametrize(
    "args", [["rollup", "--looop"], ["rolup"], ["serve", "--port", "eighty"], []]
)
def test_the_command_line_check_catches_a_typo(args: list[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.parser().parse_args(args)
    assert refused.value.code == 2


def test_migration_job_and_rollup_runner() -> None:
    (job,) = _by_kind("Job")
    assert _containers(job)[0]["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1
    rollup = next(d for d in _by_kind("Deployment") if d["metadata"]["name"] == "onecode-rollup")
    assert rollup["spec"]["replicas"] == 1
    assert _containers(rollup)[0]["args"] == ["rollup", "--loop"]


def test_the_api_and_the_webhook_worker_share_the_webhook_keys() -> None:
    """Secrets sealed by an API pod must open in the worker: both read the same keys."""
    keys = {"ONECODE_WEBHOOK_KEY", "ONECODE_WEBHOOK_SIGNING_KEY"}
    deployments = {d["metadata"]["name"]: d for d in _by_kind("Deployment")}
    worker = deployments["onecode-webhooks"]
    assert _containers(worker)[0]["args"] == ["webhooks-worker"]
    for name in ("onecode-api", "onecode-webhooks"):
        refs = {
            env["name"]: env["valueFrom"]["secretKeyRef"]["key"]
            for c in _containers(deployments[name])
            for env in c.get("env", [])
            if "valueFrom" in env
        }
        assert {k: refs.get(k) for k in keys} == {k: k for k in keys}, name
    assert "webhooks-worker" in {c.name for c in cli.COMMANDS}


def test_the_api_listens_where_probes_service_and_compose_look() -> None:
    (config,) = _by_kind("ConfigMap")
    port = int(config["data"]["ONECODE_PORT"])
    api = next(d for d in _by_kind("Deployment") if d["metadata"]["name"] == "onecode-api")
    (container,) = _containers(api)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ports, probe
    services = _compose()["services"]
    compose_port = int(services["api"]["environment"].get("ONECODE_PORT", port))
    assert any(str(p).endswith(f":{compose_port}") for p in services["api"]["ports"])
    # the image's own HEALTHCHECK asks the port the process was told to listen on
    health = re.search(r"^HEALTHCHECK .*\n\s+CMD (.+)$", _containerfile(), flags=re.M)
    assert health and "os.environ.get('ONECODE_PORT', '8000')" in health.group(1)
    assert Settings.from_env({}).port == 8000  # the HEALTHCHECK's fallback is the default


def test_service_pdb_and_hpa_point_at_the_api() -> None:
    api = next(d for d in _by_kind("Deployment") if d["metadata"]["name"] == "onecode-api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert api["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (service,) = _by_kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {p["name"] for c in _containers(api) for p in c["ports"]}
    assert all(p["targetPort"] in port_names for p in service["spec"]["ports"])
    (pdb,) = _by_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (hpa,) = _by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "onecode-api"
    assert hpa["spec"]["minReplicas"] >= 2  # the PDB's maxUnavailable 1 leaves one serving
    (config,) = _by_kind("ConfigMap")
    pool_max = int(config["data"]["ONECODE_POOL_MAX"])
    # API pools + rollup + migration + a few admin sessions fit the database
    assert hpa["spec"]["maxReplicas"] * pool_max + 20 <= POSTGRES_MAX_CONNECTIONS


def test_configured_variables_are_real_settings() -> None:
    (config,) = _by_kind("ConfigMap")
    assert set(config["data"]) <= SETTING_NAMES, set(config["data"]) - SETTING_NAMES
    # the values parse as Settings would read them at start
    settings = Settings.from_env(config["data"])
    assert settings.host == "0.0.0.0"  # noqa: S104 - a container listens on all
    assert settings.signing_key_file == Path("/etc/onecode/keys/signing_keys")
    for obj in _workloads():
        for c in _containers(obj):
            for env in c.get("env", []):
                assert env["name"] in SETTING_NAMES, env["name"]


def test_secret_is_a_template_and_covers_every_reference() -> None:
    (secret,) = _by_kind("Secret")
    data = secret["stringData"]
    for value in data.values():
        assert "REPLACE" in value, "the Secret in the repository must hold no real value"
    for obj in _workloads():
        pod = obj["spec"]["template"]["spec"]
        for c in _containers(obj):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == secret["metadata"]["name"]
                    assert ref["key"] in data
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert all(item["key"] in data for item in volume["secret"]["items"])


# --- compose --------------------------------------------------------------------------


def test_compose_builds_one_image_from_the_containerfile() -> None:
    services = _compose()["services"]
    onecode_services = {n: s for n, s in services.items() if n != "db"}
    assert set(onecode_services) == {"migrate", "api", "rollup", "webhooks"}
    assert len({s["image"] for s in onecode_services.values()}) == 1
    for name, service in onecode_services.items():
        build = service["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert (context / "pyproject.toml").is_file(), name
        assert (context / build["dockerfile"]).resolve() == DEPLOY / "Containerfile"
        assert set(service["environment"]) <= SETTING_NAMES
        for env_file in service["env_file"]:
            assert (DEPLOY / f"{env_file}.example").is_file(), env_file
    assert re.fullmatch(r"docker\.io/library/postgres:1[67](\..*)?", services["db"]["image"])
    assert services["migrate"]["command"] == ["migrate"]
    assert services["rollup"]["command"] == ["rollup", "--loop"]
    waits = services["api"]["depends_on"]["migrate"]["condition"]
    assert waits == "service_completed_successfully"
    assert f"max_connections={POSTGRES_MAX_CONNECTIONS}" in services["db"]["command"]


def test_secrets_stay_out_of_the_repository() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "deploy/*.env" in ignored and "deploy/signing_keys" in ignored
    for example in DEPLOY.glob("*.env.example"):
        for line in example.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                name, _, _ = line.partition("=")
                assert name.startswith("POSTGRES_") or name in SETTING_NAMES, name


# --- Containerfile --------------------------------------------------------------------


def test_containerfile_installs_the_wheel_built_from_pyproject() -> None:
    text = _containerfile()
    assert "requirements" not in text.lower()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.M)
    assert len(stages) >= 2, "multi-stage: build, then runtime"
    assert all("python:${PYTHON_VERSION}-slim" in image for image, _ in stages)
    assert re.search(r"^ARG PYTHON_VERSION=3\.11$", text, flags=re.M)
    assert re.search(r"pip wheel --wheel-dir /wheels \.", text)
    assert re.search(r"pip install --no-index --find-links /wheels onecode", text)
    for source in re.findall(r"^COPY\s+(?!--from)(.+?)\s+\S+$", text, flags=re.M):
        for part in source.split():
            assert (ROOT / part).exists(), part


def test_containerfile_runtime() -> None:
    text = _containerfile()
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0"
    assert re.search(r"^ENTRYPOINT \[\"onecode\"\]$", text, flags=re.M)
    assert re.search(r"^CMD \[\"serve\"\]$", text, flags=re.M)
    assert "ONECODE_HOST=0.0.0.0" in text
    health = re.search(r"^HEALTHCHECK .*\n\s+CMD (.+)$", text, flags=re.M)
    assert health and '["python"' in health.group(1) and "/readyz" in health.group(1)
    for name in re.findall(r"\b(ONECODE_[A-Z_]+)=", text):
        assert name in SETTING_NAMES, name


# --- systemd --------------------------------------------------------------------------


def test_there_are_three_systemd_units() -> None:
    assert [u.name for u in UNITS] == [
        "onecode-rollup.service",
        "onecode-webhooks.service",
        "onecode.service",
    ]
    assert _unit(DEPLOY / "systemd" / "onecode.service")["ExecStart"][0].endswith("/onecode serve")


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_unit_is_hardened(path: Path) -> None:
    unit = _unit(path)
    assert unit["EnvironmentFile"] == ["/etc/onecode/onecode.env"]
    assert unit.get("DynamicUser") == ["yes"] or unit.get("User", ["root"])[0] != "root"
    for key, value in {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert unit.get(key) == [value], key
    for line in unit["Environment"]:
        for pair in line.split():
            assert pair.split("=")[0] in SETTING_NAMES | {"PYTHONDONTWRITEBYTECODE"}, pair


def test_the_cli_answers_help_with_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """The image's entrypoint starts and lists its sub-commands."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    usage = " ".join(capsys.readouterr().out.split("\n\n")[0].split())  # unwrapped
    assert usage == "usage: onecode [-h] COMMAND ..."
    assert {"serve", "migrate", "rollup", "keys", "gate-agent", "demo"} <= {
        c.name for c in cli.COMMANDS
    }
