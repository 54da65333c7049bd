# execbox itself, as a container: `docker build -t execbox .`
#
# BASE is any Debian bookworm image: debian:bookworm-slim where a registry is
# reachable, or the local one `execbox images build` makes where none is:
#   docker build --build-arg BASE=execbox/debian-base:bookworm -t execbox .
# The toolchain comes from Debian (rustc-web/cargo-web, bookworm-security),
# so the build needs only Debian's mirror and crates.io. Behind a TLS-
# intercepting proxy, pass its CA certificates (PEM) in CA_CERTS.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN if ! grep -rqs bookworm-security /etc/apt/sources.list /etc/apt/sources.list.d/; then \
      echo 'deb http://deb.debian.org/debian-security bookworm-security main' > /etc/apt/sources.list.d/security.list; \
    fi \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cargo-web rustc-web gcc libc6-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ARG CA_CERTS=""
RUN if [ -n "$CA_CERTS" ]; then \
      printf '%s\n' "$CA_CERTS" > /usr/local/share/ca-certificates/build-extra.crt && update-ca-certificates; \
    fi
WORKDIR /src
# Only what the build reads, so editing docs does not invalidate the cache.
COPY Cargo.toml Cargo.lock build.rs runtimes.toml ./
COPY src src
COPY supabase supabase
COPY images images
# The playground page the binary embeds (its script already bundled).
COPY web/index.html web/playground.css web/
COPY web/dist web/dist
RUN cargo build --release --locked \
 && install -m 0755 target/release/execbox /usr/local/bin/execbox

FROM ${BASE}
# tar streams the debootstrap base into the engine (`execbox images build`).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates tar \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/execbox /usr/local/bin/execbox
# Runs as root only to reach the mounted Docker socket; the code it runs is
# confined by the sandbox policy (uid 65534, no capabilities, no network).
ENTRYPOINT ["/usr/local/bin/execbox"]
CMD ["worker"]
