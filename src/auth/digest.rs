//! [`KeyDigest`]: the only form in which a gateway API key is kept in memory, and the
//! constant-time lookup of a presented key among the configured ones.
//!
//! Keys are hashed once at load (SHA-256, `ring::digest`); a presented key is hashed once per
//! request and compared with *every* configured digest, each comparison touching all 32 bytes
//! and the selection of the match done with masks, so the time taken does not depend on which
//! key matched, on how many leading bytes agreed, or on whether any matched. A `HashMap` keyed
//! by the raw key would answer in time that depends on the key's bytes; comparing digests also
//! means the presented key's length cannot show through either.

use std::fmt;

use ring::digest::{SHA256, digest};

/// Length of a SHA-256 digest.
const LEN: usize = 32;

/// The SHA-256 digest of an API key. `Debug` prints `[redacted]`: a digest of a short key can be
/// brute-forced, so it is no more fit for a log line than the key itself.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyDigest([u8; LEN]);

impl KeyDigest {
    /// The digest of `key`.
    pub fn of(key: impl AsRef<[u8]>) -> KeyDigest {
        let mut out = [0u8; LEN];
        out.copy_from_slice(digest(&SHA256, key.as_ref()).as_ref());
        KeyDigest(out)
    }

    /// 1 if `self == other`, else 0, in time independent of the bytes (no early exit).
    fn ct_eq(&self, other: &KeyDigest) -> usize {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        // Keep the optimiser from turning the fold back into a short-circuiting compare.
        let diff = std::hint::black_box(diff);
        // diff == 0 → (0 - 1) >> 8 has its low bit set; any other byte value leaves it clear.
        usize::from(u16::from(diff).wrapping_sub(1) >> 8 & 1 == 1)
    }
}

#[cfg(test)]
impl KeyDigest {
    /// Lower-case hex, for tests that check a digest is shown nowhere.
    pub(crate) fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The index of the digest in `digests` equal to `presented`, comparing with every one of
/// them in constant time. Digests are unique (the loader rejects a key configured twice), so at
/// most one matches.
pub(crate) fn find<'a>(
    digests: impl Iterator<Item = &'a KeyDigest>,
    presented: &KeyDigest,
) -> Option<usize> {
    let mut found = usize::MAX;
    for (i, d) in digests.enumerate() {
        // all ones on a match, zero otherwise: select `i` without a branch on the outcome.
        let mask = 0usize.wrapping_sub(d.ct_eq(presented));
        found = (i & mask) | (found & !mask);
    }
    (found != usize::MAX).then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_and_redacted() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let d = KeyDigest::of("abc");
        assert_eq!(
            d.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(format!("{d:?}"), "[redacted]");
    }

    #[test]
    fn equality_sees_every_byte() {
        let a = KeyDigest::of("key-a");
        assert_eq!(a.ct_eq(&a.clone()), 1);
        for i in 0..LEN {
            for bit in 0..8 {
                let mut b = a.clone();
                b.0[i] ^= 1 << bit;
                assert_eq!(a.ct_eq(&b), 0, "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn find_returns_the_matching_index_or_none() {
        let keys: Vec<KeyDigest> = ["k0", "k1", "k2"].iter().map(KeyDigest::of).collect();
        assert_eq!(find(keys.iter(), &KeyDigest::of("k0")), Some(0));
        assert_eq!(find(keys.iter(), &KeyDigest::of("k2")), Some(2));
        assert_eq!(find(keys.iter(), &KeyDigest::of("k3")), None);
        assert_eq!(find([].iter(), &KeyDigest::of("k0")), None);
    }
}
