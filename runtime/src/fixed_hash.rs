//! The fixed hash of everything a fleet must agree on: consistent hashing's ring and keys,
//! a split's sides, a sticky server's id. 64-bit FNV-1a with MurmurHash3's finaliser, not a
//! randomly seeded hash, so every proxy instance and every restart maps a key alike.

/// 64-bit FNV-1a, finished with MurmurHash3's `fmix64` so that nearby inputs spread over the
/// whole ring.
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fixed() {
        assert_eq!(stable_hash(b""), stable_hash(b""));
        assert_ne!(stable_hash(b"a"), stable_hash(b"b"));
        // A known value, so a change of function is a visible change of mapping.
        assert_eq!(stable_hash(b"sid"), 0x90dc_fc5e_3d03_8867);
    }
}
