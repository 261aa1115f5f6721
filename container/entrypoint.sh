#!/bin/sh
# The image's entry point, run under tini (signals reach Python, the worker child is reaped).
#   (no command)    the DICOM node; folder mode when started by `monai-deploy run`
#                   (it sets HOLOSCAN_HOSTING_SERVICE=HOLOSCAN_RUN and mounts input/output)
#   serve [flags]   the DICOM node (`python -m app serve`), spool in $SYNTH_NODE_SPOOL
#   folder [flags]  one study folder: $HOLOSCAN_INPUT_PATH -> $HOLOSCAN_OUTPUT_PATH, then exit
#   status          the node's queue, read from the spool volume
#   health          a C-ECHO to the node (the image's HEALTHCHECK)
# serve, status and health read $SYNTH_CONFIG (default /etc/synth-node/node.yaml) when it exists.
set -eu
config=${SYNTH_CONFIG:-/etc/synth-node/node.yaml}
if [ $# -eq 0 ]; then
    if [ "${HOLOSCAN_HOSTING_SERVICE:-}" = HOLOSCAN_RUN ]; then set -- folder; else set -- serve; fi
fi
command=$1
shift
case $command in
    serve | status | health)
        if [ -f "$config" ]; then set -- --config "$config" "$@"; fi
        exec python3 -m app "$command" "$@"
        ;;
    folder)
        exec python3 -m app "$@"
        ;;
    *)
        echo "unknown command '$command': expected serve, folder, status or health" >&2
        exit 2
        ;;
esac
