# The domain worker image, for machines that reach the official .NET images (mcr.microsoft.com).
# Without a registry, use `docker/build-images.sh worker` instead: it builds the same image from this machine's runtime.
#   docker build -f docker/worker.Dockerfile -t orchestrator-worker:local .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Orchestrator.WorkerHost -c Release -o /app

FROM mcr.microsoft.com/dotnet/runtime:10.0
RUN groupadd --gid 10001 agent && useradd --uid 10001 --gid 10001 --create-home agent \
    && mkdir -p /workspace /agent-config && chown agent:agent /workspace
COPY --from=build /app /app
ENV HOME=/home/agent DOTNET_CLI_TELEMETRY_OPTOUT=1
USER 10001:10001
WORKDIR /workspace
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["dotnet", "/app/orchestrator-worker.dll", "health"]
ENTRYPOINT ["dotnet", "/app/orchestrator-worker.dll"]
