# The mesh image: mesh-controller, mesh-agent, mesh-proxy and meshctl as commands.
#   docker build -t hostmesh/mesh:latest .
# The agent starts sidecar containers from this image (as UID 1337); the controller and the
# agent run from it too (see compose/docker-compose.yml).
FROM node:24-bookworm-slim AS build
# A C compiler for the sidecar's SO_ORIGINAL_DST reader (native/original-dst.c, Node-API).
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY core core
COPY common common
COPY controller controller
COPY cli cli
COPY agent agent
COPY proxy proxy
COPY native native
COPY scripts/build-native.sh scripts/
RUN npx tsc -p tsconfig.build.json && bash scripts/build-native.sh && test -f dist/native/original-dst.node && test -f dist/native/tcp-keepalive.node \
 && mkdir -p dist/controller/ui && cp controller/ui/* dist/controller/ui/ \
 && npm prune --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
# iptables: the agent installs capture rules in the workloads' network namespaces (nsenter is in
# util-linux, already in the base image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
WORKDIR /opt/hostmesh
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY examples examples
RUN for c in controller agent proxy; do ln -s /opt/hostmesh/dist/$c/main.js /usr/local/bin/mesh-$c; done \
 && ln -s /opt/hostmesh/dist/cli/main.js /usr/local/bin/meshctl \
 && chmod +x dist/*/main.js \
 && groupadd -g 1337 mesh-proxy && useradd -u 1337 -g 1337 -M -s /usr/sbin/nologin mesh-proxy \
 && mkdir -p /var/lib/mesh-proxy /var/lib/mesh && chown 1337:1337 /var/lib/mesh-proxy
ENV NODE_ENV=production
CMD ["mesh-controller", "--data-dir", "/var/lib/mesh", "--listen", "0.0.0.0:15012"]
