# Build and run berth. `docker compose up` runs two replicas of it (docker-compose.yml).
FROM rust:1-bookworm AS build
WORKDIR /src
# build.rs and .cargo/config.toml: linked and SQLite compiled as a cargo build in the
# repository is.
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo .cargo
COPY src src
COPY migrations migrations
COPY api-spec api-spec
RUN cargo build --release --locked --bin berth

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/berth /usr/local/bin/berth
ENV BERTH_LISTEN=0.0.0.0:5000 BERTH_PUBLIC_LISTEN=0.0.0.0:5001 BERTH_DATA_DIR=/var/lib/berth
VOLUME /var/lib/berth
EXPOSE 5000 5001
HEALTHCHECK CMD curl -fsS http://127.0.0.1:5000/healthz || exit 1
ENTRYPOINT ["berth"]
CMD ["serve"]
