#!/bin/sh
# The image's entrypoint: `silo` or `api`, then the program's own arguments. It runs exactly the two published programs
# the tests start (silo/MedSpa.Silo.Host → MedSpa.Silo.Host.dll, api → MedSpa.Api.dll); tests/MedSpa.Tests/Deploy
# runs this script against the Release build outputs (MEDSPA_SILO_DIR / MEDSPA_API_DIR) to prove it.
#
# Secrets never live in the image or the manifests: the orchestrator's secret store mounts them as files, one per
# setting, named like the environment variable (e.g. /run/secrets/ConnectionStrings__Postgres). docker compose
# `secrets:` and a Kubernetes Secret volume both do that. Each file becomes that setting's environment variable for the
# program and for nothing else; nothing is printed.
set -eu

secrets="${MEDSPA_SECRETS_DIR:-/run/secrets}"
if [ -d "$secrets" ]; then
  for file in "$secrets"/*; do
    [ -f "$file" ] || continue
    name="$(basename "$file")"
    # Only names a setting can have (Section__Key); anything else (e.g. Kubernetes' ..data links) is skipped.
    case "$name" in
      *[!A-Za-z0-9_]*|[0-9]*|'') continue ;;
    esac
    value="$(cat "$file")"
    export "$name=$value"
  done
fi

role="${1:-}"
[ $# -gt 0 ] && shift
# The program's folder is its content root (appsettings.json, the api's wwwroot), as `dotnet publish` laid it out.
case "$role" in
  silo) cd "${MEDSPA_SILO_DIR:-/app/silo}" && exec dotnet MedSpa.Silo.Host.dll "$@" ;;
  api) cd "${MEDSPA_API_DIR:-/app/api}" && exec dotnet MedSpa.Api.dll "$@" ;;
  *) echo "usage: entrypoint.sh silo|api [program arguments]" >&2; exit 64 ;;
esac
