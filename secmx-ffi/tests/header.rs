//! The committed `include/secmx.h` is exactly what the pinned cbindgen
//! writes from the sources with `cbindgen.toml`.
//!
//! To regenerate after changing the C API:
//! `SECMX_UPDATE_HEADER=1 cargo test -p secmx-ffi --test header`.

use std::path::Path;

#[test]
fn committed_header_matches_cbindgen_output() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);

    let path = crate_dir.join("include").join("secmx.h");
    if std::env::var_os("SECMX_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("include/secmx.h is writable");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != generated {
        let committed = String::from_utf8_lossy(&committed);
        let generated = String::from_utf8_lossy(&generated);
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "include/secmx.h is out of date with the sources (first difference at line {}).\n\
             Regenerate it with\n    \
             SECMX_UPDATE_HEADER=1 cargo test -p secmx-ffi --test header\n\
             and commit it.\n--- committed: {:?}\n+++ generated: {:?}",
            first + 1,
            committed.lines().nth(first),
            generated.lines().nth(first),
        );
    }
}
