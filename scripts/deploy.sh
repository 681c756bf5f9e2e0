#!/usr/bin/env bash
# Deploy an overlay of deploy/k8s at one image tag, the way the CD pipeline does:
#   scripts/deploy.sh <staging|production> <image-tag>
# REGISTRY (e.g. ghcr.io/<owner>) says where the images are; kubectl must point at the cluster.
# Order: everything but the services (namespace, config, data stores) → the migrate Job, waited
# for → the services, waited for. Secrets are created beforehand (README, Runbook).
set -euo pipefail
cd "$(dirname "$0")/.."

overlay="${1:?usage: deploy.sh <staging|production> <image-tag>}"
tag="${2:?usage: deploy.sh <staging|production> <image-tag>}"
registry="${REGISTRY:?set REGISTRY, e.g. ghcr.io/<owner>}"
namespace=crypto-analytics

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r deploy/k8s "$work/"
(
  cd "$work/k8s/overlays/$overlay"
  kustomize edit set image \
    "cryptodash=$registry/cryptodash:$tag" \
    "cryptodash-frontend=$registry/cryptodash-frontend:$tag"
)
kubectl kustomize "$work/k8s/overlays/$overlay" >"$work/manifests.yaml"

echo "1/3 namespace, configuration and data stores"
kubectl apply -f "$work/manifests.yaml" \
  --selector 'app.kubernetes.io/component notin (service,frontend,job)'
kubectl -n "$namespace" rollout status statefulset/postgres --timeout=10m

echo "2/3 schema migration"
kubectl -n "$namespace" delete job cryptodash-migrate --ignore-not-found --wait=true
kubectl apply -f "$work/manifests.yaml" --selector 'app.kubernetes.io/component=job'
kubectl -n "$namespace" wait --for=condition=complete job/cryptodash-migrate --timeout=15m

echo "3/3 services"
kubectl apply -f "$work/manifests.yaml"
for deployment in gateway users market analytics sentiment portfolio frontend; do
  kubectl -n "$namespace" rollout status "deployment/$deployment" --timeout=10m
done
echo "deployed $overlay at $tag"
