//! Links berth's executable with packed relative relocations (DT_RELR) where the linker
//! and the C library take them. A position-independent executable of berth's size
//! otherwise carries about 1.1 MB of relocations, which the loader reads at every start:
//! about 2 MiB of resident memory at idle (BENCHMARKS.md, "Resident memory at idle").

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    let native = std::env::var("HOST") == std::env::var("TARGET");
    let Some(out) = std::env::var_os("OUT_DIR") else {
        return;
    };
    if linux_gnu && native && packs_relocations(Path::new(&out)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether a C program linked with packed relocations builds and runs correctly here
/// (binutils 2.38 and glibc 2.36 or later): its one pointer in data is right only if
/// the loader applied the packed relocation.
fn packs_relocations(dir: &Path) -> bool {
    let (source, program) = (dir.join("relr-probe.c"), dir.join("relr-probe"));
    let probe = "static int x; int *p = &x; int main(void) { return p == &x ? 0 : 1; }\n";
    if std::fs::write(&source, probe).is_err() {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let linked = Command::new(cc)
        .args(["-fPIE", "-pie", "-Wl,-z,pack-relative-relocs", "-o"])
        .arg(&program)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success());
    linked && Command::new(&program).status().is_ok_and(|s| s.success())
}
