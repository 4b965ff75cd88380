#!/bin/sh
# As the official Redis image's entrypoint: own /data and run as redis; without a
# configuration file, listen on every interface with protected mode off.
set -e
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [ "$1" = redis-server ] && ! [ -f "${2:-}" ]; then
    shift
    set -- redis-server --protected-mode no "$@"
fi
exec "$@"
