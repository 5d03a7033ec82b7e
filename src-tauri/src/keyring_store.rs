//! The chat passphrase in the OS keyring (Secret Service, through the `keyring` crate), when
//! the user ticks "Remember" while unlocking; at start the shell reads it and unlocks chat.
//! Without a keyring (no Secret Service on the session bus) nothing is remembered, and the
//! user is told so in plain words. The core knows nothing of this: it only sees `unlock_chat`.

use std::path::Path;
use std::sync::Arc;

/// Where a secret is kept. The OS keyring in the app; a map in tests.
pub trait SecretStore: Send + Sync {
    fn get(&self) -> Result<Option<String>, String>;
    fn set(&self, secret: &str) -> Result<(), String>;
    /// Forgets the secret; forgetting none is not an error.
    fn delete(&self) -> Result<(), String>;
}

/// The passphrase of one data folder in the OS keyring (service `hearth`).
pub struct OsKeyring {
    user: String,
}

impl OsKeyring {
    pub fn for_data_dir(data_dir: &Path) -> Self {
        Self {
            user: format!("chat passphrase: {}", data_dir.display()),
        }
    }

    fn entry(&self) -> Result<keyring::Entry, String> {
        keyring::Entry::new("hearth", &self.user).map_err(explain)
    }
}

impl SecretStore for OsKeyring {
    fn get(&self) -> Result<Option<String>, String> {
        match self.entry()?.get_password() {
            Ok(p) => Ok(Some(p)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(explain(e)),
        }
    }

    fn set(&self, secret: &str) -> Result<(), String> {
        self.entry()?.set_password(secret).map_err(explain)
    }

    fn delete(&self) -> Result<(), String> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(explain(e)),
        }
    }
}

/// A keyring error in words a user can act on.
fn explain(e: keyring::Error) -> String {
    match e {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => format!(
            "The system keyring is not available (is a Secret Service such as GNOME Keyring \
             or KWallet running?): {e}"
        ),
        other => format!("The system keyring refused: {other}"),
    }
}

/// Remembers `passphrase` in `store`, or forgets it when `None`.
pub fn remember(store: &dyn SecretStore, passphrase: Option<&str>) -> Result<(), String> {
    match passphrase {
        Some(p) if !p.is_empty() => store.set(p),
        _ => store.delete(),
    }
}

/// What happened to a remembered passphrase at start.
#[derive(Debug, PartialEq, Eq)]
pub enum AutoUnlock {
    /// None was remembered: the user unlocks as before.
    NotRemembered,
    Unlocked,
    /// It no longer unlocks (the passphrase was changed): it is forgotten.
    Refused(String),
    /// The keyring could not be read.
    Unavailable(String),
}

/// Reads the remembered passphrase and unlocks chat with it (`unlock` answers whether chat
/// is unlocked, or why not). A passphrase that no longer unlocks is forgotten.
/// The keyring is reached over D-Bus, which blocks: off the async workers.
pub async fn auto_unlock<F, Fut>(store: Arc<dyn SecretStore>, unlock: F) -> AutoUnlock
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let reader = store.clone();
    let passphrase = match tokio::task::spawn_blocking(move || reader.get()).await {
        Ok(Ok(Some(p))) => p,
        Ok(Ok(None)) => return AutoUnlock::NotRemembered,
        Ok(Err(e)) => return AutoUnlock::Unavailable(e),
        Err(e) => return AutoUnlock::Unavailable(e.to_string()),
    };
    match unlock(passphrase).await {
        Ok(true) => AutoUnlock::Unlocked,
        Ok(false) => AutoUnlock::Refused("chat stayed locked".into()),
        Err(e) => {
            let _ = tokio::task::spawn_blocking(move || store.delete()).await;
            AutoUnlock::Refused(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Memory {
        secret: Mutex<Option<String>>,
        broken: bool,
    }

    impl SecretStore for Memory {
        fn get(&self) -> Result<Option<String>, String> {
            if self.broken {
                return Err("The system keyring is not available".into());
            }
            Ok(self.secret.lock().unwrap().clone())
        }
        fn set(&self, secret: &str) -> Result<(), String> {
            if self.broken {
                return Err("The system keyring is not available".into());
            }
            *self.secret.lock().unwrap() = Some(secret.into());
            Ok(())
        }
        fn delete(&self) -> Result<(), String> {
            *self.secret.lock().unwrap() = None;
            Ok(())
        }
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn remembers_forgets_and_unlocks_at_start() {
        let store = Arc::new(Memory::default());
        assert_eq!(
            block(auto_unlock(store.clone(), |_| async { Ok(true) })),
            AutoUnlock::NotRemembered
        );
        remember(&*store, Some("correct horse")).unwrap();
        let unlocked = block(auto_unlock(store.clone(), |p| async move {
            assert_eq!(p, "correct horse");
            Ok(true)
        }));
        assert_eq!(unlocked, AutoUnlock::Unlocked);
        assert_eq!(store.get().unwrap().as_deref(), Some("correct horse"));
        remember(&*store, None).unwrap();
        assert_eq!(store.get().unwrap(), None);
    }

    #[test]
    fn a_passphrase_that_no_longer_unlocks_is_forgotten() {
        let store = Arc::new(Memory::default());
        remember(&*store, Some("old one")).unwrap();
        let r = block(auto_unlock(store.clone(), |_| async {
            Err("wrong passphrase".to_string())
        }));
        assert_eq!(r, AutoUnlock::Refused("wrong passphrase".into()));
        assert_eq!(store.get().unwrap(), None);
    }

    #[test]
    fn without_a_keyring_it_says_so_and_nothing_breaks() {
        let store = Arc::new(Memory {
            broken: true,
            ..Default::default()
        });
        let e = remember(&*store, Some("x")).unwrap_err();
        assert!(e.contains("keyring is not available"), "{e}");
        assert!(matches!(
            block(auto_unlock(store.clone(), |_| async { Ok(true) })),
            AutoUnlock::Unavailable(_)
        ));
        let words = explain(keyring::Error::NoStorageAccess("no secret service".into()));
        assert!(words.contains("Secret Service"), "{words}");
    }

    /// The real keyring of this session: it answers (a passphrase, none, or why not) rather
    /// than hanging or panicking, whether or not a Secret Service runs.
    #[test]
    fn the_os_keyring_answers_or_says_why_not() {
        let dir = std::env::temp_dir().join("hearth-keyring-probe");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let store = OsKeyring::for_data_dir(&dir);
            let _ = tx.send(store.get());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(_))) => panic!("nothing was stored under this name"),
            Ok(Err(e)) => {
                eprintln!("{e}");
                assert!(e.contains("keyring"), "{e}")
            }
            Err(_) => panic!("the keyring did not answer within a minute"),
        }
    }
}
