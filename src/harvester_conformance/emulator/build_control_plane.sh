#!/usr/bin/env bash
# Builds the emulated cluster's control plane from upstream Go modules into a cache
# outside the clone. Called by `harvester-conformance cluster build` (emulator/build.py),
# which passes the pinned versions from emulator/versions.py. A rerun is a no-op when
# every binary of the requested versions already exists.
set -euo pipefail

: "${K8S_VERSION:?}" "${ETCD_VERSION:?}" "${KWOK_VERSION:?}" "${HC_BIN_DIR:?}"
work="${HC_BUILD_DIR:-$(dirname "$HC_BIN_DIR")/build}"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod GOWORK=off
mkdir -p "$HC_BIN_DIR" "$work"

step() { echo "[build] $*" >&2; }
fail() {
  echo "[build] FAILED at step: $1" >&2
  echo "[build] retry with: harvester-conformance cluster build   (log above)" >&2
  exit 1
}

command -v go >/dev/null || { echo "[build] the Go toolchain (go) is not on PATH; install Go >= 1.24" >&2; exit 4; }

have_all() {
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kwokctl; do
    [ -x "$HC_BIN_DIR/$b" ] || return 1
  done
}
if have_all; then step "all binaries present in $HC_BIN_DIR"; exit 0; fi

k8s_minor=${K8S_VERSION#v}; k8s_minor=${k8s_minor#*.}; k8s_minor=${k8s_minor%%.*}
staging_ver="v0.${K8S_VERSION#v1.}"
staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"

# Kubernetes: a wrapper module that requires k8s.io/kubernetes and replaces every staging module.
if [ ! -x "$HC_BIN_DIR/kube-scheduler" ]; then
  step "kubernetes $K8S_VERSION: preparing wrapper module"
  kdir="$work/kubernetes-$K8S_VERSION"; mkdir -p "$kdir"
  {
    echo "module hcbuild/kubernetes"; echo; echo "go 1.24.0"; echo
    echo "require k8s.io/kubernetes $K8S_VERSION"; echo; echo "replace ("
    for m in $staging; do echo "	k8s.io/$m => k8s.io/$m $staging_ver"; done
    echo ")"
  } >"$kdir/go.mod"
  (cd "$kdir" && go mod download k8s.io/kubernetes) || fail "kubernetes: go mod download (module proxy reachable?)"
  commit=$(cd "$kdir" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"Hash": "\([0-9a-f]*\)".*/\1/p' | head -1)
  build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ld=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    ld="$ld -X $pkg.gitCommit=${commit:-unknown} -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
  for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
    [ -x "$HC_BIN_DIR/$cmd" ] && continue
    step "kubernetes $K8S_VERSION: building $cmd"
    (cd "$kdir" && go build -trimpath -buildvcs=false -ldflags "-s -w $ld" -o "$HC_BIN_DIR/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd") \
      || fail "kubernetes: go build $cmd"
    mv "$HC_BIN_DIR/$cmd.tmp" "$HC_BIN_DIR/$cmd"
  done
fi

# etcd: its server module is a main package; `go install` refuses it because of replaces.
if [ ! -x "$HC_BIN_DIR/etcd" ]; then
  step "etcd $ETCD_VERSION: building"
  edir="$work/etcd-$ETCD_VERSION"; mkdir -p "$edir"
  printf 'module hcbuild/etcd\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$edir/go.mod"
  (cd "$edir" && go mod download go.etcd.io/etcd/server/v3 && \
    go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$HC_BIN_DIR/etcd.tmp" go.etcd.io/etcd/server/v3) \
    || fail "etcd: go build go.etcd.io/etcd/server/v3"
  mv "$HC_BIN_DIR/etcd.tmp" "$HC_BIN_DIR/etcd"
fi

# kwok and kwokctl install cleanly from the proxy.
for cmd in kwok kwokctl; do
  [ -x "$HC_BIN_DIR/$cmd" ] && continue
  step "kwok $KWOK_VERSION: building $cmd"
  GOBIN="$HC_BIN_DIR" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/$cmd@$KWOK_VERSION" || fail "kwok: go install $cmd"
done
step "done: $(ls "$HC_BIN_DIR" | tr '\n' ' ')"
