#!/usr/bin/env bash
# fetch-lwip.sh DEST - put Debian's lwIP 2.1.3 source (lwip_2.1.3+dfsg1.orig.tar.xz) into DEST.
#
# lwIP is a build dependency of the unikernel's network layer, never committed. The source comes
# from Debian's source package through a private apt configuration: a `Types: deb-src` stanza with
# the URIs and Signed-By of the system's /etc/apt/sources.list.d/debian.sources (Suites: bookworm,
# Components: main), used with -o Dir::Etc::SourceList/SourceParts/State::Lists so the system's
# apt configuration and package lists are not touched. Needs apt-get, and xz (tar -J) or python3.
#
# Idempotent: when DEST/src/core/tcp.c exists, nothing is done. Then configure the unikernel
# with -DLWIP_SOURCE_DIR=DEST (build/lwip-src is the default CMake looks at).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DEST" >&2
  exit 2
fi
DEST=$1
VERSION=2.1.3
TARBALL="lwip_${VERSION}+dfsg1.orig.tar.xz"

if [[ -f "$DEST/src/core/tcp.c" ]]; then
  echo "fetch-lwip: $DEST already holds lwIP"
  exit 0
fi

SYS_SOURCES=/etc/apt/sources.list.d/debian.sources
if [[ ! -r $SYS_SOURCES ]]; then
  echo "fetch-lwip: $SYS_SOURCES not found (not a Debian machine with deb822 sources?)" >&2
  exit 1
fi
# The first stanza's URIs and Signed-By (the main archive, not -security).
URIS=$(awk '/^URIs:/ {sub(/^URIs:[ \t]*/, ""); print; exit}' "$SYS_SOURCES")
SIGNED_BY=$(awk '/^Signed-By:/ {sub(/^Signed-By:[ \t]*/, ""); print; exit}' "$SYS_SOURCES")
if [[ -z $URIS ]]; then
  echo "fetch-lwip: no URIs: line in $SYS_SOURCES" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fetch-lwip.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/sources" "$WORK/lists/partial" "$WORK/download"
{
  echo "Types: deb-src"
  echo "URIs: $URIS"
  echo "Suites: bookworm"
  echo "Components: main"
  if [[ -n $SIGNED_BY ]]; then
    echo "Signed-By: $SIGNED_BY"
  fi
} >"$WORK/sources/lwip-src.sources"

APT_OPTS=(
  -o Dir::Etc::SourceList=/dev/null
  -o "Dir::Etc::SourceParts=$WORK/sources"
  -o "Dir::State::Lists=$WORK/lists"
  -o Debug::NoLocking=1
  -o APT::Sandbox::User=root # the private folders are root's; _apt could not write them
)
echo "fetch-lwip: apt-get update (private deb-src list)"
apt-get "${APT_OPTS[@]}" -qq update
echo "fetch-lwip: apt-get source --download-only lwip"
(cd "$WORK/download" && apt-get "${APT_OPTS[@]}" -qq source --download-only lwip)
if [[ ! -f "$WORK/download/$TARBALL" ]]; then
  echo "fetch-lwip: apt-get did not give $TARBALL (got: $(ls "$WORK/download"))" >&2
  exit 1
fi

# Unpack into a sibling folder, then rename: an interrupted run leaves no half-filled DEST.
mkdir -p "$(dirname "$DEST")"
STAGE=$(mktemp -d "$(dirname "$DEST")/.lwip-stage.XXXXXX")
if command -v xz >/dev/null; then
  tar -xJf "$WORK/download/$TARBALL" -C "$STAGE" --strip-components=1
else
  # No xz-utils (a minimal Debian has none; it is "standard", not "important"): Python's
  # tarfile reads .tar.xz itself. The top folder is stripped, and no member may leave STAGE.
  python3 - "$WORK/download/$TARBALL" "$STAGE" <<'PY'
import os, sys, tarfile
tarball, stage = sys.argv[1], os.path.realpath(sys.argv[2])
with tarfile.open(tarball, "r:xz") as tar:
    for member in tar.getmembers():
        parts = member.name.split("/", 1)
        if len(parts) < 2 or not parts[1] or member.issym() or member.islnk():
            continue
        member.name = parts[1]
        if not os.path.realpath(os.path.join(stage, member.name)).startswith(stage + os.sep):
            sys.exit(f"fetch-lwip: {member.name} would land outside {stage}")
        tar.extract(member, stage)
PY
fi
rm -f "$STAGE/pax_global_header" # git-archive metadata, not source
if [[ ! -f "$STAGE/src/core/tcp.c" ]]; then
  rm -rf "$STAGE"
  echo "fetch-lwip: $TARBALL does not have the expected layout (src/core/tcp.c)" >&2
  exit 1
fi
rm -rf "$DEST"
mv "$STAGE" "$DEST"
echo "fetch-lwip: lwIP $VERSION in $DEST"
