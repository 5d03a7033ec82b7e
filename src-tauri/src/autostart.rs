//! "Start Hearth when I log in": an XDG autostart entry, `hearth.desktop` in
//! `$XDG_CONFIG_HOME/autostart` (`~/.config/autostart` by default), written or removed by the
//! shell.

use std::path::{Path, PathBuf};

const FILE_NAME: &str = "hearth.desktop";

/// The autostart folder from the environment's values of `XDG_CONFIG_HOME` and `HOME`.
pub fn autostart_dir(xdg_config_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    let config = match xdg_config_home.filter(|d| Path::new(d).is_absolute()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(home.filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(config.join("autostart"))
}

/// This process's autostart folder.
pub fn current_dir() -> Option<PathBuf> {
    autostart_dir(
        std::env::var("XDG_CONFIG_HOME").ok().as_deref(),
        std::env::var("HOME").ok().as_deref(),
    )
}

/// The program to start: the AppImage when run from one (its mount point changes), else this
/// executable.
pub fn program() -> std::io::Result<PathBuf> {
    match std::env::var_os("APPIMAGE") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => std::env::current_exe(),
    }
}

/// A path quoted for the `Exec` key of a desktop entry.
fn quote_exec(path: &Path) -> String {
    let mut out = String::from("\"");
    for c in path.display().to_string().chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The desktop entry that starts `program` at login.
pub fn entry(program: &Path) -> String {
    format!(
        "[Desktop Entry]\nType=Application\nName=Hearth\n\
         Comment=Share files and chat with your peers\nExec={}\nIcon=hearth\n\
         Terminal=false\nX-GNOME-Autostart-enabled=true\n",
        quote_exec(program)
    )
}

pub fn is_enabled(dir: &Path) -> bool {
    dir.join(FILE_NAME).is_file()
}

/// Writes (`on`) or removes the entry; answers whether it is now enabled.
pub fn set(dir: &Path, on: bool, program: &Path) -> std::io::Result<bool> {
    let file = dir.join(FILE_NAME);
    if on {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
        std::fs::write(&tmp, entry(program))?;
        std::fs::rename(&tmp, &file)?;
    } else {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(is_enabled(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_follows_xdg_config_home_then_home() {
        assert_eq!(
            autostart_dir(Some("/x/conf"), Some("/home/a")),
            Some(PathBuf::from("/x/conf/autostart"))
        );
        // Relative values are ignored, as the XDG spec says.
        assert_eq!(
            autostart_dir(Some("conf"), Some("/home/a")),
            Some(PathBuf::from("/home/a/.config/autostart"))
        );
        assert_eq!(
            autostart_dir(None, Some("/home/a")),
            Some(PathBuf::from("/home/a/.config/autostart"))
        );
        assert_eq!(autostart_dir(None, None), None);
    }

    #[test]
    fn writes_and_removes_the_entry_in_a_temporary_home() {
        let home = tempfile::tempdir().unwrap();
        let dir = autostart_dir(None, home.path().to_str()).unwrap();
        assert!(!is_enabled(&dir));
        let program = Path::new("/opt/My Apps/hearth \"desktop\"");
        assert!(set(&dir, true, program).unwrap());
        let text = std::fs::read_to_string(dir.join("hearth.desktop")).unwrap();
        assert!(text.starts_with("[Desktop Entry]\n"), "{text}");
        assert!(
            text.contains("Exec=\"/opt/My Apps/hearth \\\"desktop\\\"\"\n"),
            "{text}"
        );
        assert!(text.contains("Type=Application\n"));
        // Again: still one entry, the same.
        assert!(set(&dir, true, program).unwrap());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        assert!(!set(&dir, false, program).unwrap());
        assert!(!dir.join("hearth.desktop").exists());
        // Removing what is not there is fine.
        assert!(!set(&dir, false, program).unwrap());
    }
}
