#!/bin/sh
# One-shot: register AIOS's custom search attributes on the Temporal cluster (idempotent: an
# attribute that exists is left alone). Run by compose's `temporal-setup` and the k8s Job.
set -eu
: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do sleep 2; done
temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" >/dev/null 2>&1 ||
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" --retention 30d
for pair in AiosTenant=Keyword AiosUser=Keyword AiosStatus=Keyword AiosWaitingSince=Datetime; do
  name="${pair%%=*}"; kind="${pair#*=}"
  temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" \
    --name "$name" --type "$kind" 2>/dev/null || echo "$name exists"
done
echo "search attributes registered on $NAMESPACE"
