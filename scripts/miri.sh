#!/usr/bin/env bash
# secmx-core's tests under Miri (nightly): the grammar and framing parsers
# and the plaintext client and server sessions, checked for undefined
# behaviour in everything they call (std, bytes, memchr).
#
# What does not run: every test that makes an rcgen key or a rustls
# connection, since ring's assembly and C cannot run under Miri. Those are
# `#[cfg_attr(miri, ignore)]`, each with its reason; the test binaries made
# only of them (client_starttls, server_tls, server_heap, transport) are left
# out here. Under cfg(miri) the tests shrink their loops and proptest runs a
# few cases with the XorShift generator and no failure file, so Miri keeps
# its isolation (no -Zmiri-disable-isolation) and every run is the same.
#
# One core: about 50 minutes, most of it in `framing`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal --component miri,rust-src
fi
cargo +nightly miri setup

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
export MIRIFLAGS="${MIRIFLAGS:-}"
exec cargo +nightly miri test -p secmx-core --locked \
  --lib \
  --test command_grammar \
  --test reply_grammar \
  --test framing \
  --test client_transcript \
  --test client_fuzz \
  --test server_fuzz \
  --test server_transcript \
  --test pair
