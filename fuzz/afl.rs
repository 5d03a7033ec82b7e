//! AFL++ entry point for the fuzz targets of `hearth::fuzz`: `HEARTH_FUZZ_TARGET` names the
//! target; AFL feeds it inputs, starting from its corpus in `tests/fuzz-corpus/<target>/`.
//! Built and run by `make fuzz-afl` (see ARCHITECTURE.md, "Tests").

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--list") {
        for t in hearth::fuzz::TARGETS {
            println!("{}", t.name);
        }
        return;
    }
    let name = std::env::var("HEARTH_FUZZ_TARGET").unwrap_or_default();
    let Some(target) = hearth::fuzz::target(&name) else {
        let names: Vec<&str> = hearth::fuzz::TARGETS.iter().map(|t| t.name).collect();
        eprintln!("set HEARTH_FUZZ_TARGET to one of: {}", names.join(", "));
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| (target.run)(data));
}
