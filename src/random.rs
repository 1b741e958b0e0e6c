//! Random strings of the run's making (transcript ids, nonces in generated
//! identifiers, secrets Kratos is given), at the bottom of the library: the
//! launcher, the clients and the identities all draw from it.

use rand::RngExt as _;

/// `length` characters of `a-z0-9`.
pub fn nonce(length: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..length).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}
