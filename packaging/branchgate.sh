#!/bin/sh
# /usr/bin/branchgate: the program under /usr/lib/branchgate with the Node.js runtime the
# package bundles (docs/packaging.md "Runtime"). exec keeps the PID, which systemd's
# Type=notify and NotifyAccess=main rely on.
exec /usr/lib/branchgate/node /usr/lib/branchgate/bin/branchgate.js "$@"
