# The silo image without a registry: FROM the root filesystem that build-images.sh imports.
ARG BASE=orchestrator-silo-rootfs:local
FROM ${BASE}
ENV DOTNET_ROOT=/usr/share/dotnet \
    PATH=/usr/share/dotnet:/usr/bin \
    DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
WORKDIR /app
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=5 \
    CMD ["sh", "-c", "curl -fsS \"$(echo ${Web__Urls:-http://127.0.0.1:8080} | sed 's#0.0.0.0#127.0.0.1#')/health/ready\""]
ENTRYPOINT ["/usr/share/dotnet/dotnet", "/app/orchestrator-silo.dll"]
