# syntax=docker/dockerfile:1
# Multi-stage: the build stage type-checks with the dev toolchain and emits the JavaScript (dist/); the deps
# stage installs the production dependencies alone (none on the SQLite engine; `postgres` once declared);
# the runtime stage holds only package.json, dist/ and those, with no npm.
# NODE_IMAGE: the official Node 24 image on Debian 13, slim. Any base works that is Debian trixie with
# Node at /usr/local/bin/node, npm on PATH and a `node` user of uid 1000, as that image is; CI, and
# `make up` with podman where that image is absent, build on one assembled from Debian packages and the
# project's pinned Node (tools/container-base.ts).
ARG NODE_IMAGE=node:24.21.0-trixie-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency would fetch a second Node 24; this image already is one.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Type-checks src/ and emits the JavaScript the service runs (dist/): no TypeScript stripper in memory.
# Then the inbox page (dist/inbox): the steps of `npm run build`, spelled out because npm run would put
# the `node` devDependency, left uninstalled by --ignore-scripts, first on PATH.
RUN npx tsc -p tsconfig.build.json && npx tsc -p src/inbox/tsconfig.json \
  && cp src/inbox/index.html src/inbox/inbox.css src/inbox/icon.svg dist/inbox/

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Exactly the lockfile's production packages; the folder is made when there are none, for the COPY below.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
 && mkdir -p node_modules && rm -f node_modules/.package-lock.json

FROM ${NODE_IMAGE} AS runtime
# tini: PID 1 that forwards SIGTERM, so `docker stop` drains gracefully. sqlite3: for operators'
# `docker compose exec api sqlite3 /data/app.db ...`. npm, npx, corepack and yarn are removed: the service
# never installs anything at run time, and what is not there cannot be exploited.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini sqlite3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && mkdir -p /data && chown node:node /data
WORKDIR /app
ENV NODE_ENV=production \
    DATABASE_URL=sqlite:////data/app.db \
    HOST=0.0.0.0 \
    PORT=8000
COPY --from=build --chown=root:root /app/package.json ./package.json
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
USER node
VOLUME ["/data"]
EXPOSE 8000
# Node itself does the check: no curl or wget in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--max-semi-space-size=4", "--no-concurrent-recompilation", "--heap-growing-percent=10", "dist/main.js"]
