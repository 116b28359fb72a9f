//! Unit tests: known answers, the stored layout, and every small tree checked against a direct
//! transcription of the RFC 9162 recursive definitions (MTH, PATH, SUBPROOF).
//! [`proptests`] does the same on random trees of up to 2,000 leaves.

mod proptests;

use super::*;

/// The reference leaves of the RFC 6962/9162 test suite.
pub(super) fn reference_leaves() -> Vec<Hash> {
    let inputs: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[
            0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
            0x6e, 0x6f,
        ],
    ];
    inputs.iter().map(|input| leaf_hash(input)).collect()
}

/// Reference roots of the first 0..=8 reference leaves, from the test suite's README.
pub(super) const REFERENCE_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn split(len: usize) -> usize {
    let mut k = 1;
    while k * 2 < len {
        k *= 2;
    }
    k
}

/// RFC 9162 §2.1.1 MTH, recursively.
pub(super) fn rfc_mth(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len()));
            node_hash(&rfc_mth(left), &rfc_mth(right))
        }
    }
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]).
fn rfc_path(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    let (mut path, other) = if index < k {
        (rfc_path(index, left), rfc_mth(right))
    } else {
        (rfc_path(index - k, right), rfc_mth(left))
    };
    path.push(other);
    path
}

/// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b).
fn rfc_subproof(old: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    if old == leaves.len() {
        return if whole {
            Vec::new()
        } else {
            vec![rfc_mth(leaves)]
        };
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    let (mut proof, other) = if old <= k {
        (rfc_subproof(old, left, whole), rfc_mth(right))
    } else {
        (rfc_subproof(old - k, right, false), rfc_mth(left))
    };
    proof.push(other);
    proof
}

fn numbered_leaves(count: usize) -> Vec<Hash> {
    (0..count).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

fn u(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[test]
fn the_reference_tree_has_the_reference_roots_for_sizes_0_to_8() {
    let leaves = reference_leaves();
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied()).unwrap();
    for (size, expected) in REFERENCE_ROOTS.iter().enumerate() {
        let expected = Hash::parse(expected).unwrap();
        assert_eq!(tree_hash(u(size), &tree).unwrap(), expected, "size {size}");
        assert_eq!(
            root_from_leaf_hashes(&leaves[..size]),
            expected,
            "size {size}"
        );
        assert_eq!(rfc_mth(&leaves[..size]), expected, "size {size}");
    }
}

#[test]
fn stored_hashes_follow_the_tlog_layout() {
    // Leaf 0, leaf 1, node (1,0), leaf 2, leaf 3, node (1,1), node (2,0), leaf 4.
    let cases = [
        (0, 0, 0),
        (0, 1, 1),
        (1, 0, 2),
        (0, 2, 3),
        (0, 3, 4),
        (1, 1, 5),
        (2, 0, 6),
    ];
    for (level, index, want) in cases {
        assert_eq!(
            stored_hash_index(level, index),
            Some(want),
            "({level},{index})"
        );
    }
    assert_eq!(stored_hash_index(0, 4), Some(7));
    assert_eq!(stored_hash_count(0), Some(0));
    assert_eq!(stored_hash_count(4), Some(7));
    assert_eq!(stored_hash_count(u64::MAX), None);
    assert_eq!(stored_hash_index(64, 0), None);
    assert_eq!(stored_hash_index(0, u64::MAX), None);
    assert_eq!(stored_hash_index(63, 1), None);

    let leaves = numbered_leaves(37);
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied()).unwrap();
    assert_eq!(
        u(tree.stored_hashes().len()),
        stored_hash_count(37).unwrap()
    );
    for level in 0..6_u32 {
        let width = 1_usize << level;
        for (k, chunk) in leaves.chunks_exact(width).enumerate() {
            let at = usize::try_from(stored_hash_index(level, u(k)).unwrap()).unwrap();
            assert_eq!(tree.stored_hashes()[at], rfc_mth(chunk), "({level},{k})");
        }
    }
}

#[test]
fn every_proof_of_a_small_tree_matches_the_rfc_definition_and_verifies() {
    let leaves = numbered_leaves(33);
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied()).unwrap();
    for size in 1..=leaves.len() {
        let root = rfc_mth(&leaves[..size]);
        assert_eq!(tree_hash(u(size), &tree).unwrap(), root, "root of {size}");
        for index in 0..size {
            let proof = prove_inclusion(u(index), u(size), &tree).unwrap();
            assert_eq!(
                proof,
                rfc_path(index, &leaves[..size]),
                "path {index} in {size}"
            );
            let verified = verify_inclusion(&leaves[index], u(index), u(size), &proof, &root);
            assert_eq!(verified, Ok(()), "inclusion {index} in {size}");
        }
        for old in 1..=size {
            let proof = prove_consistency(u(old), u(size), &tree).unwrap();
            assert_eq!(
                proof,
                rfc_subproof(old, &leaves[..size], true),
                "{old}->{size}"
            );
            let old_root = rfc_mth(&leaves[..old]);
            let verified = verify_consistency(u(old), u(size), &proof, &old_root, &root);
            assert_eq!(verified, Ok(()), "consistency {old} -> {size}");
        }
    }
}

#[test]
fn bad_sizes_and_indexes_are_errors_not_panics() {
    let tree = MemoryTree::from_leaf_hashes(numbered_leaves(5)).unwrap();
    assert!(matches!(
        prove_inclusion(5, 5, &tree),
        Err(TreeError::IndexOutOfRange { index: 5, size: 5 })
    ));
    assert!(matches!(
        prove_inclusion(0, 0, &tree),
        Err(TreeError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        prove_consistency(0, 3, &tree),
        Err(TreeError::EmptyOldTree)
    ));
    assert!(matches!(
        prove_consistency(4, 3, &tree),
        Err(TreeError::SizesReversed { old: 4, new: 3 })
    ));
    assert_eq!(prove_consistency(3, 3, &tree).unwrap(), Vec::<Hash>::new());
    assert!(matches!(
        tree_hash(6, &tree),
        Err(TreeError::Read(MissingStoredHash { .. }))
    ));
    assert!(matches!(
        prove_inclusion(0, u64::MAX, &tree),
        Err(TreeError::SizeTooLarge { .. })
    ));
    assert!(matches!(
        prove_consistency(1, u64::MAX, &tree),
        Err(TreeError::SizeTooLarge { .. })
    ));
    assert!(matches!(
        stored_hashes_for_leaf(u64::MAX, leaf_hash(b""), &tree),
        Err(TreeError::SizeTooLarge { .. })
    ));
}

#[test]
fn a_closure_can_serve_as_the_hash_reader() {
    let tree = MemoryTree::from_leaf_hashes(numbered_leaves(11)).unwrap();
    let stored = tree.stored_hashes().to_vec();
    let reads = std::cell::Cell::new(0);
    let reader = |indexes: &[u64]| -> Result<Vec<Hash>, String> {
        reads.set(reads.get() + 1);
        indexes
            .iter()
            .map(|&i| {
                let at = usize::try_from(i).map_err(|e| e.to_string())?;
                stored
                    .get(at)
                    .copied()
                    .ok_or_else(|| format!("missing {i}"))
            })
            .collect()
    };
    assert_eq!(
        prove_inclusion(3, 11, &reader).unwrap(),
        prove_inclusion(3, 11, &tree).unwrap()
    );
    // One batched read per proof, whatever its length.
    assert_eq!(reads.get(), 1);
    assert_eq!(tree_hash(11, &reader).unwrap(), tree.root().unwrap());
}

#[test]
fn a_reader_that_breaks_its_contract_is_reported() {
    let short = |_: &[u64]| -> Result<Vec<Hash>, String> { Ok(Vec::new()) };
    assert!(matches!(
        tree_hash(3, &short),
        Err(TreeError::ReaderCount { wanted: 2, got: 0 })
    ));
    let failing = |_: &[u64]| -> Result<Vec<Hash>, String> { Err("down".to_owned()) };
    let Err(TreeError::Read(message)) = prove_inclusion(0, 2, &failing) else {
        panic!("the reader's error must come back as Read");
    };
    assert_eq!(message, "down");
}

#[test]
fn verification_names_what_failed() {
    let leaves = numbered_leaves(6);
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied()).unwrap();
    let root = tree.root().unwrap();
    let proof = prove_inclusion(2, 6, &tree).unwrap();
    let leaf = leaves[2];
    let check = |index, size, proof: &[Hash]| verify_inclusion(&leaf, index, size, proof, &root);
    assert_eq!(check(2, 6, &proof), Ok(()));
    assert_eq!(
        check(6, 6, &proof),
        Err(ProofError::IndexOutOfRange { index: 6, size: 6 })
    );
    assert_eq!(check(2, 6, &proof[1..]), Err(ProofError::ProofTooShort));
    let mut longer = proof.clone();
    longer.push(root);
    assert_eq!(check(2, 6, &longer), Err(ProofError::ProofTooLong));
    assert_eq!(
        verify_inclusion(&leaves[3], 2, 6, &proof, &root),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_inclusion_bytes(&[0; 31], 2, 6, &proof, root.as_bytes()),
        Err(ProofError::LeafHashLength { len: 31 })
    );
    let garbage: Vec<&[u8]> = vec![leaf.as_bytes(), b"short"];
    assert_eq!(
        verify_inclusion_bytes(leaf.as_bytes(), 2, 6, &garbage, root.as_bytes()),
        Err(ProofError::ProofHashLength {
            position: 1,
            len: 5
        })
    );

    let old_root = tree_hash(3, &tree).unwrap();
    let proof = prove_consistency(3, 6, &tree).unwrap();
    let check = |old, new, proof: &[Hash], r1: &Hash, r2: &Hash| {
        verify_consistency(old, new, proof, r1, r2)
    };
    assert_eq!(check(3, 6, &proof, &old_root, &root), Ok(()));
    assert_eq!(
        check(0, 6, &proof, &old_root, &root),
        Err(ProofError::EmptyOldTree)
    );
    assert_eq!(
        check(0, 0, &[], &old_root, &old_root),
        Err(ProofError::EmptyOldTree)
    );
    assert_eq!(
        check(7, 6, &proof, &old_root, &root),
        Err(ProofError::SizesReversed { old: 7, new: 6 })
    );
    assert_eq!(check(3, 3, &[], &old_root, &old_root), Ok(()));
    assert_eq!(
        check(3, 3, &[], &old_root, &root),
        Err(ProofError::RootsDiffer)
    );
    assert_eq!(
        check(3, 3, &proof, &old_root, &old_root),
        Err(ProofError::ProofNotEmpty { len: proof.len() })
    );
    assert_eq!(
        check(3, 6, &[], &old_root, &root),
        Err(ProofError::EmptyProof)
    );
    assert_eq!(
        check(3, 6, &proof, &root, &root),
        Err(ProofError::OldRootMismatch)
    );
    assert_eq!(
        check(3, 6, &proof, &old_root, &old_root),
        Err(ProofError::NewRootMismatch)
    );
}
