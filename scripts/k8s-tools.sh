#!/usr/bin/env bash
# Builds the Kubernetes tools the deployment is rendered and proven with (docs/deploy.md)
# from the Go module proxy, idempotently, at the versions of deploy/k8s/versions.env, into
# $CDDS_CACHE_DIR/bin/<tool>-<version> (default ~/.cache/cdds), where tests/infra/kube_tools.py finds
# them: kustomize, kube-apiserver, kube-controller-manager, etcd, keda-operator,
# keda-adapter (KEDA's metrics apiserver), and KEDA's CRDs into $CDDS_CACHE_DIR/keda-<version>/crds/;
# and promtool, which checks and unit-tests the alert rules of deploy/prometheus/.
#
#   scripts/k8s-tools.sh                  # everything missing
#   scripts/k8s-tools.sh kubernetes etcd  # only these parts (kustomize kubernetes etcd keda promtool)
#
# Cold on 2 cores (empty Go module and build caches, docs/deploy.md has the table): kube-apiserver
# with kube-controller-manager 768 s, the KEDA operator with its metrics apiserver 597 s, etcd 62 s,
# kustomize 33 s, promtool 447 s (without its service-discovery plugins; 1 011 s with them);
# when everything is cached this script takes a second.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../deploy/k8s/versions.env
. "$REPO_ROOT/deploy/k8s/versions.env"
CACHE_DIR="${CDDS_CACHE_DIR:-$HOME/.cache/cdds}"
BIN_DIR="$CACHE_DIR/bin"
mkdir -p "$BIN_DIR"
# The staging modules of k8s.io/kubernetes v1.X.Y are released as v0.X.Y.
STAGING_VERSION="v0.${KUBERNETES_VERSION#v1.}"

log() { printf 'k8s-tools: %s\n' "$*" >&2; }
command -v go >/dev/null || { log "Go is required to build the Kubernetes tools (none found on PATH)"; exit 1; }

work_root=$(mktemp -d)
trap 'rm -rf "$work_root"' EXIT

missing() {
  local name
  for name in "$@"; do [ -x "$BIN_DIR/$name" ] || return 0; done
  return 1
}

# timed <what> <command...>: runs the command and logs how long it took.
timed() {
  local what=$1 start
  shift
  start=$(date +%s)
  log "building $what"
  "$@"
  log "built $what in $(($(date +%s) - start)) s"
  touch "$work_root/built"  # (in a subshell too: a file, not a variable)
}

# mod_field <module@version> <field>: a field of `go mod download -json` (Dir, GoMod).
mod_field() {
  go mod download -json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"
}

# install_built <dir> <version> <name...>: copies <dir>/<name> to $BIN_DIR/<name>-<version>.tmp,
# then renames it (same directory, so atomic): an interrupted build never leaves a half binary.
install_built() {
  local dir=$1 version=$2
  shift 2
  local name
  for name in "$@"; do
    cp "$dir/$name" "$BIN_DIR/$name-$version.tmp"
    mv "$BIN_DIR/$name-$version.tmp" "$BIN_DIR/$name-$version"
  done
}

build_kustomize() {
  missing "kustomize-$KUSTOMIZE_VERSION" || return 0
  local gobin="$work_root/kustomize-bin"
  timed "kustomize $KUSTOMIZE_VERSION" \
    env GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  install_built "$gobin" "$KUSTOMIZE_VERSION" kustomize
}

build_promtool() {
  missing "promtool-$PROMTOOL_VERSION" || return 0
  local gobin="$work_root/promtool-bin"
  # Prometheus v3.X.Y is the Go module's v0.3XX.Y; its go.mod has no replaces, so go install works.
  # remove_all_sd leaves out the service-discovery plugins (cloud SDKs, Kubernetes client):
  # checking and unit-testing rules needs none, and they were most of the build.
  timed "promtool $PROMTOOL_VERSION" \
    env GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath -tags remove_all_sd -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
  install_built "$gobin" "$PROMTOOL_VERSION" promtool
}

# replaces_of <go.mod> <module prefix regex> <version>: a replace line per local (./ or ../)
# replace of the given go.mod, pointing the module at its released version instead.
replaces_of() {
  awk -v re="$2" -v ver="$3" '
    $2 == "=>" && $1 ~ re && $3 ~ /^\.\.?\// { printf "\t%s => %s %s\n", $1, $1, ver }
  ' "$1"
}

build_kubernetes() {
  # No kubectl: the tests speak to the apiserver with the Python client, and an operator brings
  # their own; building it would cost a fifth of this step cold.
  missing "kube-apiserver-$KUBERNETES_VERSION" "kube-controller-manager-$KUBERNETES_VERSION" || return 0
  # k8s.io/kubernetes replaces its staging modules with ./staging paths (absent from its module
  # zip), so `go install k8s.io/kubernetes/cmd/...@v` refuses it; a local module requiring it and
  # replacing each staging module with its release builds instead.
  local mod="$work_root/kubernetes" gomod
  mkdir -p "$mod/out"
  gomod=$(mod_field "k8s.io/kubernetes@$KUBERNETES_VERSION" GoMod)
  {
    printf 'module cdds.local/kubernetes-tools\n\ngo %s\n\n' "$(awk '$1 == "go" { print $2; exit }' "$gomod")"
    awk '$1 == "godebug" { print; print "" }' "$gomod"
    printf 'require k8s.io/kubernetes %s\n\nreplace (\n' "$KUBERNETES_VERSION"
    replaces_of "$gomod" '^k8s\\.io/' "$STAGING_VERSION"
    printf ')\n'
  } >"$mod/go.mod"
  local pkg=k8s.io/component-base/version
  local ldflags="-s -w -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitTreeState=clean"
  ldflags+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
  # One `go build` for the two: the packages they share compile once.
  (cd "$mod" && timed "kube-apiserver, kube-controller-manager $KUBERNETES_VERSION" \
    env CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o out/ \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
  install_built "$mod/out" "$KUBERNETES_VERSION" kube-apiserver kube-controller-manager
}

build_etcd() {
  missing "etcd-$ETCD_VERSION" || return 0
  # Same story as Kubernetes: go.etcd.io/etcd/server/v3 (a main package since v3.5) replaces its
  # sibling modules (api, client, pkg) with ../ paths.
  local mod="$work_root/etcd" gomod
  mkdir -p "$mod/out"
  gomod=$(mod_field "go.etcd.io/etcd/server/v3@$ETCD_VERSION" GoMod)
  {
    printf 'module cdds.local/etcd-tools\n\ngo %s\n\n' "$(awk '$1 == "go" { print $2; exit }' "$gomod")"
    printf 'require go.etcd.io/etcd/server/v3 %s\n\nreplace (\n' "$ETCD_VERSION"
    replaces_of "$gomod" '^go\\.etcd\\.io/etcd/' "$ETCD_VERSION"
    printf ')\n'
  } >"$mod/go.mod"
  (cd "$mod" && timed "etcd $ETCD_VERSION" \
    env CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o out/etcd \
    go.etcd.io/etcd/server/v3)
  install_built "$mod/out" "$ETCD_VERSION" etcd
}

build_keda() {
  local crds="$CACHE_DIR/keda-$KEDA_VERSION/crds" src
  src=$(mod_field "github.com/kedacore/keda/v2@$KEDA_VERSION" Dir)
  # The CRDs first: they take a second, and the tests that need only them can start.
  if [ ! -d "$crds" ] || ! compgen -G "$crds/*.yaml" >/dev/null; then
    mkdir -p "$crds.tmp"
    cp "$src"/config/crd/bases/*.yaml "$crds.tmp/"
    chmod u+w "$crds.tmp"/*.yaml
    rm -rf "$crds"
    mv "$crds.tmp" "$crds"
    log "copied KEDA $KEDA_VERSION CRDs to $crds"
  fi
  missing "keda-operator-$KEDA_VERSION" "keda-adapter-$KEDA_VERSION" || return 0
  # KEDA's go.mod has no local replaces, so its own module builds as the main module (its
  # replaces apply); from a writable copy, since the module cache is read-only.
  local copy="$work_root/keda"
  mkdir -p "$copy/out"
  cp -r "$src/." "$copy/"
  chmod -R u+w "$copy"
  # The adapter is KEDA's metrics apiserver (external.metrics.k8s.io), which the HPA behind a
  # ScaledObject reads; one `go build -o dir/` for both: the packages they share compile once.
  (cd "$copy" && timed "keda-operator, keda-adapter $KEDA_VERSION" \
    env CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION" \
    -o out/ ./cmd/operator ./cmd/adapter)
  mv "$copy/out/operator" "$copy/out/keda-operator"
  mv "$copy/out/adapter" "$copy/out/keda-adapter"
  install_built "$copy/out" "$KEDA_VERSION" keda-operator keda-adapter
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(kustomize kubernetes etcd keda promtool)
for part in "${parts[@]}"; do
  case "$part" in
    kustomize | kubernetes | etcd | keda | promtool)
      # Two runs at once (bootstrap and a developer) would build the same part twice on a busy
      # machine: the second waits for the first, then finds it cached. Different parts may
      # build side by side.
      exec 9>"$CACHE_DIR/.k8s-tools-$part.lock"
      flock 9
      "build_$part"
      exec 9>&-
      ;;
    *) log "unknown part: $part (kustomize kubernetes etcd keda promtool)"; exit 2 ;;
  esac
done
# Said when something was built or a person runs it: bootstrap shows a lane's log only when
# it has lines, so a warm run stays quiet.
if [ -e "$work_root/built" ] || [ -t 2 ]; then log "ready in $BIN_DIR: ${parts[*]}"; fi
