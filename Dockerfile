# Pricegate: built in a Rust image, run in a small Debian image as a non-root user.
#   docker build -t pricegate .
# The build stage compiles only the binary (tests and other members are not needed).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY migrations migrations
COPY tests tests
COPY vendor vendor
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p pricegate \
    && install -D target/release/pricegate /out/pricegate

FROM debian:bookworm-slim AS runtime
# TLS roots for smtps:// and https; tini forwards SIGTERM so shutdown is graceful.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/pricegate --create-home pricegate
COPY --from=build /out/pricegate /usr/local/bin/pricegate
USER pricegate
WORKDIR /var/lib/pricegate
ENV PRICEGATE_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/pricegate/pricegate.db?mode=rwc \
    PRICEGATE_MAILDIR=/var/lib/pricegate/mail-out \
    RUST_LOG=info,sqlx::postgres::notice=warn,sea_orm_migration=warn,sqlx_core::pool=error
EXPOSE 8080
VOLUME ["/var/lib/pricegate"]
# The image has no curl: the binary asks its own /healthz (at PRICEGATE_BIND).
HEALTHCHECK --interval=10s --timeout=6s --start-period=60s --retries=3 CMD ["/usr/local/bin/pricegate", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "pricegate"]
CMD ["serve"]
