#!/usr/bin/env bash
# Nightly job on the connected machine: sync the mirror, check it, and write the bundle of
# what changed, ready to carry across the air gap. Each step stops the job if it fails
# (selmirror's exit codes are documented in the README); logs are plain timestamped lines.
set -euo pipefail

CONFIG=${CONFIG:-/etc/selmirror/mirror.toml}   # requirements, targets, index: see mirror.toml
MIRROR=${MIRROR:-/srv/selmirror/simple}        # the connected side's mirror
OUTBOX=${OUTBOX:-/srv/selmirror/outbox}        # bundles, reports and change lists
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUTBOX"

selmirror sync --config "$CONFIG" --local-folder "$MIRROR" --prune \
    --report "$OUTBOX/report-$stamp.json" --diff-file "$OUTBOX/changed-$stamp.txt"
selmirror verify --local-folder "$MIRROR"
selmirror export --local-folder "$MIRROR" --output "$OUTBOX/bundle-$stamp.tar"
