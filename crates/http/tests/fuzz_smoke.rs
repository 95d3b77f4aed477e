//! The fuzz targets' properties on the stable toolchain, with every `cargo test`: each target over
//! its seed corpus (`fuzz/corpus/<target>/`) and tens of thousands of pseudo-random and mutated
//! inputs from a fixed seed. `scripts/fuzz` runs the same properties under libFuzzer, for longer.
//!
//! The properties are written once, in `fuzz/src/`; this file only includes them, so they build
//! against the crates this workspace has already compiled.

#[path = "../../../fuzz/src/lib.rs"]
mod rapport_fuzz;
