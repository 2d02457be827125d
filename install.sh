#!/usr/bin/env sh
# Builds keyhelm, docker-credential-keyhelm and the provider plugins in release mode and
# installs them under PREFIX (default ~/.local): binaries in PREFIX/bin, plugins in
# PREFIX/lib/keyhelm/plugins, where keyhelm finds them next to its own binary.
set -eu
cd "$(dirname "$0")"
PREFIX=${PREFIX:-"$HOME/.local"}
# The cargo profile to build (the tests install a `dev` build).
PROFILE=${KEYHELM_INSTALL_PROFILE:-release}
case "$PROFILE" in dev) out=debug ;; *) out=$PROFILE ;; esac
PLUGINS="intralinks clinked intellivoid"
packages="-p keyhelm"
for p in $PLUGINS; do packages="$packages -p keyhelm-$p"; done
# shellcheck disable=SC2086 # word splitting of $packages is intended
cargo build --profile "$PROFILE" --locked $packages
umask 022
mkdir -p "$PREFIX/bin" "$PREFIX/lib/keyhelm/plugins"
for bin in keyhelm docker-credential-keyhelm; do
    if [ -f "target/$out/$bin" ]; then
        install -m 0755 "target/$out/$bin" "$PREFIX/bin/$bin"
        echo "installed $PREFIX/bin/$bin"
    fi
done
for p in $PLUGINS; do
    for lib in "target/$out/libkeyhelm_$p.so" "target/$out/libkeyhelm_$p.dylib"; do
        [ -f "$lib" ] || continue
        install -m 0644 "$lib" "$PREFIX/lib/keyhelm/plugins/"
        echo "installed $PREFIX/lib/keyhelm/plugins/$(basename "$lib")"
    done
done
case ":$PATH:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "note: add $PREFIX/bin to your PATH" ;;
esac
