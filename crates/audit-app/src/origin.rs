//! The log's default origin, derived from its public key.

/// The prefix of every default origin.
pub const DEFAULT_ORIGIN_PREFIX: &str = "offchain-db/";

/// `offchain-db/` + the first 16 hex characters of SHA-256 of the public key: distinct per
/// key, so two logs with different keys never share an origin by accident.
pub fn default_origin(public_key: &[u8]) -> String {
    let digest = shared_kernel::Sha256Digest::of(public_key).to_hex();
    format!("{DEFAULT_ORIGIN_PREFIX}{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_origin_is_the_prefix_and_16_hex_characters_of_the_key_hash() {
        let origin = default_origin(&[0; 32]);
        // SHA-256 of 32 zero bytes starts with 66687aadf862bd77.
        assert_eq!(origin, "offchain-db/66687aadf862bd77");
    }
}
