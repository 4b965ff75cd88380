#!/bin/sh
# As MinIO's image: `docker run IMAGE server /data` runs `minio server /data`.
set -e
if [ "${1#-}" != "$1" ] || [ "$1" = server ]; then
    set -- minio "$@"
fi
exec "$@"
