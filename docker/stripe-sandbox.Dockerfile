# syntax=docker/dockerfile:1
# Local Stripe-compatible sandbox (apps/stripe-sandbox/src/main.ts): listens on STRIPE_SANDBOX_PORT (12111) and
# answers GET /health.
# Build from the repo root: docker build -f docker/stripe-sandbox.Dockerfile .

# Stage 1: production dependencies, from the manifests only, so code edits reuse this layer.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY --parents packages/*/package.json apps/*/package.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund

# Stage 2: node runs the .ts sources directly (type stripping), so there is no build output to copy.
FROM node:24-slim
WORKDIR /app
# Listen on every interface: 127.0.0.1 (the config default) is unreachable from other containers.
ENV HOST=0.0.0.0
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY packages ./packages
COPY apps/stripe-sandbox ./apps/stripe-sandbox
# Room for the embedded defaults (PGlite under .kassa/) when the image runs without DATABASE_URL.
RUN mkdir .kassa && chown node:node .kassa
USER node
EXPOSE 12111
# slim has no curl: probe with node's fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:12111/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "apps/stripe-sandbox/src/main.ts"]
