//! The benchmark tool starts and names its commands. Also, this test makes `cargo test` build the
//! `rapport-bench` binary itself, which the suite's smoke runs then use as they find it (without
//! a `cargo build` of their own that would resolve features anew and compile crates again).

#[test]
fn rapport_bench_names_its_commands() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rapport-bench"))
        .arg("--help")
        .output()
        .expect("rapport-bench runs");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["load", "graph"] {
        assert!(help.contains(command), "{help}");
    }
}
