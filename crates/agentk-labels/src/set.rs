use std::fmt;
use std::ops::{BitAnd, BitOr};
use std::str::FromStr;

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Label, LabelError};

/// A set of [`Label`]s: a six-bit bitset, so it is `Copy`, hashes and compares in one byte,
/// and forms a lattice under [`LabelSet::join`] (union) and [`LabelSet::meet`] (intersection).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelSet(u8);

impl LabelSet {
    /// The set with no labels, the bottom of the lattice.
    pub const EMPTY: LabelSet = LabelSet(0);
    /// The set with every label, the top of the lattice.
    pub const ALL: LabelSet = LabelSet((1 << Label::ALL.len()) - 1);
    /// How many distinct label sets exist (`2^6`).
    pub const COUNT: usize = 1 << Label::ALL.len();

    /// The set holding only `label`.
    pub const fn of(label: Label) -> Self {
        LabelSet(label.bit())
    }

    /// The set holding exactly `labels`.
    pub const fn from_labels(labels: &[Label]) -> Self {
        let mut bits = 0;
        let mut rest = labels;
        while let [first, tail @ ..] = rest {
            bits |= first.bit();
            rest = tail;
        }
        LabelSet(bits)
    }

    /// The set whose bit pattern is `bits`, or `None` when a bit names no label.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !Self::ALL.0 == 0 { Some(LabelSet(bits)) } else { None }
    }

    /// The bit pattern: bit `i` is set when the `i`th label of [`Label::ALL`] is present.
    /// Always below [`LabelSet::COUNT`].
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Least upper bound: every label in either set.
    #[must_use]
    pub const fn join(self, other: LabelSet) -> LabelSet {
        LabelSet(self.0 | other.0)
    }

    /// Greatest lower bound: the labels in both sets.
    #[must_use]
    pub const fn meet(self, other: LabelSet) -> LabelSet {
        LabelSet(self.0 & other.0)
    }

    /// This set without the labels of `other`.
    #[must_use]
    pub const fn without(self, other: LabelSet) -> LabelSet {
        LabelSet(self.0 & !other.0)
    }

    /// This set with `label` added.
    #[must_use]
    pub const fn with(self, label: Label) -> LabelSet {
        LabelSet(self.0 | label.bit())
    }

    /// Whether `label` is in the set.
    pub const fn contains(self, label: Label) -> bool {
        self.0 & label.bit() != 0
    }

    /// Whether every label of `other` is in this set.
    pub const fn is_superset(self, other: LabelSet) -> bool {
        other.0 & !self.0 == 0
    }

    /// Whether every label of this set is in `other`.
    pub const fn is_subset(self, other: LabelSet) -> bool {
        other.is_superset(self)
    }

    /// Whether the two sets share a label.
    pub const fn intersects(self, other: LabelSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The number of labels in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The labels in canonical order.
    pub fn iter(self) -> LabelSetIter {
        LabelSetIter { rest: self.0 }
    }

    /// Every label set that is a subset of this one, smallest first.
    pub fn subsets(self) -> impl Iterator<Item = LabelSet> {
        let mut all: Vec<LabelSet> = (0..=self.0).filter(|bits| bits & !self.0 == 0).map(LabelSet).collect();
        all.sort_by_key(|set| (set.len(), set.0));
        all.into_iter()
    }
}

/// Iterator over the labels of a [`LabelSet`], in canonical order.
#[derive(Clone, Debug)]
pub struct LabelSetIter {
    rest: u8,
}

impl Iterator for LabelSetIter {
    type Item = Label;

    fn next(&mut self) -> Option<Label> {
        let label = Label::ALL.into_iter().find(|label| self.rest & label.bit() != 0)?;
        self.rest &= !label.bit();
        Some(label)
    }
}

impl IntoIterator for LabelSet {
    type Item = Label;
    type IntoIter = LabelSetIter;

    fn into_iter(self) -> LabelSetIter {
        self.iter()
    }
}

impl FromIterator<Label> for LabelSet {
    fn from_iter<I: IntoIterator<Item = Label>>(iter: I) -> Self {
        iter.into_iter().fold(LabelSet::EMPTY, LabelSet::with)
    }
}

impl From<Label> for LabelSet {
    fn from(label: Label) -> Self {
        LabelSet::of(label)
    }
}

impl BitOr for LabelSet {
    type Output = LabelSet;

    fn bitor(self, rhs: LabelSet) -> LabelSet {
        self.join(rhs)
    }
}

impl BitAnd for LabelSet {
    type Output = LabelSet;

    fn bitand(self, rhs: LabelSet) -> LabelSet {
        self.meet(rhs)
    }
}

/// The canonical text form: names in canonical order joined by `,`, or `none` when empty.
impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, label) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(label.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LabelSet({self})")
    }
}

/// Parses a comma-separated list of label names. Spaces around names are ignored; `none` and
/// the empty string are the empty set. Any unknown name is an error naming it.
impl FromStr for LabelSet {
    type Err = LabelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() || s == "none" {
            return Ok(LabelSet::EMPTY);
        }
        s.split(',').map(|name| name.trim().parse::<Label>()).collect()
    }
}

/// A label set serializes as a list of label names in canonical order.
impl Serialize for LabelSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for label in self.iter() {
            seq.serialize_element(&label)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for LabelSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SetVisitor;

        impl<'de> Visitor<'de> for SetVisitor {
            type Value = LabelSet;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of label names")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LabelSet, A::Error> {
                let mut set = LabelSet::EMPTY;
                // SECURITY: at most one element per possible label is read before
                // refusing, so a hostile list cannot make us loop for long.
                let mut seen = 0usize;
                while let Some(label) = seq.next_element::<Label>()? {
                    seen += 1;
                    if seen > Label::ALL.len() {
                        return Err(serde::de::Error::custom("label list has more entries than there are labels"));
                    }
                    set = set.with(label);
                }
                Ok(set)
            }
        }

        deserializer.deserialize_seq(SetVisitor)
    }
}
