#!/usr/bin/env bash
# Makes a private certificate authority and the certificates of a development cluster, with openssl:
#   ca.pem, ca.key              the cluster's own CA (trusted by Cluster:Tls:CertificateAuthority, nothing else)
#   silo.pem, silo.key          every silo: server and client authentication (silo-to-silo and gateway TLS)
#   client.pem, client.key      the CLI and other clients: client authentication only, so it cannot act as a silo
#   redis.pem, redis.key        redis-server's TLS port (rediss://): server authentication
# Every certificate names 127.0.0.1 and localhost, plus any extra DNS names or IP addresses given after <dir>.
# Keys are 0600; certificates are 0644 (they are public). An existing <dir>/ca.key is reused, so running it again
# reissues the leaf certificates without changing what the cluster trusts.
# Usage: docker/make-dev-certs.sh <dir> [name-or-ip]...
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 <dir> [extra DNS name or IP]..." >&2; exit 2; }
command -v openssl >/dev/null || { echo "openssl is not installed (apt-get install openssl)" >&2; exit 2; }
dir=$1; shift
mkdir -p "$dir"
cd "$dir"
umask 077

san="IP:127.0.0.1,DNS:localhost"
for extra in "$@"; do
  if [[ $extra =~ ^[0-9.]+$ || $extra == *:* ]]; then san+=",IP:$extra"; else san+=",DNS:$extra"; fi
done
days=825

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [[ ! -f ca.key ]]; then
  new_key ca.key
  openssl req -x509 -new -key ca.key -sha256 -days "$days" -subj "/O=orchestrator/CN=orchestrator development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
fi

# issue NAME COMMON-NAME EXTENDED-KEY-USAGE
issue() {
  new_key "$1.key"
  openssl req -new -key "$1.key" -subj "/O=orchestrator/CN=$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" -sha256 -days "$days" \
    -extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$3" "$san") \
    -out "$1.pem" 2>/dev/null
  rm -f "$1.csr"
}

issue silo "orchestrator silo" serverAuth,clientAuth
issue client "orchestrator client" clientAuth
issue redis "orchestrator redis" serverAuth
chmod 0644 ca.pem silo.pem client.pem redis.pem
chmod 0600 ca.key silo.key client.key redis.key
echo "certificates for $san in $(pwd): ca.pem, silo.pem/.key, client.pem/.key, redis.pem/.key" >&2
