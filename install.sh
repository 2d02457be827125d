#!/usr/bin/env sh
# Builds keyhelm, docker-credential-keyhelm and the provider plugins in release mode and
# installs them under PREFIX (default ~/.local): binaries in PREFIX/bin, plugins in
# PREFIX/lib/keyhelm/plugins, where keyhelm finds them next to its own binary.
set -eu
cd "$(dirname "$0")"
PREFIX=${PREFIX:-"$HOME/.local"}
cargo build --release --locked --workspace --exclude keyhelm-testkit --bins --lib
umask 022
mkdir -p "$PREFIX/bin" "$PREFIX/lib/keyhelm/plugins"
for bin in keyhelm docker-credential-keyhelm; do
    if [ -f "target/release/$bin" ]; then
        install -m 0755 "target/release/$bin" "$PREFIX/bin/$bin"
        echo "installed $PREFIX/bin/$bin"
    fi
done
for plugin in target/release/libkeyhelm_*.so target/release/libkeyhelm_*.dylib; do
    [ -f "$plugin" ] || continue
    install -m 0644 "$plugin" "$PREFIX/lib/keyhelm/plugins/"
    echo "installed $PREFIX/lib/keyhelm/plugins/$(basename "$plugin")"
done
case ":$PATH:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "note: add $PREFIX/bin to your PATH" ;;
esac
