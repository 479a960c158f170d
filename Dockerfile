# syntax=docker/dockerfile:1
#
# crm-flow-bridge image, two stages:
#   build    installs every dependency (compiling better-sqlite3 when no prebuilt binary fits),
#            compiles the TypeScript, then prunes to production dependencies;
#   runtime  the pruned node_modules and dist/ only, run as the unprivileged `node` user.
# The same image runs the Genesys sandbox (docker-compose.yml: `node dist/sandbox/main.js`).
# Configuration comes from the environment at run time (docs/configuration.md); no secret is baked
# in. test/ops/container.test.ts lints this file and rehearses its npm steps outside Docker.
#
# The base is pinned to the Node.js 22 LTS line on Debian bookworm; production builds should pin it
# further by digest in their registry (node:22-bookworm-slim@sha256:…) and rebuild for updates.

FROM node:22-bookworm-slim AS build
# Toolchain for node-gyp, in this stage only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies first: this layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim AS runtime
# The heap ceiling of `npm start` (docs/operations.md, Memory); set NODE_OPTIONS to change it.
ENV NODE_OPTIONS=--max-old-space-size=512 \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=sqlite:/data/bridge.db \
    MAPPINGS_FILE=/config/mappings.yaml
WORKDIR /app
# Owned by root and read-only to the service user: the process cannot change its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config/mappings.example.yaml ./config/mappings.example.yaml
COPY docker/healthcheck.mjs ./docker/healthcheck.mjs
# The SQLite file lives on a volume the service user owns; mount the mappings file read-only at
# /config/mappings.yaml (docker run -v "$PWD/mappings.yaml:/config/mappings.yaml:ro" …).
RUN mkdir -p /data \
 && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
# Liveness: /healthz answers (readiness, /readyz, is for orchestrators that route traffic).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "docker/healthcheck.mjs"]
# Exec form: node is PID 1 and gets SIGTERM itself; it drains within SHUTDOWN_GRACE_MS (default
# 10 s) plus 5 s, so give `docker stop -t 20` / stop_grace_period: 20s.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server.js"]
