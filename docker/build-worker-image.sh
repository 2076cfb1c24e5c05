#!/usr/bin/env bash
# Builds the domain worker image with no registry at all (CI, air-gapped machines):
#   1. a root filesystem of the published worker, the .NET runtime this machine has, a shell with the tools agents
#      and the demo agent use, and every library they load;
#   2. `docker import` of it as a base image;
#   3. worker.local.Dockerfile FROM that base: the non-root user, HEALTHCHECK and ENTRYPOINT.
# Usage: docker/build-worker-image.sh [image]   (default orchestrator-worker:local)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-orchestrator-worker:local}
base="${image%%:*}-rootfs:${image##*:}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
say() { printf '[build-worker-image] %s\n' "$*" >&2; }

say "publishing the worker"
dotnet publish "$repo/src/Orchestrator.WorkerHost" -c Release -o "$root/app" --nologo -v q >&2

say "assembling the root filesystem"
mkdir -p "$root"/{usr/bin,usr/lib,usr/lib64,etc,tmp,workspace,agent-config,home/agent}
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
ln -s bin "$root/usr/sbin"
chmod 1777 "$root/tmp"

dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
runtime=$(ls "$dotnet_root/shared/Microsoft.NETCore.App" | sort -V | tail -1)
mkdir -p "$root/usr/share/dotnet/shared/Microsoft.NETCore.App" "$root/usr/share/dotnet/host"
cp -a "$dotnet_root/dotnet" "$root/usr/share/dotnet/"
cp -a "$dotnet_root/host/fxr" "$root/usr/share/dotnet/host/"
cp -a "$dotnet_root/shared/Microsoft.NETCore.App/$runtime" "$root/usr/share/dotnet/shared/Microsoft.NETCore.App/"

tools="bash sh env cat mkdir rm rmdir ls cp mv ln tr sed awk cut head tail grep sort uniq seq sleep date touch dirname
  basename printf echo true false kill id setsid wc find xargs tee chmod stat readlink realpath mktemp test expr nproc"
for tool in $tools; do
  path=$(command -v "$tool" || true)
  [[ "$path" == /* ]] || continue          # a shell builtin only
  cp -L "$path" "$root/usr/bin/$tool"
done

# Every library the copied programs load (TLS libraries too, which .NET opens only when a connection asks for them).
elves=$(find "$root/usr/bin" "$root/usr/share/dotnet" -type f \( -perm -u+x -o -name '*.so*' \))
extra=$(ls /usr/lib/x86_64-linux-gnu/lib{ssl,crypto}.so.3 2>/dev/null || true)
for lib in $( (for elf in $elves $extra; do ldd "$elf" 2>/dev/null || true; done; echo $extra) \
    | grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/usr/bin/bash
agent:x:10001:10001:domain agent:/home/agent:/usr/bin/bash
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
agent:x:10001:
GROUP
chown -R 10001:10001 "$root/home/agent" "$root/workspace"

say "importing $base"
tar -C "$root" --numeric-owner -c . | docker import - "$base" >/dev/null

say "building $image"
DOCKER_BUILDKIT=0 docker build -q --build-arg BASE="$base" -t "$image" -f "$repo/docker/worker.local.Dockerfile" "$repo/docker" >/dev/null
say "done: $image"
