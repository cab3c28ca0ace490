//! F4 (part): the Merkle tree, its frontier and its proofs, checked exhaustively on small
//! trees against an independent naive computation, and by property on larger ones.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test helpers fail loudly on purpose")]

use agentk_flightlog::merkle::{
    Frontier, Hash32, consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root, verify_consistency,
    verify_inclusion,
};
use proptest::prelude::*;

fn leaves(n: usize) -> Vec<Hash32> {
    (0..n).map(|i| leaf_hash(&(i as u64).to_le_bytes())).collect()
}

/// An independent reference: hash level by level, carrying an odd last node up unchanged.
/// For RFC 9162 trees this gives the same root as the recursive definition.
fn naive_root(leaves: &[Hash32]) -> Hash32 {
    if leaves.is_empty() {
        return empty_root();
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level =
            level.chunks(2).map(|pair| if pair.len() == 2 { node_hash(&pair[0], &pair[1]) } else { pair[0] }).collect();
    }
    level[0]
}

fn flip(hash: &Hash32) -> Hash32 {
    let mut bytes = hash.0;
    bytes[0] ^= 1;
    Hash32(bytes)
}

// guarantee: F4
#[test]
fn roots_agree_with_the_naive_computation_and_the_frontier() {
    let all = leaves(70);
    let mut frontier = Frontier::new();
    assert_eq!(frontier.root(), empty_root());
    for n in 1..=all.len() {
        frontier.push(all[n - 1]);
        assert_eq!(root(&all[..n]), naive_root(&all[..n]), "n = {n}");
        assert_eq!(frontier.root(), root(&all[..n]), "n = {n}");
        assert_eq!(frontier.size(), n as u64);
    }
}

// guarantee: F4
#[test]
fn every_inclusion_proof_verifies_and_every_change_breaks_it() {
    for n in 1..=33usize {
        let all = leaves(n);
        let tree_root = root(&all);
        for m in 0..n {
            let proof = inclusion_proof(&all, m as u64).unwrap();
            let (index, size) = (m as u64, n as u64);
            assert!(verify_inclusion(&all[m], index, size, &proof, &tree_root), "n={n} m={m}");
            assert!(!verify_inclusion(&flip(&all[m]), index, size, &proof, &tree_root));
            assert!(!verify_inclusion(&all[m], index, size, &proof, &flip(&tree_root)));
            if n > 1 {
                assert!(
                    !verify_inclusion(&all[m], (index + 1) % size, size, &proof, &tree_root),
                    "n={n} m={m} other index"
                );
            }
            // (The size is bound by the signed checkpoint that carries the root, not by the
            // path: leaf 0 of 3 and of 4 leaves has the same path shape.)
            assert!(!verify_inclusion(&all[m], size, size, &proof, &tree_root), "n={n} m={m} index past the end");
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i] = flip(&bad[i]);
                assert!(!verify_inclusion(&all[m], index, size, &bad, &tree_root), "n={n} m={m} element {i}");
            }
            let mut longer = proof.clone();
            longer.push(tree_root);
            assert!(!verify_inclusion(&all[m], index, size, &longer, &tree_root));
            if !proof.is_empty() {
                assert!(!verify_inclusion(&all[m], index, size, &proof[..proof.len() - 1], &tree_root));
            }
        }
        assert!(inclusion_proof(&all, n as u64).is_err());
    }
}

// guarantee: F4
#[test]
fn every_consistency_proof_verifies_and_every_change_breaks_it() {
    for n in 1..=33usize {
        let all = leaves(n);
        let new_root = root(&all);
        for m in 0..=n {
            let old_root = root(&all[..m]);
            let proof = consistency_proof(&all, m as u64).unwrap();
            let (old, new) = (m as u64, n as u64);
            assert!(verify_consistency(old, new, &old_root, &new_root, &proof), "n={n} m={m}");
            assert!(!verify_consistency(old, new, &flip(&old_root), &new_root, &proof), "n={n} m={m} old root");
            if m > 0 {
                // (The empty tree is a prefix of every tree, whatever its root.)
                assert!(!verify_consistency(old, new, &old_root, &flip(&new_root), &proof), "n={n} m={m} new root");
            }
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i] = flip(&bad[i]);
                assert!(!verify_consistency(old, new, &old_root, &new_root, &bad), "n={n} m={m} element {i}");
            }
            if m > 0 && m < n {
                // A different prefix (one leaf changed) is not consistent.
                let mut rewritten = all.clone();
                rewritten[m - 1] = flip(&rewritten[m - 1]);
                assert!(!verify_consistency(old, new, &old_root, &root(&rewritten), &proof), "n={n} m={m} rewritten");
                // Nor is a tree that lost its tail.
                assert!(
                    !verify_consistency(old, new - 1, &old_root, &root(&all[..n - 1]), &proof),
                    "n={n} m={m} truncated"
                );
            }
        }
        assert!(consistency_proof(&all, n as u64 + 1).is_err());
        assert!(!verify_consistency(n as u64 + 1, n as u64, &new_root, &new_root, &[]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn proofs_hold_on_larger_trees(n in 1usize..3000, m_seed in any::<u64>(), k_seed in any::<u64>()) {
        let all = leaves(n);
        let m = (m_seed % n as u64) as usize;
        let k = (k_seed % (n as u64 + 1)) as usize;
        let mut frontier = Frontier::new();
        all.iter().for_each(|leaf| frontier.push(*leaf));
        let tree_root = frontier.root();
        prop_assert_eq!(tree_root, naive_root(&all));
        let proof = inclusion_proof(&all, m as u64).unwrap();
        prop_assert!(proof.len() <= 64);
        prop_assert!(verify_inclusion(&all[m], m as u64, n as u64, &proof, &tree_root));
        let consistency = consistency_proof(&all, k as u64).unwrap();
        prop_assert!(verify_consistency(k as u64, n as u64, &root(&all[..k]), &tree_root, &consistency));
    }
}

#[test]
fn leaves_and_nodes_are_domain_separated() {
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let mut both = a.0.to_vec();
    both.extend_from_slice(&b.0);
    assert_ne!(leaf_hash(&both), node_hash(&a, &b), "a leaf holding two hashes is not their node");
    assert_ne!(empty_root(), leaf_hash(b""));
}

// guarantee: F4 (proofs made from leaves streamed once, in flat memory, are the proofs)
#[test]
fn streamed_range_roots_give_the_same_proofs() {
    use agentk_flightlog::merkle::{
        RangeRoots, consistency_proof, consistency_ranges, inclusion_proof, inclusion_ranges,
    };
    for size in 1u64..=40 {
        let leaves: Vec<_> = (0..size).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let streamed = |ranges| {
            let mut roots = RangeRoots::new(ranges);
            for (i, leaf) in leaves.iter().enumerate() {
                roots.push(i as u64, *leaf);
            }
            roots.finish().unwrap()
        };
        for index in 0..size {
            assert_eq!(streamed(inclusion_ranges(index, size).unwrap()), inclusion_proof(&leaves, index).unwrap());
        }
        for old in 0..=size {
            assert_eq!(streamed(consistency_ranges(old, size).unwrap()), consistency_proof(&leaves, old).unwrap());
        }
        // Leaves that stop short leave a range unfinished: no proof, rather than a wrong one.
        if size > 1 {
            let mut short = RangeRoots::new(inclusion_ranges(0, size).unwrap());
            for (i, leaf) in leaves.iter().enumerate().take(size as usize - 1) {
                short.push(i as u64, *leaf);
            }
            assert_eq!(short.finish(), None);
        }
    }
}
