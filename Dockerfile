# syntax=docker/dockerfile:1
# sheetsync's container image: `fleet run` workers, or any other command.
# See docs/deployment.md. Build from the repository root:
#   docker build -t sheetsync:0.1.0 .
#
# Two stages: a full Rust toolchain builds the binary, and the image that ships holds that
# binary alone on a distroless base (glibc, CA certificates, no shell, no package manager).
# The build has no default features: no sandbox fakes and no test keys are inside.
# No secret is copied or passed in: credentials reach a container as environment variables
# (Kubernetes Secrets, an --env-file) at run time, never at build time.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# Only what the build reads (.dockerignore allows no more): the manifests, the build
# script, the GraphQL schema and queries, the sources. The sandbox crate's files are here
# because it is a workspace member whose manifest cargo reads; it is not compiled.
COPY Cargo.toml Cargo.lock build.rs ./
COPY graphql ./graphql
COPY sandbox ./sandbox
COPY src ./src
# The caches only speed up rebuilds; the binary leaves them in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release -p sheetsync --no-default-features --bin sheetsync \
    && install -D -m 0755 target/release/sheetsync /out/sheetsync

# glibc and libgcc for the binary (rusqlite's SQLite and ring are compiled in), the CA
# bundle that rustls verifies Google, Shopify and PostgreSQL against, and a nonroot user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/sheetsync /usr/local/bin/sheetsync
# distroless's "nonroot" user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# A place for a single-machine command's state dir or config mount; fleet workers keep
# their state in PostgreSQL and need no volume.
WORKDIR /home/nonroot
ENTRYPOINT ["sheetsync"]
CMD ["--help"]
