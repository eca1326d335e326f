#!/usr/bin/env bash
# Fetch veraPDF (the greenfield CLI and its dependencies) from Maven Central into
# ~/.cache/bulletin/verapdf/<version>/ and print the path of a launcher script:
#   "$(tests/validators/verapdf.sh)" --flavour ua1 file.pdf
# Needs Java >= 11 and Maven (Debian: openjdk-17-jre-headless maven); installs them with
# apt-get when missing and run as root. A second run only checks the cache.
set -euo pipefail

VERSION="${VERAPDF_VERSION:-1.28.2}"
DEST="${BULLETIN_CACHE:-$HOME/.cache/bulletin}/verapdf/$VERSION"
LAUNCHER="$DEST/verapdf"

if [[ -x "$LAUNCHER" && -f "$DEST/lib/.complete" ]]; then
  echo "$LAUNCHER"
  exit 0
fi

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "verapdf.sh: apt-get install ${missing[*]}" >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  else
    echo "verapdf.sh: needs ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.bulletin</groupId>
  <artifactId>verapdf-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.verapdf.apps</groupId>
      <artifactId>greenfield-apps</artifactId>
      <version>$VERSION</version>
    </dependency>
  </dependencies>
</project>
POM

echo "verapdf.sh: fetching org.verapdf.apps:greenfield-apps:$VERSION into $DEST" >&2
mvn -B -q -Dstyle.color=never -f "$work/pom.xml" -Dmaven.repo.local="$work/m2" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$work/lib" >&2
touch "$work/lib/.complete"
mkdir -p "$DEST"
rm -rf "$DEST/lib"
mv "$work/lib" "$DEST/lib"
cat >"$LAUNCHER" <<SH
#!/bin/sh
# veraPDF $VERSION command line (org.verapdf.apps.GreenfieldCliWrapper).
exec java -cp "$DEST/lib/*" org.verapdf.apps.GreenfieldCliWrapper "\$@"
SH
chmod +x "$LAUNCHER"
echo "$LAUNCHER"
