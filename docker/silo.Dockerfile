# The silo image, for machines that reach the official .NET images (mcr.microsoft.com).
#   docker build -f docker/silo.Dockerfile -t orchestrator-silo:local .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish silo -c Release -o /app

FROM mcr.microsoft.com/dotnet/runtime:10.0
COPY --from=build /app /app
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1
WORKDIR /app
ENTRYPOINT ["dotnet", "/app/orchestrator-silo.dll"]
