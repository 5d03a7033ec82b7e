//! The API's one error type: a code from a closed set and a sentence for people, and how
//! each module's errors map onto it (the HTTP status of each code is `ErrorCode::http_status`).

use super::dto::{ApiErrorBody, ErrorCode};
use crate::catalog::CatalogError;
use crate::chat::actor::ChatError;
use crate::infra::store::StoreError;
use crate::mirror::MirrorError;
use crate::net::NetError;
use crate::sharing::SharingError;

/// An API failure, as the UI sees it: a code from a closed set and a sentence for people.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn body(&self) -> ApiErrorBody {
        ApiErrorBody {
            code: self.code,
            message: self.message.clone(),
        }
    }
}

/// Errors cross IPC as their `{code, message}` body.
impl serde::Serialize for ApiError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.body().serialize(s)
    }
}

impl From<NetError> for ApiError {
    fn from(e: NetError) -> Self {
        let code = match e {
            NetError::Stopped => ErrorCode::Unavailable,
            NetError::Dial { .. }
            | NetError::DialTimeout(_)
            | NetError::Busy
            | NetError::Request { .. } => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::new(ErrorCode::Internal, e.to_string())
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let code = match e {
            CatalogError::UnknownResource(_) => ErrorCode::NotFound,
            CatalogError::NotMine(_) => ErrorCode::Forbidden,
            CatalogError::Feed(_) => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<SharingError> for ApiError {
    fn from(e: SharingError) -> Self {
        use crate::transfer::TransferError;
        let code = match &e {
            SharingError::Catalog(_) => {
                return match e {
                    SharingError::Catalog(c) => c.into(),
                    _ => unreachable!("matched above"),
                }
            }
            SharingError::Watch(_)
            | SharingError::NotAbsolute(_)
            | SharingError::Unreadable { .. }
            | SharingError::NotAFileOrFolder(_)
            | SharingError::InvalidRecord(_)
            | SharingError::UploadInterrupted(_)
            | SharingError::UploadTooLarge
            | SharingError::BadFileName(_)
            | SharingError::BadPreview(_)
            | SharingError::BadPeerAddress(_)
            | SharingError::BadContentId
            | SharingError::TorrentMismatch
            | SharingError::BlockingTask(_) => ErrorCode::BadRequest,
            SharingError::NotPublished { .. }
            | SharingError::UnknownResource { .. }
            | SharingError::NotInCatalog { .. }
            | SharingError::DownloadVanished { .. }
            | SharingError::NoSuchDownload { .. }
            | SharingError::NotOnDisk => ErrorCode::NotFound,
            SharingError::AlreadyHere => ErrorCode::Conflict,
            SharingError::NoHolders
            | SharingError::NoMetadata(_)
            | SharingError::TooManyStreams => ErrorCode::Unavailable,
            SharingError::Transfer(
                TransferError::Meta(_) | TransferError::Magnet(_) | TransferError::BadInfoHash(_),
            ) => ErrorCode::BadRequest,
            SharingError::Transfer(TransferError::TargetExists(_)) => ErrorCode::Conflict,
            SharingError::Transfer(TransferError::NotFound(_) | TransferError::NoSuchFile(_)) => {
                ErrorCode::NotFound
            }
            _ => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<MirrorError> for ApiError {
    fn from(e: MirrorError) -> Self {
        match e {
            MirrorError::Sharing(s) => s.into(),
            MirrorError::Catalog(c) => c.into(),
            MirrorError::Store(s) => s.into(),
            MirrorError::BadPeer(_) | MirrorError::IsSelf => Self::bad_request(e.to_string()),
            MirrorError::TooMany => Self::new(ErrorCode::Conflict, e.to_string()),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        use crate::infra::vault::VaultError;
        let code = match &e {
            ChatError::Locked | ChatError::Stopped => ErrorCode::Unavailable,
            ChatError::NoSuchRoom | ChatError::NoSuchRequest => ErrorCode::NotFound,
            ChatError::OwnRoom
            | ChatError::AlreadyMember
            | ChatError::EmptyMessage
            | ChatError::MessageToSelf
            | ChatError::Encode(_)
            | ChatError::Dm(_) => ErrorCode::BadRequest,
            ChatError::Room(r) => match r {
                crate::chat::room::RoomError::NotMember
                | crate::chat::room::RoomError::NotCreator
                | crate::chat::room::RoomError::LeftRoom
                | crate::chat::room::RoomError::RoomDeleted => ErrorCode::Forbidden,
                _ => ErrorCode::BadRequest,
            },
            ChatError::Store(StoreError::Vault(VaultError::WrongPassphrase)) => {
                ErrorCode::Forbidden
            }
            ChatError::Store(StoreError::Vault(VaultError::Kdf(_))) => ErrorCode::Internal,
            ChatError::Store(StoreError::Vault(_)) => ErrorCode::BadRequest,
            ChatError::Store(_) => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<crate::config::ConfigError> for ApiError {
    fn from(e: crate::config::ConfigError) -> Self {
        Self::new(ErrorCode::Internal, e.to_string())
    }
}
