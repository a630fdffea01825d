# Image for the bot and the dashboard (docker-compose.yml). Builds the Rust core with maturin.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends curl build-essential ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
ENV PATH="/root/.cargo/bin:${PATH}"
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir .
