# The worker image without a registry: FROM the root filesystem that build-images.sh imports.
ARG BASE=orchestrator-worker-rootfs:local
FROM ${BASE}
ENV DOTNET_ROOT=/usr/share/dotnet \
    PATH=/usr/share/dotnet:/usr/bin \
    HOME=/home/agent \
    DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
USER 10001:10001
WORKDIR /workspace
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/share/dotnet/dotnet", "/app/orchestrator-worker.dll", "health"]
ENTRYPOINT ["/usr/share/dotnet/dotnet", "/app/orchestrator-worker.dll"]
