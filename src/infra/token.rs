//! Random tokens: the API's access token and unique names for temporary files.

/// A fresh random token: 32 bytes from the OS, hex.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}
