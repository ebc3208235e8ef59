# The code location's image: the project installed exactly as CI installs it (scripts/setup.sh), serving its
# definitions over gRPC to the webserver and the daemon (in Kubernetes: a user-code deployment of the Dagster
# Helm chart). The instance (deploy/dagster.yaml) and the data root come from the deployment's environment.
FROM python:3.11-slim

WORKDIR /opt/sensor_latents
COPY pyproject.toml README.md workspace.yaml ./
COPY scripts/setup.sh scripts/setup.sh
COPY pipeline pipeline
COPY assets assets
RUN scripts/setup.sh && rm -rf /root/.cache/pip

ENV PATH=/opt/sensor_latents/.venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PIPELINE_DATA_DIR=/data
COPY deploy/dagster.yaml /opt/dagster/dagster_home/dagster.yaml

EXPOSE 4000
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "assets.definitions", "--location-name", "sensor_latents"]
