#!/usr/bin/env bash
# The whole SecMX test suite, on a fresh Debian machine or a developer's:
# installs what it needs (the real peers from Debian's packages), then runs
# formatting, lints, docs and every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers the integration tests start on loopback: knot (authoritative,
# signing), unbound (validating), Postfix and swaks; valgrind for the C API.
packages=(knot knot-dnssecutils knot-dnsutils unbound bind9-dnsutils postfix swaks openssl
  libnet-ssleay-perl libio-socket-ssl-perl libio-socket-inet6-perl valgrind gcc pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  echo "postfix postfix/main_mailer_type select Local only" | $SUDO debconf-set-selections
  echo "postfix postfix/mailname string mx.example.test" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
# Every fuzz target for a few seconds from its committed seeds (stable Rust,
# no sanitizer): a crash fails the suite. Deeper runs: scripts/fuzz.sh depth.
scripts/fuzz.sh smoke 15
