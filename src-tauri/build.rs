//! Compiles the top-level tauri.conf.json and registers the app's IPC commands, so that
//! capabilities can allow exactly these and nothing else. The commands are the core's
//! declared API (its command list is included here, names only) plus the shell's own.

include!("../src/api/command_list.rs");

/// The names of the declared commands; the types are only read as tokens.
macro_rules! names {
    ($( $(#[$doc:meta])* $name:ident ( $($req:ty)? ) -> $res:ty ; )*) => {
        &[$(stringify!($name)),*]
    };
}

const SHELL_COMMANDS: &[&str] = include!("shell_commands.in");

fn main() {
    println!("cargo:rerun-if-changed=../src/api/command_list.rs");
    println!("cargo:rerun-if-changed=shell_commands.in");
    let declared: &[&str] = for_each_command!(names);
    let commands: &'static [&'static str] =
        Vec::leak(declared.iter().chain(SHELL_COMMANDS).copied().collect());
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(commands));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {e:#}");
    }
}
