#!/bin/sh
# Writes the secrets docker compose mounts (deploy/secrets/, git-ignored), one file per setting, each drawn at random.
# Existing files are kept, so running it again never changes a key that data already depends on (gift card code hashes,
# encrypted photos). Optional providers: put their keys in files of the same kind yourself, e.g.
#   printf %s sk_live_... > deploy/secrets/Payments__Stripe__SecretKey   (and add it under `secrets:` in docker-compose.yml)
set -eu
cd "$(dirname "$0")"
# The folder is closed to other users of this host; its files are readable (644) because compose bind-mounts each one
# as it is and the programs run as the image's non-root user, not as the owner of these files.
mkdir -p secrets
chmod 700 secrets
umask 022

random() { head -c "$1" /dev/urandom | base64 | tr -d '\n/+=' | head -c "$2"; }
keep_or_write() { [ -s "secrets/$1" ] || printf '%s' "$2" > "secrets/$1"; }

keep_or_write postgres-password "$(random 48 40)"
keep_or_write ConnectionStrings__Postgres \
  "Host=postgres;Port=5432;Database=medspa;Username=medspa;Password=$(cat secrets/postgres-password)"
keep_or_write Auth__SigningKey "$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
keep_or_write Operator__Key "$(random 64 48)"
keep_or_write GiftCards__CodeKey "$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
keep_or_write Photos__Keys__local "$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
echo "secrets in $(pwd)/secrets (folder mode 700): $(ls secrets | tr '\n' ' ')"
