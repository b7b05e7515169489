#!/usr/bin/env bash
# Download the upstream schemas of the objects Mofang creates, pinned to the
# releases Mofang is built against, into MOFANG_CRDS_DIR (default: ../shared/crds
# beside the repository), and check each file's SHA-256. The tests that
# validate job, sweep and scheduling objects read them from there.
#
#   scripts/fetch-crds.sh            # or: MOFANG_CRDS_DIR=/some/dir scripts/fetch-crds.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${MOFANG_CRDS_DIR:-$root/../shared/crds}"
raw="https://raw.githubusercontent.com"

# local path | repository | commit | path in repository | sha256
files=(
  "training-operator-v1/kubeflow.org_pytorchjobs.yaml|kubeflow/training-operator|6f74c7f6b2ed6c27aabd82d0a316b23f0646059c|manifests/base/crds/kubeflow.org_pytorchjobs.yaml|eb80e57a984cdc7ceefaaf3fc561e21b673c30cbb58589f2389528d2b2760d22"
  "training-operator-v1/kubeflow.org_tfjobs.yaml|kubeflow/training-operator|6f74c7f6b2ed6c27aabd82d0a316b23f0646059c|manifests/base/crds/kubeflow.org_tfjobs.yaml|1fea6d2d9d3fec4697db322d4490be67b0d616478f42566e4c48ae865130a8c8"
  "mpi-operator/kubeflow.org_mpijobs.yaml|kubeflow/mpi-operator|caa3c47fc42eb762635f78045ec0fcd1a89eb038|manifests/base/kubeflow.org_mpijobs.yaml|78b0131f931fcc8d99f6ce0407281f41b62527e443ec691d26d9634b390ad3bb"
  "katib/experiment.yaml|kubeflow/katib|578e60f1ce83dbb5e7151026a3bdc4de233947fc|manifests/v1beta1/components/crd/experiment.yaml|c7f8a989368dcc87bcbb2739efa3b3e6f78d31f156857e0284e56c8bd6bf98db"
  "katib/trial.yaml|kubeflow/katib|578e60f1ce83dbb5e7151026a3bdc4de233947fc|manifests/v1beta1/components/crd/trial.yaml|207d14cdfad2921ccebf4aba97c1e55bd238dd2a16e4e7f49cedcba046b6c3cf"
  "katib/suggestion.yaml|kubeflow/katib|578e60f1ce83dbb5e7151026a3bdc4de233947fc|manifests/v1beta1/components/crd/suggestion.yaml|779b50ccf5a60da5e79bac8ff37a0f1adbecfb77b366645d1db79709c6eb2922"
  "katib/openapi-spec-swagger.json|kubeflow/katib|578e60f1ce83dbb5e7151026a3bdc4de233947fc|api/openapi-spec/swagger.json|0bfcfec03e1d857001ab7e8ee88d2e861252c4291ae70d92413c910af3e71263"
  "volcano/batch.volcano.sh_jobs.yaml|volcano-sh/volcano|0a56ed331897f5455916a44d3075671376d731d6|config/crd/volcano/bases/batch.volcano.sh_jobs.yaml|a03feedc265bc8c9d71240063a37e0e818fa70fcad7b8a113b0875dc53fffa90"
  "volcano/scheduling.volcano.sh_podgroups.yaml|volcano-sh/volcano|0a56ed331897f5455916a44d3075671376d731d6|config/crd/volcano/bases/scheduling.volcano.sh_podgroups.yaml|c297c0fdcf00cea6a35daa2b6153a8590b56df0e22a96dbfa44f773814685017"
  "volcano/scheduling.volcano.sh_queues.yaml|volcano-sh/volcano|0a56ed331897f5455916a44d3075671376d731d6|config/crd/volcano/bases/scheduling.volcano.sh_queues.yaml|92203dee889b6d3bb628f96d27779e98967d8ba21e58c425c7379bcbcee8b482"
)

for entry in "${files[@]}"; do
  IFS='|' read -r local repo commit path sum <<<"$entry"
  target="$dest/$local"
  if [[ -f "$target" ]] && echo "$sum  $target" | sha256sum --check --status; then
    echo "ok       $local"
    continue
  fi
  mkdir -p "$(dirname "$target")"
  curl --fail --silent --show-error --location "$raw/$repo/$commit/$path" -o "$target.part"
  if ! echo "$sum  $target.part" | sha256sum --check --status; then
    rm -f "$target.part"
    echo "error: $local from $repo@$commit does not have the pinned SHA-256" >&2
    exit 1
  fi
  mv "$target.part" "$target"
  echo "fetched  $local ($repo@${commit:0:12})"
done
echo "Schemas are in $dest"
