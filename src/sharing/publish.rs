//! Publishing: a file or folder on this disk, or an upload, becomes a torrent seeded in place
//! and a signed `publish` entry; unpublishing, editing a record, and its preview (thumbnail,
//! duration).

use super::*;

impl Sharing {
    /// Publishes a file or folder on this node's disk.
    pub async fn publish(&self, req: PublishRequest) -> Result<Resource, SharingError> {
        let path = PathBuf::from(req.path.trim());
        if !path.is_absolute() {
            return Err(SharingError::NotAbsolute(req.path));
        }
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|source| SharingError::Unreadable {
                path: path.clone(),
                source,
            })?;
        if !(meta.is_file() || meta.is_dir()) {
            return Err(SharingError::NotAFileOrFolder(path));
        }
        let _guard = self.inner.publishing.lock().await;
        self.publish_locked(&path, req, false).await
    }

    pub(super) async fn publish_locked(
        &self,
        path: &Path,
        req: PublishRequest,
        from_folder: bool,
    ) -> Result<Resource, SharingError> {
        let i = &self.inner;
        // A shared folder's file is published only at its real path: a link swapped in after
        // the watcher looked is refused.
        let published = if from_folder {
            i.transfer.publish_no_follow(path).await?
        } else {
            i.transfer.publish(path).await?
        };
        let id = published.info_hash.clone();
        if let Some(existing) = i.catalog.get(&id)? {
            if existing.author != i.catalog.local_peer().to_string() {
                // The same bytes are already in the catalog under someone else's name:
                // seed them, as a holder, without a second record.
                i.catalog.set_local(&id, LocalState::Complete);
                i.downloads
                    .put(
                        &id,
                        &DownloadRec {
                            title: existing.body.title.clone(),
                            started_ms: now_ms(),
                            complete: true,
                            paused: false,
                            mirror: false,
                        },
                    )
                    .await?;
                self.have(vec![id.clone()], vec![], vec![]);
                return Ok(i.catalog.resource(&id)?);
            }
        }
        let mime = guess_mime(path).to_owned();
        let kind = req.kind.unwrap_or_else(|| guess_kind(&mime));
        let default_title = path
            .file_stem()
            .or(path.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| published.name.clone());
        let thumbnail = if kind == crate::api::dto::ResourceKind::Image && meta_is_file(path) {
            let p = path.to_owned();
            tokio::task::spawn_blocking(move || crate::infra::thumbnail::image_thumbnail(&p))
                .await
                .ok()
                .and_then(Result::ok)
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
        } else {
            None
        };
        let title: String = req
            .title
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or(default_title)
            .chars()
            .take(feed::MAX_TITLE)
            .collect();
        let body = ResourceBody {
            content_id: id.clone(),
            magnet: published.magnet.clone(),
            title,
            description: req.description.unwrap_or_default().trim().to_owned(),
            kind: kind.into(),
            tags: clean_tags(req.tags),
            size: published.total_size,
            mime,
            files: published
                .files
                .iter()
                .take(feed::MAX_RECORD_FILES)
                .map(|f| feed::RecordFile {
                    path: f.path.clone(),
                    size: f.size,
                })
                .collect(),
            created_ms: now_ms(),
            thumbnail,
            duration_ms: None,
        };
        feed::validate_body(&Body::Publish {
            resource: body.clone(),
        })
        .map_err(SharingError::InvalidRecord)?;
        i.published
            .put(
                &id,
                &PublishedRec {
                    path: path.to_owned(),
                    from_folder,
                },
            )
            .await?;
        i.catalog.set_local(&id, LocalState::Published);
        i.catalog
            .append_local(Body::Publish { resource: body })
            .await?;
        self.have(vec![id.clone()], vec![], vec![]);
        tracing::info!(%id, path = %path.display(), "published");
        if matches!(
            kind,
            crate::api::dto::ResourceKind::Video | crate::api::dto::ResourceKind::Audio
        ) && meta_is_file(path)
            && crate::infra::thumbnail::ffmpeg_available()
        {
            self.spawn_preview(id.clone(), path.to_owned(), kind);
        }
        Ok(i.catalog.resource(&id)?)
    }

    /// Saves an upload into the uploads folder, then publishes it. The file is written to a
    /// hidden temporary name and renamed when complete, so no half file is ever published.
    pub async fn upload<S, E>(
        &self,
        name: &str,
        meta: PublishRequest,
        mut body: S,
    ) -> Result<Resource, SharingError>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures::StreamExt;
        let name = safe_file_name(name)?;
        let dir = &self.inner.uploads_dir;
        let tmp = dir.join(format!(
            ".upload-{}.part",
            crate::infra::token::random_token()
        ));
        let io = |source| SharingError::Io {
            path: tmp.clone(),
            source,
        };
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut written: u64 = 0;
        let result: Result<(), SharingError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| SharingError::UploadInterrupted(e.to_string()))?;
                written += chunk.len() as u64;
                if written > MAX_UPLOAD_BYTES {
                    return Err(SharingError::UploadTooLarge);
                }
                file.write_all(&chunk).await.map_err(io)?;
            }
            file.sync_all().await.map_err(io)?;
            Ok(())
        }
        .await;
        drop(file);
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let target = unique_path(dir, &name);
        tokio::fs::rename(&tmp, &target)
            .await
            .map_err(|source| SharingError::Io {
                path: target.clone(),
                source,
            })?;
        let _guard = self.inner.publishing.lock().await;
        let req = PublishRequest {
            path: target.display().to_string(),
            ..meta
        };
        let result = self.publish_locked(&target, req, false).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&target).await;
        }
        result
    }

    /// Retracts one of my resources and stops seeding it. The file stays on disk.
    pub async fn unpublish(&self, content_id: &str) -> Result<(), SharingError> {
        let _guard = self.inner.publishing.lock().await;
        self.unpublish_locked(content_id).await
    }

    pub(super) async fn unpublish_locked(&self, content_id: &str) -> Result<(), SharingError> {
        let i = &self.inner;
        let mine = i.catalog.local_peer().to_string();
        let record = i.catalog.get(content_id)?;
        match &record {
            Some(r) if r.author == mine => {}
            Some(_) => return Err(CatalogError::NotMine(content_id.to_owned()).into()),
            None if i.published.contains(content_id)? => {}
            None => {
                return Err(SharingError::NotPublished {
                    content_id: content_id.to_owned(),
                })
            }
        }
        if record.is_some() {
            i.catalog
                .append_local(Body::Unpublish {
                    content_id: content_id.to_owned(),
                })
                .await?;
        }
        if let Err(e) = i.transfer.remove(content_id, false).await {
            tracing::debug!(%content_id, "engine had no torrent to stop: {e}");
        }
        if let Some(rec) = i.published.get(content_id)? {
            if rec.from_folder {
                if let Some(mut f) = i.folder_files.get(&key_of(&rec.path))? {
                    f.content_id = None;
                    i.folder_files.put(&key_of(&rec.path), &f).await?;
                }
            }
        }
        i.published.remove(content_id).await?;
        i.catalog.set_local(content_id, LocalState::None);
        self.have(vec![], vec![], vec![content_id.to_owned()]);
        Ok(())
    }

    /// Changes the description of one of my resources (a new `publish` entry).
    pub async fn update(&self, req: UpdateResourceRequest) -> Result<Resource, SharingError> {
        self.redescribe(&req.content_id, |body| {
            body.title = req.title.trim().to_owned();
            body.description = req.description.trim().to_owned();
            body.kind = req.kind.into();
            body.tags = clean_tags(req.tags);
        })
        .await
    }

    /// Describes one of my resources again: its record as `change` leaves it, in a new
    /// `publish` entry.
    pub(super) async fn redescribe(
        &self,
        id: &str,
        change: impl FnOnce(&mut ResourceBody),
    ) -> Result<Resource, SharingError> {
        let i = &self.inner;
        let _guard = i.publishing.lock().await;
        let stored = i
            .catalog
            .get(id)?
            .ok_or_else(|| SharingError::UnknownResource {
                content_id: id.to_owned(),
            })?;
        if stored.author != i.catalog.local_peer().to_string() {
            return Err(CatalogError::NotMine(id.to_owned()).into());
        }
        let mut body = stored.body;
        change(&mut body);
        i.catalog
            .append_local(Body::Publish { resource: body })
            .await
            .map_err(|e| match e {
                CatalogError::Feed(f) => SharingError::InvalidRecord(f),
                e => e.into(),
            })?;
        Ok(i.catalog.resource(id)?)
    }

    /// Makes a video's thumbnail and duration (an audio file's duration) with ffmpeg in the
    /// background, then describes the resource again with them. The record is published
    /// before, never held back by this.
    pub(super) fn spawn_preview(
        &self,
        id: String,
        path: PathBuf,
        kind: crate::api::dto::ResourceKind,
    ) {
        let me = self.clone();
        self.inner.tracker.spawn(async move {
            let video = kind == crate::api::dto::ResourceKind::Video;
            let made = tokio::task::spawn_blocking(move || {
                let duration = crate::infra::thumbnail::media_duration_ms(&path).ok();
                let thumb = video
                    .then(|| crate::infra::thumbnail::video_thumbnail(&path, duration))
                    .transpose();
                (duration, thumb)
            });
            let (duration, thumb) = tokio::select! {
                _ = me.inner.cancel.cancelled() => return,
                r = made => match r {
                    Ok(v) => v,
                    Err(_) => return,
                },
            };
            let thumb = match thumb {
                Ok(t) => t,
                Err(e) => {
                    tracing::info!(%id, "no video thumbnail: {e}");
                    None
                }
            };
            if duration.is_none() && thumb.is_none() {
                return;
            }
            if let Err(e) = me.describe_preview(&id, thumb, duration).await {
                tracing::warn!(%id, "cannot add the preview: {e}");
            }
        });
    }

    /// Gives one of my resources a thumbnail made elsewhere (by the UI, from a frame in the
    /// player): it is checked, scaled down and recompressed like any other image.
    pub async fn set_preview(
        &self,
        id: &str,
        image: &[u8],
        duration_ms: Option<u64>,
    ) -> Result<Resource, SharingError> {
        let bytes = image.to_vec();
        let thumb =
            tokio::task::spawn_blocking(move || crate::infra::thumbnail::from_image_bytes(&bytes))
                .await
                .map_err(|e| SharingError::BlockingTask(e.to_string()))?
                .map_err(SharingError::BadPreview)?;
        self.describe_preview(id, Some(thumb), duration_ms).await
    }

    pub(super) async fn describe_preview(
        &self,
        id: &str,
        thumb: Option<Vec<u8>>,
        duration_ms: Option<u64>,
    ) -> Result<Resource, SharingError> {
        self.redescribe(id, |body| {
            if let Some(t) = thumb {
                body.thumbnail = Some(base64::engine::general_purpose::STANDARD.encode(t));
            }
            if duration_ms.is_some() {
                body.duration_ms = duration_ms;
            }
        })
        .await
    }
}
