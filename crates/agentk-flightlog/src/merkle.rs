//! The Merkle tree over event hashes (guarantee F4): RFC 9162 shapes and algorithms, with
//! blake3 under named contexts standing in for RFC 9162's `0x00` leaf and `0x01` node prefixes.
//!
//! The tree over `n` leaves is RFC 9162's: for `n > 1` the left subtree holds the largest power
//! of two below `n` leaves. Inclusion and consistency proofs are RFC 9162's audit paths and
//! consistency paths, and verification follows its sections 2.1.3.2 and 2.1.4.2 step by step,
//! so a verifier needs nothing but the proof, the sizes and the roots.

pub use agentk_capability::Hash32;

const EMPTY_CONTEXT: &str = "agentk merkle empty tree v1";

// The leaf and node contexts, their keys derived once per thread (every event pushes a leaf).
agentk_capability::hash_context!(static LEAF = "agentk merkle leaf v1";);
agentk_capability::hash_context!(static NODE = "agentk merkle node v1";);

/// The hash of a leaf holding `data` (an event hash).
pub fn leaf_hash(data: &[u8]) -> Hash32 {
    LEAF.hash(data)
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    NODE.hash_with(|hasher| {
        hasher.update(&left.0);
        hasher.update(&right.0);
    })
}

/// The root of the empty tree.
pub fn empty_root() -> Hash32 {
    Hash32(blake3::derive_key(EMPTY_CONTEXT, b""))
}

/// The largest power of two strictly below `n` (for `n >= 2`).
fn split(n: u64) -> u64 {
    let below = n - 1;
    1 << (63 - below.leading_zeros())
}

/// The root over `leaves` (leaf hashes), by the recursive definition.
pub fn root(leaves: &[Hash32]) -> Hash32 {
    match leaves {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len() as u64) as usize);
            node_hash(&root(left), &root(right))
        }
    }
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first. It
/// holds at most 64 hashes however many leaves were appended, so a writer or a streaming
/// verifier keeps the current root without keeping the leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    /// `(height, root)` of each perfect subtree, heights strictly decreasing.
    subtrees: Vec<(u32, Hash32)>,
    size: u64,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash32) {
        let mut carry = (0u32, leaf);
        while let Some(&(height, left)) = self.subtrees.last() {
            if height != carry.0 {
                break;
            }
            self.subtrees.pop();
            carry = (height + 1, node_hash(&left, &carry.1));
        }
        self.subtrees.push(carry);
        self.size += 1;
    }

    /// How many leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The current root.
    pub fn root(&self) -> Hash32 {
        let mut subtrees = self.subtrees.iter().rev();
        let Some(&(_, mut acc)) = subtrees.next() else {
            return empty_root();
        };
        for (_, left) in subtrees {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// Why a proof could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf {index} is not in a tree of {size} leaves")]
    NoSuchLeaf {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The older size is larger than the newer one.
    #[error("a tree of {old} leaves cannot be a prefix of one of {new}")]
    NotAPrefix {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
    },
}

/// A range of leaves, `[start, end)`.
pub type LeafRange = (u64, u64);

/// The leaf ranges whose subtree roots make up the inclusion proof of leaf `index` in a tree
/// of `size` leaves, in proof order (RFC 9162's PATH, recorded as ranges). They are disjoint.
pub fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<LeafRange>, ProofError> {
    if index >= size {
        return Err(ProofError::NoSuchLeaf { index, size });
    }
    let mut ranges = Vec::new();
    path_ranges(0, size, index, &mut ranges);
    Ok(ranges)
}

fn path_ranges(start: u64, end: u64, index: u64, ranges: &mut Vec<LeafRange>) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        path_ranges(start, start + k, index, ranges);
        ranges.push((start + k, end));
    } else {
        path_ranges(start + k, end, index - k, ranges);
        ranges.push((start, start + k));
    }
}

/// The leaf ranges whose subtree roots make up the consistency proof from `old` to `new`
/// leaves, in proof order (RFC 9162's SUBPROOF, recorded as ranges). They are disjoint.
pub fn consistency_ranges(old: u64, new: u64) -> Result<Vec<LeafRange>, ProofError> {
    if old > new {
        return Err(ProofError::NotAPrefix { old, new });
    }
    let mut ranges = Vec::new();
    if old > 0 && old < new {
        subproof_ranges(0, new, old, true, &mut ranges);
    }
    Ok(ranges)
}

fn subproof_ranges(start: u64, end: u64, m: u64, complete: bool, ranges: &mut Vec<LeafRange>) {
    let n = end - start;
    if m == n {
        if !complete {
            ranges.push((start, end));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof_ranges(start, start + k, m, complete, ranges);
        ranges.push((start + k, end));
    } else {
        subproof_ranges(start + k, end, m - k, false, ranges);
        ranges.push((start, start + k));
    }
}

fn range_root(leaves: &[Hash32], (start, end): LeafRange) -> Hash32 {
    let slice = leaves.get(usize::try_from(start).unwrap_or(usize::MAX)..usize::try_from(end).unwrap_or(usize::MAX));
    root(slice.unwrap_or_default())
}

/// The inclusion proof (audit path) of leaf `index` in the tree over `leaves`.
pub fn inclusion_proof(leaves: &[Hash32], index: u64) -> Result<Vec<Hash32>, ProofError> {
    Ok(inclusion_ranges(index, leaves.len() as u64)?.into_iter().map(|r| range_root(leaves, r)).collect())
}

/// The consistency proof that the tree over the first `old` leaves is a prefix of the tree
/// over all of `leaves`.
pub fn consistency_proof(leaves: &[Hash32], old: u64) -> Result<Vec<Hash32>, ProofError> {
    Ok(consistency_ranges(old, leaves.len() as u64)?.into_iter().map(|r| range_root(leaves, r)).collect())
}

/// Computes the roots of disjoint leaf ranges from leaves streamed in order, holding no more
/// than a [`Frontier`] at a time: how proofs are made over a log of any length in flat memory.
#[derive(Clone, Debug)]
pub struct RangeRoots {
    /// The ranges in proof order.
    wanted: Vec<LeafRange>,
    /// Indexes into `wanted`, by start.
    order: Vec<usize>,
    /// The position in `order` of the range being built.
    current: usize,
    frontier: Frontier,
    roots: Vec<Option<Hash32>>,
}

impl RangeRoots {
    /// Collects the roots of `ranges` (disjoint).
    pub fn new(ranges: Vec<LeafRange>) -> Self {
        let mut order: Vec<usize> = (0..ranges.len()).collect();
        order.sort_by_key(|&i| ranges.get(i).map_or(0, |r| r.0));
        let roots = vec![None; ranges.len()];
        RangeRoots { wanted: ranges, order, current: 0, frontier: Frontier::new(), roots }
    }

    /// Takes leaf number `index` (leaves must come in order, from 0).
    pub fn push(&mut self, index: u64, leaf: Hash32) {
        while let Some(&at) = self.order.get(self.current) {
            let Some(&(start, end)) = self.wanted.get(at) else { return };
            if index < start {
                return;
            }
            if index < end {
                self.frontier.push(leaf);
                if index + 1 == end {
                    if let Some(slot) = self.roots.get_mut(at) {
                        *slot = Some(self.frontier.root());
                    }
                    self.frontier = Frontier::new();
                    self.current += 1;
                }
                return;
            }
            // A range that was never completed (the leaves stopped short): leave it empty.
            self.current += 1;
            self.frontier = Frontier::new();
        }
    }

    /// The roots, in proof order; `None` if some range did not receive all its leaves.
    pub fn finish(self) -> Option<Vec<Hash32>> {
        self.roots.into_iter().collect()
    }
}

/// Right-shifts `fn_` and `sn` together until `fn_`'s lowest bit is set or it is 0.
fn shift_while_even(fn_: &mut u64, sn: &mut u64) {
    while *fn_ != 0 && *fn_ & 1 == 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162, section 2.1.3.2).
pub fn verify_inclusion(leaf: &Hash32, index: u64, size: u64, path: &[Hash32], root: &Hash32) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                shift_while_even(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of the tree of `new`
/// leaves with root `new_root` (RFC 9162, section 2.1.4.2, with the trivial cases of an
/// empty old tree and equal sizes made explicit).
pub fn verify_consistency(old: u64, new: u64, old_root: &Hash32, new_root: &Hash32, path: &[Hash32]) -> bool {
    if old > new {
        return false;
    }
    if old == 0 {
        return path.is_empty() && *old_root == empty_root();
    }
    if old == new {
        return path.is_empty() && old_root == new_root;
    }
    let mut nodes: Vec<Hash32> = Vec::with_capacity(path.len() + 1);
    if old.is_power_of_two() {
        nodes.push(*old_root);
    }
    nodes.extend_from_slice(path);
    let Some((first, rest)) = nodes.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                shift_while_even(&mut fn_, &mut sn);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}
