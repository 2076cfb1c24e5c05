#!/usr/bin/env bash
# Makes the Redis ACL users of an orchestrator network, each with the least it needs, and their passwords:
#   orchestrator            the silos: every key and channel (grain state, membership, reminders, the wire
#                           protocol), no administration (CONFIG, FLUSHALL, KEYS, ACL, DEBUG, SHUTDOWN ...)
#   worker-{domain}         one per domain, for its workers: its own tasks:pending/active:{domain} lists and
#                           notifications:{domain} channel, results:* (keys and channels), agents:*, the
#                           orchestrator:events:* channels, and only the commands our worker sends
#   default                 off: a client that does not log in can do nothing
# Writes <dir>/users.acl (Redis `aclfile`, passwords stored as SHA-256) and <dir>/<user>.password, all 0600.
# The ACL file lists exactly the domains given; existing password files are kept, so running it again with one more
# domain adds that user and changes no one's password.
# Usage: docker/make-redis-acl.sh <dir> [domain]...     (default domains: backend frontend devops)
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 <dir> [domain]..." >&2; exit 2; }
dir=$1; shift
domains=("$@"); [[ ${#domains[@]} -gt 0 ]] || domains=(backend frontend devops)
mkdir -p "$dir"
umask 077

# password_hash USER: the user's password (made once, 32 random bytes as hex), as the SHA-256 Redis stores.
password_hash() {
  local file="$dir/$1.password"
  [[ -s "$file" ]] || od -An -vtx1 -N32 /dev/urandom | tr -d ' \n' > "$file"
  printf '%s' "$(cat "$file")" | sha256sum | cut -d' ' -f1
}

# What a client needs to log in and keep its connection alive. StackExchange.Redis also asks INFO, CONFIG GET and
# CLUSTER NODES on connect; it does without them, and workers have no need to read the server's configuration.
connection="+ping +echo +hello +auth +select +client|setname +client|id"

acl="$dir/users.acl.new"
{
  echo "user default off resetkeys resetchannels -@all"
  echo "user orchestrator on #$(password_hash orchestrator) resetkeys resetchannels ~* &* +@all -@admin -@dangerous $connection +info"
  for domain in "${domains[@]}"; do
    [[ $domain =~ ^[a-z0-9][a-z0-9_-]*$ ]] || { echo "'$domain' is not a domain name (lowercase letters, digits, - and _)" >&2; exit 2; }
    printf 'user worker-%s on #%s resetkeys resetchannels -@all %s' "$domain" "$(password_hash "worker-$domain")" "$connection"
    printf ' ~tasks:pending:%s ~tasks:active:%s ~results:* ~agents:*' "$domain" "$domain"
    printf ' &notifications:%s &results:* &orchestrator:events:*' "$domain"
    # The worker's commands, and those its Lua scripts call (Redis checks those against the user too).
    printf ' +rpoplpush +lrem +rpush +hset +hmset +hget +hgetall +exists +set +setex +psetex +get +del +sadd +srem +smembers'
    printf ' +publish +subscribe +unsubscribe +eval +evalsha +script|load +script|exists +multi +exec +discard +watch +unwatch\n'
  done
} > "$acl"
mv "$acl" "$dir/users.acl"
chmod 0600 "$dir"/*.password "$dir/users.acl"
echo "Redis users in $dir/users.acl: orchestrator, ${domains[*]/#/worker-}; passwords in $dir/<user>.password" >&2
