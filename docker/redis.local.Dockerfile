# Redis for docker-compose.yml without a registry: FROM the root filesystem that build-images.sh imports.
ARG BASE=orchestrator-redis-rootfs:local
FROM ${BASE}
WORKDIR /data
ENTRYPOINT ["redis-server"]
