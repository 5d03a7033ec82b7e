//! Downloads: the torrent from an online holder, checked against the content id, handed to
//! the engine with every holder's address; pause, resume, cancel, and progress events.

use super::reach;
use super::*;
use crate::net::bt_stream::Route;

impl Sharing {
    pub async fn start_download(&self, req: DownloadRequest) -> Result<Download, SharingError> {
        self.download_as(req, false).await
    }

    /// Starts downloading `id` as a mirror copy (announced as such).
    pub async fn start_mirror_download(&self, id: &str) -> Result<Download, SharingError> {
        let req = DownloadRequest {
            content_id: Some(id.to_owned()),
            ..Default::default()
        };
        self.download_as(req, true).await
    }

    pub(super) async fn download_as(
        &self,
        req: DownloadRequest,
        mirror: bool,
    ) -> Result<Download, SharingError> {
        let extra: Vec<std::net::SocketAddr> = req
            .peers
            .iter()
            .map(|p| {
                p.trim()
                    .parse()
                    .map_err(|_| SharingError::BadPeerAddress(p.clone()))
            })
            .collect::<Result<_, _>>()?;
        if let Some(magnet) = req.magnet.as_deref().filter(|m| !m.trim().is_empty()) {
            // The link's `x.pe` peers are whoever wrote the link's word: only those on a
            // network we reach some peer on (the peers given here are the user's own).
            let seen = self.inner.net.bt_streams().all_seen_ips();
            let id = self
                .inner
                .transfer
                .download_magnet_with(magnet.trim(), extra, |a| reach::dialable(a, &seen))
                .await?;
            if matches!(
                self.inner.catalog.local_state(&id),
                LocalState::Published | LocalState::Complete
            ) {
                // Nothing to fetch: the engine was only told of the peers (it dials them, so a
                // client that never dials us, such as one that will not dial loopback, can
                // still fetch from us).
                return Err(SharingError::AlreadyHere);
            }
            let title = self
                .inner
                .transfer
                .stats(&id)
                .map(|s| s.name)
                .unwrap_or_else(|| id.clone());
            return self.record_download(&id, title, mirror).await;
        }
        let id = req
            .content_id
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| feed::is_hex(s, 40))
            .ok_or(SharingError::BadContentId)?;
        let record = self
            .inner
            .catalog
            .get(&id)?
            .ok_or_else(|| SharingError::NotInCatalog {
                content_id: id.clone(),
            })?;
        match self.inner.catalog.local_state(&id) {
            LocalState::Published | LocalState::Complete => return Err(SharingError::AlreadyHere),
            LocalState::Downloading => {
                if let Some(d) = self.download(&id)? {
                    return Ok(d);
                }
            }
            LocalState::None => {}
        }
        // The DHT may know holders the catalog does not. When the catalog knows some online,
        // ask it in the background (the progress loop passes new holders on), so a download,
        // and a video's first frame, do not wait for the lookup.
        if self.inner.catalog.holder_addrs(&id).is_empty() {
            self.discover_providers(&id).await;
        } else {
            let me = self.clone();
            let id = id.clone();
            self.inner
                .tracker
                .spawn(async move { me.discover_providers(&id).await });
        }
        let holders = self.inner.catalog.holder_addrs(&id);
        if holders.is_empty() && extra.is_empty() {
            return Err(SharingError::NoHolders);
        }
        let torrent = self.fetch_torrent(&id, &holders).await?;
        let mut peers = self.holder_peers(&id);
        peers.extend(extra);
        let got = self.inner.transfer.download(&torrent, peers).await?;
        if got != id {
            return Err(SharingError::TorrentMismatch);
        }
        self.record_download(&id, record.body.title, mirror).await
    }

    pub(super) async fn record_download(
        &self,
        id: &str,
        title: String,
        mirror: bool,
    ) -> Result<Download, SharingError> {
        self.inner
            .downloads
            .put(
                id,
                &DownloadRec {
                    title,
                    started_ms: now_ms(),
                    complete: false,
                    paused: false,
                    mirror,
                },
            )
            .await?;
        self.inner.catalog.set_local(id, LocalState::Downloading);
        self.inner.catalog.set_mirrored(id, mirror);
        self.have(vec![], vec![id.to_owned()], vec![]);
        let d = self
            .download(id)?
            .ok_or_else(|| SharingError::DownloadVanished {
                content_id: id.to_owned(),
            })?;
        self.inner.bus.emit(EventKind::DownloadProgress {
            download: d.clone(),
        });
        Ok(d)
    }

    /// Asks the DHT who provides `id`, and asks those peers what they hold.
    pub(super) async fn discover_providers(&self, id: &str) {
        let found =
            tokio::time::timeout(PROVIDER_LOOKUP, self.inner.net.providers(id.to_owned())).await;
        let Ok(Ok(providers)) = found else {
            return;
        };
        let known: Vec<libp2p::PeerId> = self
            .inner
            .catalog
            .holder_addrs(id)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        for peer in providers {
            if peer == self.inner.catalog.local_peer() || known.contains(&peer) {
                continue;
            }
            if let Ok(CatalogResponse::Holdings(h)) = self
                .inner
                .net
                .catalog_request(peer, CatalogRequest::Holdings)
                .await
            {
                let _ = self.inner.catalog.set_holdings(peer, h).await;
            }
        }
    }

    /// The torrent metadata of `id` from the first holder that has it and gets it right.
    pub(super) async fn fetch_torrent(
        &self,
        id: &str,
        holders: &[(libp2p::PeerId, Vec<std::net::SocketAddr>)],
    ) -> Result<Vec<u8>, SharingError> {
        let mut last = String::from("no holder answered");
        for (peer, _) in holders {
            let answer = self
                .inner
                .net
                .catalog_request(
                    *peer,
                    CatalogRequest::Torrent {
                        content_id: id.to_owned(),
                    },
                )
                .await;
            let b64 = match answer {
                Ok(CatalogResponse::Torrent { torrent }) => torrent,
                Ok(other) => {
                    last = format!("{peer} answered {other:?}");
                    continue;
                }
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else {
                last = format!("{peer} sent undecodable metadata");
                continue;
            };
            match crate::transfer::validate_metainfo(&bytes) {
                Ok(meta) if meta.info_hash == id => return Ok(bytes),
                Ok(_) => last = format!("{peer} sent metadata of another torrent"),
                Err(e) => last = format!("{peer} sent bad metadata: {e}"),
            }
        }
        Err(SharingError::NoMetadata(last))
    }

    pub async fn pause(&self, id: &str) -> Result<(), SharingError> {
        let mut rec = self.download_rec(id)?;
        self.inner.transfer.pause(id).await?;
        rec.paused = true;
        self.inner.downloads.put(id, &rec).await?;
        self.emit_progress(id);
        Ok(())
    }

    pub async fn resume(&self, id: &str) -> Result<(), SharingError> {
        let mut rec = self.download_rec(id)?;
        self.inner.transfer.resume(id).await?;
        rec.paused = false;
        self.inner.downloads.put(id, &rec).await?;
        let peers = self.holder_peers(id);
        if !peers.is_empty() {
            let _ = self.inner.transfer.add_peers(id, peers).await;
        }
        self.emit_progress(id);
        Ok(())
    }

    /// Stops a download and deletes what it wrote.
    pub async fn cancel(&self, id: &str) -> Result<(), SharingError> {
        self.download_rec(id)?;
        if let Err(e) = self.inner.transfer.remove(id, true).await {
            tracing::debug!(%id, "engine had no torrent to remove: {e}");
        }
        self.inner.downloads.remove(id).await?;
        self.inner.catalog.set_local(id, LocalState::None);
        self.inner.catalog.set_mirrored(id, false);
        self.inner
            .last_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.have(vec![], vec![], vec![id.to_owned()]);
        self.inner.bus.emit(EventKind::DownloadRemoved {
            content_id: id.to_owned(),
        });
        Ok(())
    }

    pub(super) fn download_rec(&self, id: &str) -> Result<DownloadRec, SharingError> {
        self.inner
            .downloads
            .get(id)?
            .ok_or_else(|| SharingError::NoSuchDownload {
                content_id: id.to_owned(),
            })
    }

    pub fn downloads(&self) -> Result<Vec<Download>, SharingError> {
        let mut out: Vec<Download> = self
            .inner
            .downloads
            .entries()?
            .into_iter()
            .map(|(id, rec)| self.to_download(&id, &rec))
            .collect();
        out.sort_by_key(|d| std::cmp::Reverse(d.started_ms));
        Ok(out)
    }

    pub fn download(&self, id: &str) -> Result<Option<Download>, SharingError> {
        Ok(self
            .inner
            .downloads
            .get(id)?
            .map(|rec| self.to_download(id, &rec)))
    }

    /// Where a resource's data is on this disk.
    pub fn local_path(&self, id: &str) -> Result<PathBuf, SharingError> {
        if let Some(rec) = self.inner.published.get(id)? {
            return Ok(rec.path);
        }
        self.inner
            .transfer
            .file_path(id)
            .ok_or(SharingError::NotOnDisk)
    }

    pub(super) fn to_download(&self, id: &str, rec: &DownloadRec) -> Download {
        let stats = self.inner.transfer.stats(id);
        let route = if rec.complete { None } else { self.route(id) };
        download_view(
            id,
            rec,
            stats.as_ref(),
            self.inner.transfer.file_path(id),
            route,
        )
    }

    /// How the holders of `id` are reached over libp2p: directly if any one is.
    fn route(&self, id: &str) -> Option<DownloadRoute> {
        let bt = self.inner.net.bt_streams();
        let mut route = None;
        for (peer, _) in self.inner.catalog.holder_addrs(id) {
            match bt.route(&peer) {
                Route::Direct => return Some(DownloadRoute::Direct),
                Route::RelayOnly => route = Some(DownloadRoute::RelayOnly),
                Route::NotConnected => {}
            }
        }
        route
    }

    /// Every holder's BitTorrent addresses: its TCP ones (those on a network we see it on,
    /// [`reach::dialable`]), and, when we have a libp2p
    /// connection with it, its synthetic address, which the engine reaches over a
    /// `/hearth/bt/1` stream (so a holder whose TCP port we cannot reach still serves us).
    pub(super) fn holder_peers(&self, id: &str) -> Vec<std::net::SocketAddr> {
        let bt = self.inner.net.bt_streams();
        let mut out = Vec::new();
        for (peer, addrs) in self.inner.catalog.holder_addrs(id) {
            if bt.route(&peer) != Route::NotConnected {
                out.push(bt.addr_of(peer));
            }
            out.extend(reach::filter_dialable(addrs, &bt.seen_ips(&peer)));
        }
        out
    }

    pub(super) fn emit_progress(&self, id: &str) {
        let Ok(Some(d)) = self.download(id) else {
            return;
        };
        let mut last = self
            .inner
            .last_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.get(id) != Some(&d) {
            last.insert(id.to_owned(), d.clone());
            drop(last);
            self.inner
                .bus
                .emit(EventKind::DownloadProgress { download: d });
        }
    }

    /// Emits progress, notices completion, and tells running downloads about new holders.
    pub(super) async fn progress_loop(self) {
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since_refresh = Duration::ZERO;
        // Holder addresses each download was given, so new ones go out at once.
        let mut given: HashMap<String, std::collections::HashSet<std::net::SocketAddr>> =
            HashMap::new();
        loop {
            tokio::select! {
                _ = self.inner.cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            since_refresh += PROGRESS_EVERY;
            let refresh = since_refresh >= REFRESH_PEERS_EVERY;
            if refresh {
                since_refresh = Duration::ZERO;
            }
            let entries = match self.inner.downloads.entries() {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!("cannot read downloads: {e}");
                    continue;
                }
            };
            given.retain(|id, _| entries.iter().any(|(e, r)| e == id && !r.complete));
            for (id, mut rec) in entries {
                if rec.complete {
                    continue;
                }
                self.emit_progress(&id);
                let finished = self.inner.transfer.stats(&id).is_some_and(|s| s.finished);
                if finished {
                    rec.complete = true;
                    if let Err(e) = self.inner.downloads.put(&id, &rec).await {
                        tracing::error!("cannot record finished download: {e}");
                        continue;
                    }
                    self.inner.catalog.set_local(&id, LocalState::Complete);
                    self.have(vec![id.clone()], vec![], vec![]);
                    self.emit_progress(&id);
                    tracing::info!(%id, "download complete; seeding");
                } else if !rec.paused {
                    let peers = self.holder_peers(&id);
                    let known = given.entry(id.clone()).or_default();
                    let fresh: Vec<_> = peers
                        .iter()
                        .filter(|p| !known.contains(p))
                        .copied()
                        .collect();
                    let pass = if refresh { peers.clone() } else { fresh };
                    if !pass.is_empty() {
                        known.extend(peers);
                        let _ = self.inner.transfer.add_peers(&id, pass).await;
                    }
                }
            }
        }
    }
}
