#!/usr/bin/env python3
"""Cross-checks rendered manifests where a schema cannot: every Deployment's selector matches
its pod labels; every Service, PodDisruptionBudget and NetworkPolicy selects pods that exist;
Service target ports and probe ports name container ports; the HPA scales a Deployment;
env from ConfigMaps and Secrets refers to ones that are rendered (Secrets may come from
outside when --external-secrets names them); pods run as non-root with a read-only root.

Usage: check.py RENDERED.yaml [--external-secrets NAME,...]
"""
import sys

import yaml


def fail(msg):
    print(f"FAIL {msg}")
    return 1


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def main():
    path = sys.argv[1]
    external = set()
    if "--external-secrets" in sys.argv:
        external = set(sys.argv[sys.argv.index("--external-secrets") + 1].split(","))
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    errors = 0
    pods = []  # (owner name, labels, pod spec)
    for kind in ("Deployment", "Job"):
        for d in by_kind.get(kind, []):
            tpl = d["spec"]["template"]
            labels = tpl["metadata"].get("labels", {})
            name = f"{kind.lower()}/{d['metadata']['name']}"
            if kind == "Deployment" and not matches(d["spec"]["selector"]["matchLabels"], labels):
                errors += fail(f"{name}: selector does not match its pod labels")
            pods.append((name, labels, tpl["spec"]))
    configmaps = {d["metadata"]["name"] for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"] for d in by_kind.get("Secret", [])} | external
    for name, labels, spec in pods:
        sc = spec.get("securityContext", {})
        if not sc.get("runAsNonRoot"):
            errors += fail(f"{name}: not runAsNonRoot")
        for c in spec["containers"]:
            csc = c.get("securityContext", {})
            if not csc.get("readOnlyRootFilesystem") or csc.get("allowPrivilegeEscalation", True):
                errors += fail(f"{name}/{c['name']}: root file system writable or escalation allowed")
            if "resources" not in c or "requests" not in c["resources"] or "limits" not in c["resources"]:
                errors += fail(f"{name}/{c['name']}: no resource requests and limits")
            port_names = {p["name"] for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in port_names:
                    errors += fail(f"{name}/{c['name']}: {probe} port {port} is not a container port")
            for src in c.get("envFrom", []):
                ref = src.get("configMapRef", {}).get("name")
                if ref and ref not in configmaps:
                    errors += fail(f"{name}: envFrom ConfigMap {ref} is not rendered")
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef", {}).get("name")
                if ref and ref not in secrets:
                    errors += fail(f"{name}: Secret {ref} is neither rendered nor external")
        if name.startswith("deployment/") and not any(
            "livenessProbe" in c and "readinessProbe" in c for c in spec["containers"]
        ):
            errors += fail(f"{name}: no liveness and readiness probes")

    def selected(selector):
        return [(n, l, s) for n, l, s in pods if n.startswith("deployment/") and matches(selector, l)]

    for svc in by_kind.get("Service", []):
        name = f"service/{svc['metadata']['name']}"
        chosen = selected(svc["spec"].get("selector"))
        if not chosen:
            errors += fail(f"{name}: selects no pods")
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            for pod, _, spec in chosen:
                ports = [cp for c in spec["containers"] for cp in c.get("ports", [])]
                ok = any(
                    (cp["name"] == target if isinstance(target, str) else cp["containerPort"] == target)
                    and cp.get("protocol", "TCP") == p.get("protocol", "TCP")
                    for cp in ports
                )
                if not ok:
                    errors += fail(f"{name}: port {p['name']} → {target} not in {pod}")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not selected(pdb["spec"]["selector"]["matchLabels"]):
            errors += fail(f"pdb/{pdb['metadata']['name']}: selects no pods")
    for np in by_kind.get("NetworkPolicy", []):
        chosen = selected(np["spec"]["podSelector"].get("matchLabels"))
        if not chosen:
            errors += fail(f"networkpolicy/{np['metadata']['name']}: selects no pods")
        for rule in np["spec"].get("ingress", []):
            for p in rule.get("ports", []):
                for pod, _, spec in chosen:
                    ports = [cp for c in spec["containers"] for cp in c.get("ports", [])]
                    if not any(cp["containerPort"] == p["port"] and cp.get("protocol", "TCP") == p.get("protocol", "TCP") for cp in ports):
                        errors += fail(f"networkpolicy/{np['metadata']['name']}: port {p['port']}/{p.get('protocol', 'TCP')} not open in {pod}")
    deployments = {d["metadata"]["name"] for d in by_kind.get("Deployment", [])}
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        if hpa["spec"]["scaleTargetRef"]["name"] not in deployments:
            errors += fail(f"hpa/{hpa['metadata']['name']}: no such Deployment")
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    for ing in by_kind.get("Ingress", []):
        for rule in ing["spec"]["rules"]:
            for route in rule["http"]["paths"]:
                backend = route["backend"]["service"]
                svc = services.get(backend["name"])
                port = backend["port"].get("name")
                if svc is None or (port and port not in {p["name"] for p in svc["spec"]["ports"]}):
                    errors += fail(f"ingress/{ing['metadata']['name']}: backend {backend} not rendered")
    for sm in by_kind.get("ServiceMonitor", []):
        svcs = [s for s in services.values() if matches(sm["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))]
        if not svcs:
            errors += fail(f"servicemonitor/{sm['metadata']['name']}: selects no Service")
        for ep in sm["spec"]["endpoints"]:
            if not any(ep["port"] in {p["name"] for p in s["spec"]["ports"]} for s in svcs):
                errors += fail(f"servicemonitor/{sm['metadata']['name']}: no port {ep['port']}")
    kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
    print(f"{'FAILED' if errors else 'OK'}: {path}: {kinds}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
