//! Shared folders: what the [`watcher`](super::watcher) reports becomes publish and unpublish.

use super::*;

impl Sharing {
    pub fn library(&self, folders: Vec<String>) -> Result<Library, SharingError> {
        Ok(Library {
            folders,
            uploads_folder: self.inner.uploads_dir.display().to_string(),
            published: self.inner.catalog.published()?,
        })
    }

    /// Starts watching `folder`; its files get published. (Adding a watch per directory
    /// blocks, so it runs on the blocking pool.)
    pub async fn watch_folder(&self, folder: &Path) -> Result<(), SharingError> {
        let me = self.clone();
        let folder = folder.to_owned();
        tokio::task::spawn_blocking(move || me.inner.watcher.add_folder(&folder))
            .await
            .map_err(|e| SharingError::BlockingTask(e.to_string()))?
            .map_err(SharingError::Watch)
    }

    /// Stops watching `folder` and unpublishes what was published from it.
    pub async fn unwatch_folder(&self, folder: &Path) -> Result<(), SharingError> {
        // The watcher reports resolved paths; match them whichever way the folder was named.
        let folder = &folder.canonicalize().unwrap_or_else(|_| folder.to_owned());
        let _ = self.inner.watcher.remove_folder(folder);
        let _guard = self.inner.publishing.lock().await;
        let prefix = key_of(folder);
        for (key, f) in self.inner.folder_files.scan_prefix(&prefix, usize::MAX)? {
            if !Path::new(&key).starts_with(folder) {
                continue;
            }
            if let Some(id) = f.content_id {
                let _ = self.unpublish_locked(&id).await;
            }
            self.inner.folder_files.remove(&key).await?;
        }
        Ok(())
    }

    pub(super) async fn watch_loop(self, mut rx: mpsc::Receiver<WatchEvent>) {
        loop {
            let event = tokio::select! {
                _ = self.inner.cancel.cancelled() => break,
                e = rx.recv() => match e { Some(e) => e, None => break },
            };
            let _guard = self.inner.publishing.lock().await;
            let result = match event {
                WatchEvent::Snapshot { folder, files } => self.reconcile(&folder, files).await,
                WatchEvent::Ready(file) => self.folder_file_ready(file).await,
                WatchEvent::Removed { path } => self.folder_file_removed(&path).await,
            };
            if let Err(e) = result {
                tracing::warn!("shared folder: {e}");
            }
        }
    }

    pub(super) async fn reconcile(
        &self,
        folder: &Path,
        files: Vec<FileInfo>,
    ) -> Result<(), SharingError> {
        let present: std::collections::HashSet<String> =
            files.iter().map(|f| key_of(&f.path)).collect();
        for (key, _) in self
            .inner
            .folder_files
            .scan_prefix(&key_of(folder), usize::MAX)?
        {
            if Path::new(&key).starts_with(folder) && !present.contains(&key) {
                self.folder_file_removed(Path::new(&key)).await?;
            }
        }
        for file in files {
            self.folder_file_ready(file).await?;
        }
        Ok(())
    }

    pub(super) async fn folder_file_ready(&self, file: FileInfo) -> Result<(), SharingError> {
        let key = key_of(&file.path);
        let known = self.inner.folder_files.get(&key)?;
        if let Some(k) = &known {
            if k.size == file.size && k.mtime_ms == file.mtime_ms {
                return Ok(()); // unchanged (published, or unpublished on purpose)
            }
            if let Some(old) = &k.content_id {
                let _ = self.unpublish_locked(old).await;
            }
        }
        let resource = self
            .publish_locked(&file.path, PublishRequest::default(), true)
            .await;
        let content_id = match resource {
            Ok(r) => Some(r.content_id),
            Err(e) => {
                tracing::warn!(path = %file.path.display(), "cannot publish: {e}");
                None
            }
        };
        self.inner
            .folder_files
            .put(
                &key,
                &FolderFile {
                    size: file.size,
                    mtime_ms: file.mtime_ms,
                    content_id,
                },
            )
            .await?;
        Ok(())
    }

    pub(super) async fn folder_file_removed(&self, path: &Path) -> Result<(), SharingError> {
        let key = key_of(path);
        if let Some(f) = self.inner.folder_files.get(&key)? {
            if let Some(id) = f.content_id {
                if let Err(e) = self.unpublish_locked(&id).await {
                    tracing::debug!(%id, "unpublish of removed file: {e}");
                }
            }
            self.inner.folder_files.remove(&key).await?;
        }
        Ok(())
    }
}
