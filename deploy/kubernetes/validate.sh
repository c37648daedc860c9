#!/usr/bin/env bash
# Validates the manifests in this folder against the Kubernetes OpenAPI schemas with
# kubernetes-validate (PyPI; it bundles the schemas, so no cluster and no network beyond the
# package registry). --strict also refuses fields the schema does not know.
# Usage: deploy/kubernetes/validate.sh [KUBERNETES_VERSION]   (default 1.33)
set -euo pipefail
VERSION="${1:-1.33}"
TOOL_VERSION=1.37.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.ci-tools/venv-kubernetes-validate"
if [[ ! -x "$VENV/bin/kubernetes-validate" ]] || ! "$VENV/bin/pip" show kubernetes-validate 2>/dev/null | grep -qx "Version: $TOOL_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$TOOL_VERSION"
fi
cd "$ROOT/deploy/kubernetes"
files=(namespace.yaml serviceaccount.yaml rbac.yaml configmap.yaml deployment.yaml service.yaml networkpolicy.yaml secret.example.yaml)
"$VENV/bin/kubernetes-validate" --strict --kubernetes-version "$VERSION" "${files[@]}"
