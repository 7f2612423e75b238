# syntax=docker/dockerfile:1
# branchgate as a container sidecar at an edge site: Debian 12 with Node 20, BIRD 2 for BGP.
# Every build step is a script CI also runs on the host (test/unit/packaging.test.ts), because
# no Docker engine exists where this project is developed:
#   scripts/docker/build.sh      npm ci, TypeScript build, native TUN addon, npm prune --omit=dev
#   scripts/docker/runtime-deps.sh  bird2, iproute2, tini, the `branchgate` user, directories
#
# Build and run (docs/container.md; the tested sidecar run is test/interop/container.test.ts):
#   podman build --format docker -t branchgate .      (docker format keeps the HEALTHCHECK)
#   podman build --format docker --build-arg NODE_IMAGE=$(scripts/build-base-image.sh) -t branchgate .
#     (no registry: a local Debian 12 + this host's Node base image)
#   podman run -d --name branchgate --network ns:/run/netns/NAME \
#     --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_BIND_SERVICE --device /dev/net/tun \
#     -v /etc/branchgate:/etc/branchgate:ro branchgate
# Kubernetes sidecar manifests: deploy/kubernetes/ (docs/sidecar.md).
# Privileges (docs/privileges.md). The daemon needs exactly CAP_NET_ADMIN (TUN, routes, BIRD) and
# CAP_NET_BIND_SERVICE (UDP 500/4500, BIRD's TCP 179) and /dev/net/tun. Two ways, both ending
# with a daemon that is not root and holds only those two:
#  1. As built (USER branchgate): the node binary carries them as file capabilities, and the
#     daemon makes them ambient at start so `ip` and BIRD inherit them. NET_ADMIN must be in the
#     container's bounding set (--cap-add NET_ADMIN), else node will not start at all ("operation
#     not permitted"); NET_BIND_SERVICE is in Docker's default set. Tightest:
#       --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_BIND_SERVICE
#     With Docker, do not add --security-opt no-new-privileges: tini (no file capabilities) runs
#     first and Docker sets no ambient capabilities, so node's file capabilities are voided (TUN
#     fails EPERM). podman sets ambient capabilities for a non-root user, so there it works; the
#     Kubernetes manifests (allowPrivilegeEscalation: false) start node directly, without tini
#     (docs/sidecar.md "Capabilities").
#  2. Started as root, switching after setup: `docker run --user root ... branchgate run --config
#     /etc/branchgate/config.yaml --user branchgate` (or privileges: { user: branchgate } in the
#     config). Root needs Docker's default SETUID, SETGID, SETPCAP and CHOWN for the switch, plus
#     --cap-add NET_ADMIN; no-new-privileges is fine here. tini stays root as PID 1.
# The daemon refuses to start, naming the capability, when one it needs is not effective.
# Metrics (control.metrics) listen on 127.0.0.1 by default; set 0.0.0.0:9477 to scrape from outside.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY scripts/docker/build.sh scripts/docker/build.sh
RUN scripts/docker/build.sh --deps
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin/ bin/
COPY config/ config/
COPY native/binding.gyp native/binding.gyp
COPY native/src/ native/src/
COPY scripts/build-native.mjs scripts/build-native.mjs
COPY src/ src/
RUN scripts/docker/build.sh /opt/branchgate

FROM ${NODE_IMAGE} AS runtime
ENV BRANCHGATE_CONTAINER=1
# A fixed uid/gid (runtime-deps.sh keeps an existing user): Kubernetes' runAsUser, fsGroup and
# runAsNonRoot need a number, and mounted PSK files are chowned to it (deploy/kubernetes/).
ARG BRANCHGATE_UID=10001
RUN groupadd --gid ${BRANCHGATE_UID} branchgate \
 && useradd --no-log-init --uid ${BRANCHGATE_UID} --gid branchgate --home-dir /var/lib/branchgate --no-create-home \
      --shell /usr/sbin/nologin --comment "branchgate IPsec CPE" branchgate
COPY scripts/docker/runtime-deps.sh /usr/local/lib/branchgate/runtime-deps.sh
RUN /usr/local/lib/branchgate/runtime-deps.sh \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log
# Probes for HEALTHCHECK and Kubernetes: `branchgate status --check` mapped to ready/live.
COPY deploy/container/branchgate-probe /usr/local/bin/branchgate-probe
COPY --from=build /opt/branchgate /opt/branchgate
# Smoke test, then the file capabilities: after this step node needs NET_ADMIN to start.
RUN node /opt/branchgate/bin/branchgate.js version \
 && /usr/local/lib/branchgate/runtime-deps.sh --node-caps
USER branchgate
WORKDIR /var/lib/branchgate
EXPOSE 500/udp 4500/udp
# Healthy while traffic can flow: `status --check` 0 (every tunnel and BGP session up); unhealthy
# on 1 (a tunnel still negotiating), 2 (a tunnel or BGP session down) or 3 (no answer). With
# dpd: 10s a dead peer is declared after about 23 s (README "Liveness"), so the container turns
# unhealthy within about 23 s + 3 retries × 10 s. Probe script: deploy/container/branchgate-probe.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/branchgate-probe", "ready", "/run/branchgate/control.sock"]
STOPSIGNAL SIGTERM
# tini as PID 1 forwards SIGTERM/SIGHUP to the daemon and reaps BIRD if it is orphaned.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/opt/branchgate/bin/branchgate.js"]
CMD ["run", "--config", "/etc/branchgate/config.yaml", "--socket", "/run/branchgate/control.sock"]
