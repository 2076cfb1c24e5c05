#!/usr/bin/env bash
# Builds the project's images with no registry at all (CI, air-gapped machines). Each image is a root filesystem
# assembled from this machine's programs and the libraries they load, imported with `docker import`, then a small
# Dockerfile FROM that base adds the user, HEALTHCHECK and ENTRYPOINT.
#   worker  orchestrator-worker:local  the published worker, the .NET runtime, a shell with the tools agents use
#   silo    orchestrator-silo:local    the published silo, the .NET and ASP.NET Core runtimes, curl for its health check
#   redis   orchestrator-redis:local   redis-server and redis-cli (for docker-compose.yml)
# Usage: docker/build-images.sh [worker|silo|redis|all]...   (default: worker)
# IMAGE_TAG=<tag> builds orchestrator-*:<tag> instead of :local (e.g. to try a change beside the images in use).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '[build-images] %s\n' "$*" >&2; }
tag=${IMAGE_TAG:-local}

# new_root DIR: an empty root filesystem with merged /usr, /tmp, /etc/passwd (root and agent 10001).
new_root() {
  local root=$1
  mkdir -p "$root"/{usr/bin,usr/lib,usr/lib64,etc,tmp}
  ln -s usr/bin "$root/bin"; ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"; ln -s bin "$root/usr/sbin"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/usr/bin/bash\nagent:x:10001:10001:domain agent:/home/agent:/usr/bin/bash\n' > "$root/etc/passwd"
  printf 'root:x:0:\nagent:x:10001:\n' > "$root/etc/group"
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
}

# add_tools DIR TOOL...: programs from this machine's PATH (symlinks resolved) into /usr/bin.
add_tools() {
  local root=$1; shift
  for tool in "$@"; do
    local path; path=$(command -v "$tool" || true)
    [[ "$path" == /* ]] && cp -L "$path" "$root/usr/bin/$tool"
  done
}

# add_dotnet DIR FRAMEWORK...: the dotnet host and the newest installed version of each shared framework.
add_dotnet() {
  local root=$1; shift
  local dotnet_root; dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  mkdir -p "$root/usr/share/dotnet/host"
  cp -a "$dotnet_root/dotnet" "$root/usr/share/dotnet/"
  cp -a "$dotnet_root/host/fxr" "$root/usr/share/dotnet/host/"
  for framework in "$@"; do
    local version; version=$(ls "$dotnet_root/shared/$framework" | sort -V | tail -1)
    mkdir -p "$root/usr/share/dotnet/shared/$framework"
    cp -a "$dotnet_root/shared/$framework/$version" "$root/usr/share/dotnet/shared/$framework/"
  done
}

# add_libraries DIR: every library the root's programs load, plus the TLS libraries .NET opens on demand.
add_libraries() {
  local root=$1
  local extra; extra=$(ls /usr/lib/x86_64-linux-gnu/lib{ssl,crypto}.so.3 /usr/lib/x86_64-linux-gnu/libnss_{dns,files}.so.2 2>/dev/null || true)
  local elves; elves=$(find "$root/usr" -type f \( -perm -u+x -o -name '*.so*' \))
  for lib in $( (for elf in $elves $extra; do ldd "$elf" 2>/dev/null || true; done; echo $extra) | grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

# import DIR IMAGE DOCKERFILE: docker import of the root as IMAGE's base, then the Dockerfile FROM it.
import() {
  local root=$1 image=$2 dockerfile=$3
  local base="${image%%:*}-rootfs:${image##*:}"
  tar -C "$root" --numeric-owner -c . | docker import - "$base" >/dev/null
  DOCKER_BUILDKIT=0 docker build -q --build-arg BASE="$base" -t "$image" -f "$repo/docker/$dockerfile" "$repo/docker" >/dev/null
  say "built $image"
}

build_worker() {
  local root=$1/worker
  new_root "$root"
  dotnet publish "$repo/src/Orchestrator.WorkerHost" -c Release -o "$root/app" --nologo -v q >&2
  add_dotnet "$root" Microsoft.NETCore.App
  add_tools "$root" bash sh env cat mkdir rm rmdir ls cp mv ln tr sed awk cut head tail grep sort uniq seq sleep date touch \
    dirname basename printf echo true false kill id setsid wc find xargs tee chmod stat readlink realpath mktemp test expr nproc git
  # git runs every attempt in its own worktree: its helper programs and the templates `git init` copies.
  mkdir -p "$root/usr/lib" "$root/usr/share"
  cp -a "$(git --exec-path)" "$root/usr/lib/git-core"
  [[ -d /usr/share/git-core ]] && cp -a /usr/share/git-core "$root/usr/share/git-core"
  add_libraries "$root"
  mkdir -p "$root"/{workspace,agent-config,home/agent}
  chown -R 10001:10001 "$root/home/agent" "$root/workspace"
  import "$root" "orchestrator-worker:$tag" worker.local.Dockerfile
}

build_silo() {
  local root=$1/silo
  new_root "$root"
  dotnet publish "$repo/silo" -c Release -o "$root/app" --nologo -v q >&2
  add_dotnet "$root" Microsoft.NETCore.App Microsoft.AspNetCore.App
  add_tools "$root" sh curl sed
  add_libraries "$root"
  import "$root" "orchestrator-silo:$tag" silo.local.Dockerfile
}

build_redis() {
  local root=$1/redis
  new_root "$root"
  add_tools "$root" sh redis-server redis-cli
  add_libraries "$root"
  mkdir -p "$root/data"
  import "$root" "orchestrator-redis:$tag" redis.local.Dockerfile
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
targets=("$@"); [[ ${#targets[@]} -gt 0 ]] || targets=(worker)
[[ " ${targets[*]} " == *" all "* ]] && targets=(worker silo redis)
for target in "${targets[@]}"; do
  case "$target" in
    worker|silo|redis) say "building $target"; "build_$target" "$work" ;;
    *) echo "unknown image '$target': use worker, silo, redis or all" >&2; exit 2 ;;
  esac
done
