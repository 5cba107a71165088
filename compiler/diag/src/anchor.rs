//! Offsets relative to a declaration ("anchored"), and the per-file table that makes them file offsets.
//!
//! A declaration's lowered form (HIR) and everything built from it (template models, app
//! evaluations) must not change when text *above* the declaration changes length, or every
//! declaration below an edit is rebuilt. So inside an anchored declaration a position is not a
//! file offset but the pair (anchor, offset from the anchor's start), where the anchor names the
//! declaration by its kind and its ordinal among the file's declarations of that kind — like
//! rust-analyzer's `AstId`. The pair is packed into the `u32` of a [`crate::TextRange`] end
//! (flag bit 31, anchor in bits 18..31, relative offset in bits 0..18), so every stage keeps
//! handling plain ranges, and comparing or covering ranges of one declaration still works.
//!
//! Only an [`AnchorMap`] (one per file, rebuilt with the file's lowering) turns them back into
//! file offsets; the compiler does that where diagnostics, provenance and editor answers leave
//! it. A declaration longer than [`MAX_RELATIVE`] or past [`MAX_ORDINAL`] of its kind keeps
//! plain file offsets: correct, only not incremental.

use crate::{Diagnostic, FileId, Span, TextRange};

/// Set on an anchored offset; a file offset never has it (files are far smaller than 2 GiB).
const FLAG: u32 = 1 << 31;
const REL_BITS: u32 = 18;
const KIND_BITS: u32 = 3;
const ORDINAL_BITS: u32 = 10;

/// Longest declaration (in bytes) whose positions are anchored.
pub const MAX_RELATIVE: u32 = (1 << REL_BITS) - 1;
/// Declarations of one kind past this ordinal in a file keep file offsets.
pub const MAX_ORDINAL: u32 = (1 << ORDINAL_BITS) - 1;

/// A declaration's anchor: its kind (0..8) and ordinal among the file's declarations of that kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Anchor(u32);

impl Anchor {
    /// `None` when the kind or ordinal does not fit (the declaration then keeps file offsets).
    pub fn new(kind: u32, ordinal: u32) -> Option<Anchor> {
        (kind < (1 << KIND_BITS) && ordinal <= MAX_ORDINAL).then_some(Anchor((kind << ORDINAL_BITS) | ordinal))
    }

    /// The anchored form of `rel` (an offset from the declaration's start), if it fits.
    pub fn offset(self, rel: u32) -> Option<u32> {
        (rel <= MAX_RELATIVE).then_some(FLAG | (self.0 << REL_BITS) | rel)
    }
}

/// The anchor and relative offset of an anchored offset; `None` for a file offset.
pub fn split(offset: u32) -> Option<(Anchor, u32)> {
    (offset & FLAG != 0).then_some((Anchor((offset & !FLAG) >> REL_BITS), offset & MAX_RELATIVE))
}

/// Whether `range` holds anchored offsets (and so must be resolved before it meets source text).
pub fn is_anchored(range: TextRange) -> bool {
    split(range.start).is_some() || split(range.end).is_some()
}

/// Where each anchored declaration of one file starts and ends (file offsets), in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AnchorMap {
    entries: Vec<(Anchor, TextRange)>,
}

impl AnchorMap {
    pub fn push(&mut self, anchor: Anchor, range: TextRange) {
        self.entries.push((anchor, range));
    }

    /// Gives back the room the list grew beyond its entries (a lowered file keeps its map).
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    /// The bytes of the map's one block (see `kdep_sema::heap`).
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(Anchor, TextRange)>()
    }

    fn start_of(&self, anchor: Anchor) -> Option<u32> {
        self.entries.iter().find(|(a, _)| *a == anchor).map(|(_, r)| r.start)
    }

    /// The file offset of `offset` (unchanged when it is one already).
    pub fn resolve(&self, offset: u32) -> u32 {
        match split(offset) {
            // An anchor this map does not know cannot come from the same text; the start of the
            // file is a position every renderer accepts.
            Some((anchor, rel)) => self.start_of(anchor).map_or(0, |s| s.saturating_add(rel)),
            None => offset,
        }
    }

    pub fn resolve_range(&self, range: TextRange) -> TextRange {
        if !is_anchored(range) {
            return range;
        }
        let start = self.resolve(range.start);
        TextRange::new(start, self.resolve(range.end).max(start))
    }

    /// The inverse of [`AnchorMap::resolve`]: the anchored form of file offset `offset` when it
    /// lies in an anchored declaration (its end included, where an editor's cursor can be), so a
    /// cursor can be compared with the ranges of the declaration's HIR.
    pub fn anchor(&self, offset: u32) -> u32 {
        self.entries
            .iter()
            .find(|(_, r)| r.start <= offset && offset <= r.end)
            .and_then(|(a, r)| a.offset(offset - r.start))
            .unwrap_or(offset)
    }
}

impl Diagnostic {
    /// Applies `f` to every range of the diagnostic (labels and fix edits), with its file.
    pub fn map_ranges(&mut self, f: &mut dyn FnMut(FileId, TextRange) -> TextRange) {
        let mut span = |s: &mut Span| s.range = f(s.file, s.range);
        if let Some(l) = &mut self.primary {
            span(&mut l.span);
        }
        for l in &mut self.secondary {
            span(&mut l.span);
        }
        for e in self.fix.iter_mut().flat_map(|fix| fix.edits.iter_mut()) {
            span(&mut e.span);
        }
    }

    /// Whether any range of the diagnostic is still anchored (not yet resolved).
    pub fn has_anchored_ranges(&self) -> bool {
        let labels = self.primary.iter().chain(&self.secondary).map(|l| l.span.range);
        let edits = self.fix.iter().flat_map(|f| f.edits.iter()).map(|e| e.span.range);
        labels.chain(edits).any(is_anchored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchored_offsets_resolve_through_the_map_and_back() {
        let a = Anchor::new(3, 1).expect("fits");
        let mut map = AnchorMap::default();
        map.push(Anchor::new(3, 0).expect("fits"), TextRange::new(0, 40));
        map.push(a, TextRange::new(50, 90));
        let off = a.offset(7).expect("fits");
        assert!(split(off).is_some());
        assert_eq!(map.resolve(off), 57);
        assert_eq!(map.anchor(57), off);
        assert_eq!(map.resolve(12), 12, "file offsets are left alone");
        assert_eq!(map.anchor(45), 45, "between declarations nothing is anchored");
        // The same declaration further down: same anchored offset, new file offset.
        let mut moved = AnchorMap::default();
        moved.push(a, TextRange::new(150, 190));
        assert_eq!(moved.resolve(off), 157);
    }

    #[test]
    fn what_does_not_fit_is_refused() {
        assert_eq!(Anchor::new(8, 0), None);
        assert_eq!(Anchor::new(0, MAX_ORDINAL + 1), None);
        assert_eq!(Anchor::new(0, 0).and_then(|a| a.offset(MAX_RELATIVE + 1)), None);
    }
}
