"""No cluster runs here, so the Kubernetes manifests (deploy/kubernetes) are checked offline: every object against
the Kubernetes API's schema for pinned versions (kubernetes-validate, strict: a misspelt field fails), KEDA's
ScaledObjects against a schema of their own (KEDA's CRDs are not in that schema), and the facts that tie the
manifests to the code: commands the CLI parses, settings that exist, queues that workers consume."""

from __future__ import annotations

import copy
import functools
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate

from core.gpus import MEMORY_CLASS_SLACK, Gpu
from core.queues import STANDARD_QUEUES
from core.settings import Settings
from service.cli.main import build_parser
from worker import pools

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
NAMESPACE = "ganforge"
# The oldest release still widely run and a recent one; kubernetes-validate ships the schemas (no network).
KUBERNETES_VERSIONS = ("1.30", "1.35")
GPU = "nvidia.com/gpu"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"  # GPU Feature Discovery: MiB per GPU

# KEDA's ScaledObject as these manifests use it (keda.sh/v1alpha1, KEDA >= 2.12): the fields KEDA's CRD has, so a
# misspelt one fails; trigger metadata is a map of strings (KEDA refuses numbers there).
_INT = {"type": "integer", "minimum": 0}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
SCALED_OBJECT_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {
            "type": "object", "required": ["name", "namespace"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                           "namespace": {"type": "string"}, "labels": _STRINGS, "annotations": _STRINGS},
        },
        "spec": {
            "type": "object", "required": ["scaleTargetRef", "triggers"], "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                   "name": {"type": "string"}, "envSourceContainerName": {"type": "string"}},
                },
                "pollingInterval": _INT, "cooldownPeriod": _INT, "initialCooldownPeriod": _INT,
                "idleReplicaCount": _INT, "minReplicaCount": _INT, "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {"type": "object", "required": ["failureThreshold", "replicas"]},
                "advanced": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object", "additionalProperties": False,
                            "properties": {"name": {"type": "string"}, "behavior": {"type": "object"}},
                        },
                        "scalingModifiers": {
                            "type": "object", "required": ["formula", "target"], "additionalProperties": False,
                            "properties": {"formula": {"type": "string"}, "target": {"type": "string"},
                                           "activationTarget": {"type": "string"},
                                           "metricType": {"enum": ["AverageValue", "Value"]}},
                        },
                    },
                },
                "triggers": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "required": ["type", "metadata"], "additionalProperties": False,
                        "properties": {
                            "type": {"type": "string"}, "name": {"type": "string"},
                            "metadata": _STRINGS, "metricType": {"enum": ["AverageValue", "Value"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": {"type": "object", "required": ["name"]},
                        },
                        # The Redis list scaler: which list, how long per replica, and where Redis is.
                        "if": {"properties": {"type": {"const": "redis"}}},
                        "then": {"properties": {"metadata": {
                            "required": ["listName", "listLength"],
                            "oneOf": [{"required": ["address"]}, {"required": ["addressFromEnv"]},
                                      {"required": ["host", "port"]}],
                            "properties": {"listLength": {"pattern": r"^[1-9][0-9]*$"},
                                           "databaseIndex": {"pattern": r"^[0-9]+$"}},
                        }}},
                    },
                },
            },
        },
    },
}
CUSTOM_SCHEMAS = {("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT_SCHEMA}


@functools.cache
def _load(path: Path) -> list[dict]:
    """Parsed once; tests that change an object change a deep copy."""
    return [doc for doc in yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if doc]


def kustomization() -> dict:
    [document] = _load(DEPLOY / "kustomization.yaml")
    return document


def applied() -> list[dict]:
    """The objects `kubectl apply -k deploy/kubernetes` creates."""
    return [obj for name in kustomization()["resources"] for obj in _load(DEPLOY / name)]


def examples() -> list[dict]:
    """What the operator creates by hand (the Secrets), from the example the manifests' comments point to."""
    return _load(DEPLOY / "secret.example.yaml")


def named(kind: str, objects: list[dict] | None = None) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in (applied() if objects is None else objects) if o["kind"] == kind}


def pod_templates() -> dict[str, dict]:
    """`Kind/name` -> pod spec, for every object that runs pods."""
    return {f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"] for o in applied()
            if o["kind"] in ("Deployment", "StatefulSet", "Job")}


def the_container(deployment: dict) -> dict:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def container_env(container: dict) -> dict[str, str]:
    """The container's environment as the kubelet (and KEDA's addressFromEnv) resolves it: envFrom, then env."""
    configmaps, secrets = named("ConfigMap"), named("Secret", examples())
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps[source["configMapRef"]["name"]]["data"])
        else:
            env.update(secrets[source["secretRef"]["name"]]["stringData"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "configMapKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = configmaps[ref["name"]]["data"][ref["key"]]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secrets[ref["name"]]["stringData"][ref["key"]]
    return env


def is_ganforge(container: dict) -> bool:
    return container["image"].split(":")[0].rsplit("/", 1)[-1] == "ganforge"


def parse(command: list[str]):
    assert command[0] == "ganforge", command
    return build_parser().parse_args(command[1:])  # exits (fails the test) on an unknown command or flag


def consumed_queues(deployment: dict) -> list[str]:
    """The queues a worker Deployment's pods take jobs from, from its command."""
    args = parse(the_container(deployment)["command"])
    assert args.command == "worker"
    if args.queues:
        return args.queues.split(",")
    assert args.gpus is None, "a GPU worker's queues follow its GPUs: name them (--queues), for KEDA to scale on"
    return list(pools.CPU_QUEUES)


def workers() -> dict[str, dict]:
    return {name: d for name, d in named("Deployment").items()
            if parse(the_container(d)["command"]).command == "worker"}


def scaled_objects() -> dict[str, dict]:
    return named("ScaledObject")


# -- the files and their schema ------------------------------------------------------------------------------------


def test_the_kustomization_applies_every_manifest_but_the_examples():
    listed = kustomization()["resources"]
    on_disk = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(listed_set := set(listed)) and listed_set == {
        name for name in on_disk if not name.endswith(".example.yaml")}
    assert kustomization()["namespace"] == NAMESPACE


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_same_objects():
    """`kubectl kustomize` (kustomize built in, no cluster needed) renders what `kubectl apply -k` would send."""
    built = subprocess.run(["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    rendered = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    key = lambda o: (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"))  # noqa: E731
    assert sorted(map(key, rendered)) == sorted(map(key, applied()))


def _validate(obj: dict, version: str) -> None:
    schema = CUSTOM_SCHEMAS.get((obj["apiVersion"], obj["kind"]))
    if schema is not None:
        jsonschema.Draft202012Validator(schema).validate(obj)
    else:  # raises SchemaNotFoundError for a kind it does not know: every kind here is checked by one or the other
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(version):
    for obj in applied() + examples():
        try:
            _validate(obj, version)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            path = ".".join(map(str, exc.path))
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} at {path}: {exc.message}")


def test_the_schema_checks_catch_a_misspelt_field_and_a_number_where_keda_wants_a_string():
    api = copy.deepcopy(named("Deployment")["api"])
    the_container(api)["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(api, KUBERNETES_VERSIONS[0])
    scaled = copy.deepcopy(scaled_objects()["worker-cpu"])
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = 1
    with pytest.raises(jsonschema.ValidationError):
        _validate(scaled, KUBERNETES_VERSIONS[0])
    scaled = copy.deepcopy(scaled_objects()["worker-cpu"])
    scaled["spec"]["minReplicas"] = 1
    with pytest.raises(jsonschema.ValidationError):
        _validate(scaled, KUBERNETES_VERSIONS[0])


def test_every_object_lives_in_the_ganforge_namespace_under_a_unique_name():
    objects = applied()
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]
    keys = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys))
    assert named("Namespace")[NAMESPACE]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_selectors_match_the_pods_and_services_reach_named_ports():
    objects = applied()
    templates = {}
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert obj["spec"]["selector"]["matchLabels"].items() <= labels.items(), obj["metadata"]["name"]
            templates[obj["metadata"]["name"]] = (labels, obj["spec"]["template"]["spec"])
    for name, service in named("Service").items():
        [(labels, pod)] = [t for t in templates.values() if service["spec"]["selector"].items() <= t[0].items()]
        ports = {p["name"] for c in pod["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, (name, port)
    for statefulset in named("StatefulSet").values():
        assert statefulset["spec"]["serviceName"] in named("Service")
    for pdb in named("PodDisruptionBudget").values():
        assert any(pdb["spec"]["selector"]["matchLabels"].items() <= t[0].items() for t in templates.values())


# -- what runs -----------------------------------------------------------------------------------------------------


def test_every_ganforge_container_runs_a_real_cli_command_and_probes_with_one():
    ran = set()
    for where, pod in pod_templates().items():
        for container in pod["containers"]:
            if not is_ganforge(container):
                continue
            ran.add(parse(container["command"]).command)
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                command = container.get(probe, {}).get("exec", {}).get("command")
                if command:
                    assert parse(command).this_host, (where, probe)  # `ganforge status --this-host`
    assert ran == {"api", "worker"}


def test_every_pod_runs_unprivileged_as_a_non_root_user_with_resources():
    dockerfile = (ROOT / "Dockerfile").read_text()
    image_uid = int(re.search(r"useradd [^\n]*--uid (\d+) ganforge", dockerfile).group(1))
    for where, pod in pod_templates().items():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] > 0, where
        assert security["seccompProfile"]["type"] == "RuntimeDefault", where
        for container in pod["containers"]:
            if is_ganforge(container):
                assert security["runAsUser"] == image_uid, where  # the image's user owns /data and its home
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
            assert not context.get("privileged") and not context.get("runAsUser") == 0, where
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], where
        for volume in pod.get("volumes", []):
            assert volume.keys() <= {"name", "emptyDir", "configMap", "secret", "persistentVolumeClaim"}, where


def test_the_api_runs_two_replicas_ready_on_readyz_and_alive_on_healthz():
    api = named("Deployment")["api"]
    assert api["spec"]["replicas"] == 2
    container = the_container(api)
    assert parse(container["command"]).command == "api"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz?workers=false", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    env = container_env(container)
    assert env["GANFORGE_HOST"] == "0.0.0.0" and "GANFORGE_API_KEYS" in env  # beyond loopback only with keys
    assert {"name": "http", "containerPort": int(env["GANFORGE_PORT"])} in container["ports"]
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GANFORGE_API_KEYS"} & named("ConfigMap")[
        "ganforge"]["data"].keys()  # secrets stay in Secrets


def test_gpu_workers_take_one_gpu_each_and_the_queues_that_gpu_serves():
    gpu_workers = {name: d for name, d in workers().items()
                   if GPU in the_container(d)["resources"].get("limits", {})}
    assert gpu_workers, "no GPU worker Deployment"
    for name, deployment in gpu_workers.items():
        container, pod = the_container(deployment), deployment["spec"]["template"]["spec"]
        resources = container["resources"]
        assert resources["limits"][GPU] == resources["requests"][GPU] == 1, name
        args = parse(container["command"])
        # The pod sees its one GPU as index 0; a worker process per listed GPU: one.
        assert args.gpus == "0" and args.gpus_per_worker == 1, name
        assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        [term] = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        [expression] = [e for e in term["matchExpressions"] if e["key"] == GPU_MEMORY_LABEL]
        assert expression["operator"] == "Gt"
        # The smallest GPU the affinity lets in must serve every queue the pod takes (worker/pools.py's classes).
        smallest = Gpu(0, "the smallest GPU allowed", int(expression["values"][0]) + 1)
        assert set(consumed_queues(deployment)) <= set(pools.gpu_queues([smallest])), name
        # ...and the affinity is no stricter than the pool's largest memory class needs.
        largest = max(int(q[4:-2]) for q in consumed_queues(deployment) if re.fullmatch(r"gpu-\d+gb", q))
        assert int(expression["values"][0]) + 1 == math.ceil(largest * 1024 * MEMORY_CLASS_SLACK), name
    for name, deployment in workers().items():
        if name not in gpu_workers:  # a CPU worker hides the GPUs: no --gpus, no GPU asked for
            assert parse(the_container(deployment)["command"]).gpus is None
            assert GPU not in str(the_container(deployment)["resources"])


def test_a_scale_down_lets_a_worker_finish_its_job():
    """SIGTERM is Celery's warm shutdown: the pod goes once its job ends, which a job's time limit bounds."""
    for name, deployment in workers().items():
        env = {key: value for key, value in container_env(the_container(deployment)).items()
               if key.startswith("GANFORGE_")}
        limit = Settings(**{k.removeprefix("GANFORGE_").lower(): v for k, v in env.items()}).job_time_limit_s
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= limit, name


# -- KEDA ----------------------------------------------------------------------------------------------------------


def test_each_scaled_object_scales_a_worker_deployment_on_lists_its_workers_consume():
    deployments = workers()
    assert set(scaled_objects()) == set(deployments)  # every pool is scaled
    for name, scaled in scaled_objects().items():
        target = scaled["spec"]["scaleTargetRef"]
        assert (target.get("kind", "Deployment"), target["name"]) == ("Deployment", name)
        deployment = deployments[target["name"]]
        assert "replicas" not in deployment["spec"], f"{name}: KEDA owns the replica count, apply must not reset it"
        lists = [t["metadata"]["listName"] for t in scaled["spec"]["triggers"]]
        assert {t["type"] for t in scaled["spec"]["triggers"]} == {"redis"}
        # A list the pool does not consume would start pods that never empty it (up to maxReplicaCount).
        assert set(lists) <= set(consumed_queues(deployment)), name
        assert len(lists) == len(set(lists))
        # One pod per waiting job across the pool's lists: the formula adds them all, each once.
        names = [t["name"] for t in scaled["spec"]["triggers"]]
        assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", n) for n in names), names  # identifiers in the formula
        modifiers = scaled["spec"]["advanced"]["scalingModifiers"]
        assert sorted(re.split(r"\s*\+\s*", modifiers["formula"])) == sorted(names)
        assert modifiers["target"] == "1" and scaled["spec"]["maxReplicaCount"] >= 1


def test_every_standard_queue_has_workers_and_a_scaler():
    consumed = {q for d in workers().values() for q in consumed_queues(d)}
    watched = {t["metadata"]["listName"] for s in scaled_objects().values() for t in s["spec"]["triggers"]}
    assert set(STANDARD_QUEUES) <= consumed, set(STANDARD_QUEUES) - consumed
    assert set(STANDARD_QUEUES) <= watched, set(STANDARD_QUEUES) - watched


def test_keda_reads_the_redis_the_workers_use():
    for name, scaled in scaled_objects().items():
        env = container_env(the_container(workers()[name]))
        redis_url = urlsplit(env["GANFORGE_REDIS_URL"])
        assert redis_url.scheme == "redis"
        for trigger in scaled["spec"]["triggers"]:
            metadata = trigger["metadata"]
            # KEDA's operator runs in its own namespace: the Service's short name would not resolve there.
            assert env[metadata["addressFromEnv"]] == f"{redis_url.hostname}.{NAMESPACE}.svc:{redis_url.port}"
            assert metadata["databaseIndex"] == redis_url.path.strip("/")


def test_a_job_for_any_device_finds_a_worker_up_because_the_cpu_pool_never_scales_to_zero():
    assert any(s["spec"].get("minReplicaCount", 0) >= 1 for s in scaled_objects().values())


# -- settings, secrets, Redis and the store ------------------------------------------------------------------------


def test_every_ganforge_variable_is_a_setting_and_the_store_settings_exist():
    known = {f"GANFORGE_{field.upper()}" for field in Settings.model_fields}
    assert {"GANFORGE_STORE_URL", "GANFORGE_S3_ENDPOINT_URL", "GANFORGE_REDIS_URL", "GANFORGE_DATA_DIR"} <= known
    used = set(named("ConfigMap")["ganforge"]["data"])
    for pod in pod_templates().values():
        for container in pod["containers"]:
            used |= {var["name"] for var in container.get("env", [])}
    assert {v for v in used if v.startswith("GANFORGE_")} <= known


def test_the_configuration_loads_as_settings(monkeypatch):
    for name in [n for n in os.environ if n.startswith("GANFORGE_")]:
        monkeypatch.delenv(name)
    env = container_env(the_container(named("Deployment")["api"]))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.store_url.startswith("s3://") and settings.s3_endpoint_url and settings.redis_url
    assert settings.host == "0.0.0.0"


def test_references_to_configmaps_and_secrets_resolve():
    for where, pod in pod_templates().items():
        for container in pod["containers"]:
            container_env(container)  # raises KeyError on a missing ConfigMap, Secret or key
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in {v["name"] for v in pod.get("volumes", [])} | {
                    c["metadata"]["name"] for c in named("StatefulSet").get(where.split("/")[1], {}).get(
                        "spec", {}).get("volumeClaimTemplates", [])}, (where, mount)


def test_redis_keeps_an_append_only_file_on_a_volume_and_never_evicts():
    redis = named("StatefulSet")["redis"]
    command = " ".join(the_container(redis)["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command and "--dir /data" in command
    [claim] = redis["spec"]["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in the_container(redis)["volumeMounts"]
    url = urlsplit(named("ConfigMap")["ganforge"]["data"]["GANFORGE_REDIS_URL"])
    service = named("Service")[url.hostname]
    assert url.port in {p["port"] for p in service["spec"]["ports"]}


def test_minio_keeps_the_bucket_of_the_store_url_on_a_volume():
    data = named("ConfigMap")["ganforge"]["data"]
    bucket = urlsplit(data["GANFORGE_STORE_URL"]).netloc
    endpoint = urlsplit(data["GANFORGE_S3_ENDPOINT_URL"])
    minio = named("StatefulSet")[endpoint.hostname]
    assert endpoint.port in {p["port"] for p in named("Service")[endpoint.hostname]["spec"]["ports"]}
    assert minio["spec"]["volumeClaimTemplates"]
    job = named("Job")["minio-bucket"]
    assert f"mb --ignore-existing store/{bucket}" in " ".join(the_container(job)["args"])
    assert f"http://{endpoint.netloc}" in " ".join(the_container(job)["args"])
    # MinIO's root user is the key pair API and workers use.
    root = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in the_container(minio)["env"]}
    assert (root["MINIO_ROOT_USER"]["key"], root["MINIO_ROOT_PASSWORD"]["key"]) == (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    for deployment in (named("Deployment")["api"], *workers().values()):
        env = container_env(the_container(deployment))
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GANFORGE_STORE_URL"} <= env.keys()
        mounts = {m["mountPath"] for m in the_container(deployment)["volumeMounts"]}
        assert env["GANFORGE_DATA_DIR"] in mounts  # scratch on an emptyDir, not the image's layer
