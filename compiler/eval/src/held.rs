//! The objects a build holds until its output is ordered, their texts in sorted, compressed runs.
//!
//! The output is in one global order (namespaces, then kind, namespace and name across every
//! app; [`crate::manifest`]), so a build holds every object's text until the last app is
//! written: 229 MB at N = 100,000, the largest part of its peak. A large build
//! ([`Holder`], from [`crate::COMPRESS_FROM`] bytes of estimated output) holds them compressed:
//!
//! - **Each batch's texts are one run, in output order.** Once a batch is evaluated its objects
//!   are sorted by the output order's key ([`manifest::output_positions`], the one statement of
//!   the order), their texts laid end to end in that order and cut into blocks of about
//!   `block_bytes` (a block ends at an object's end, so no text spans two blocks; an object
//!   larger than a block is a block of its own), and each block is compressed (LZ4: the YAML
//!   of objects from one template is repetitive, and LZ4 compresses and decompresses at a
//!   fraction of the cost of writing the text). The blocks are compressed on the build's
//!   threads.
//! - **The identities stay uncompressed**, in emission order, each with where its text is: the
//!   duplicate check and the global order read them as before.
//! - **Writing merges the runs.** The objects are ordered as before (sorted on their
//!   identities, stable on emission order); since each run was sorted by the same key with
//!   ties in emission order, the global order reads every run front to back, so [`TextReader`]
//!   keeps one decompressed block per run and decompresses each block once. Were the orders
//!   to disagree the text would still be right (the block is decompressed again), only
//!   slower; [`TextReader::blocks_decompressed`] lets the tests see it.
//!
//! A build below the threshold holds its texts as they were written, at no extra cost.

use kdep_diag::Span;

use crate::manifest::{self, Emitted, RenderedObject};

/// Where a held object's text is: `len` bytes from `start` of block `block` once decompressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TextAt {
    block: u32,
    start: u32,
    len: u32,
}

/// One compressed block of a run: objects' texts end to end, in the run's (output) order.
#[derive(Debug)]
struct Block {
    /// The batch the block belongs to (each batch is one run).
    run: u32,
    /// Length once decompressed.
    len: u32,
    /// LZ4 block format, at its exact length.
    bytes: Box<[u8]>,
}

/// An emitted object as a build holds it: its identity, and its text either beside it or in a
/// compressed block of [`RenderedObjects`].
#[derive(Debug)]
pub struct HeldObject {
    /// The object; its `text` is empty when the text is in a block.
    object: RenderedObject,
    at: Option<TextAt>,
}

impl Emitted for HeldObject {
    fn api_version(&self) -> &str {
        self.object.api_version()
    }
    fn kind(&self) -> &str {
        self.object.kind()
    }
    fn namespace(&self) -> Option<&str> {
        self.object.namespace()
    }
    fn name(&self) -> &str {
        self.object.name()
    }
    fn app(&self) -> &str {
        self.object.app()
    }
    fn source(&self) -> Span {
        self.object.source()
    }
}

/// A build's objects in output order (duplicates dropped), their texts read with
/// [`RenderedObjects::texts`].
#[derive(Debug, Default)]
pub struct RenderedObjects {
    objects: Vec<HeldObject>,
    blocks: Vec<Block>,
    /// Runs the blocks belong to.
    runs: usize,
}

impl RenderedObjects {
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The objects' identities, in output order (for file names; their texts: [`Self::texts`]).
    pub fn identities(&self) -> &[HeldObject] {
        &self.objects
    }

    /// Blocks the held texts were compressed into (none when the build held them as written).
    pub fn compressed_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Reads the texts back in output order.
    pub fn texts(&self) -> TextReader<'_> {
        let mut last_of_run = vec![usize::MAX; self.runs];
        for (i, o) in self.objects.iter().enumerate() {
            let run = o.at.and_then(|at| self.blocks.get(at.block as usize)).map(|b| b.run as usize);
            if let Some(last) = run.and_then(|r| last_of_run.get_mut(r)) {
                *last = i;
            }
        }
        TextReader {
            held: self,
            next: 0,
            slots: (0..self.runs).map(|_| Slot::default()).collect(),
            last_of_run,
            finished: None,
            decompressed: 0,
        }
    }

    /// The texts joined into one stream ([`crate::emit::join_stream`]'s bytes), handed to
    /// `write` piece by piece.
    pub fn join<E: From<CorruptText>>(
        &self,
        format: crate::emit::Format,
        mut write: impl FnMut(&str) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut joiner = crate::emit::Joiner::new(format, self.len());
        joiner.start(&mut write)?;
        let mut texts = self.texts();
        while let Some((_, text)) = texts.next() {
            joiner.object(text?, &mut write)?;
        }
        joiner.finish(&mut write)
    }

    /// Every text in output order, as one list (`-o DIR` writes them one file each).
    pub fn into_texts(self) -> Result<Vec<String>, CorruptText> {
        let mut out = Vec::with_capacity(self.len());
        let mut reader = self.texts();
        while let Some((_, text)) = reader.next() {
            out.push(text?.to_owned());
        }
        Ok(out)
    }
}

/// A held text could not be read back (a compressed block that does not decompress to what was
/// compressed): a bug, reported rather than written out wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorruptText;

impl std::fmt::Display for CorruptText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("internal error: a held object's text could not be read back")
    }
}

impl std::error::Error for CorruptText {}

impl From<CorruptText> for std::io::Error {
    fn from(e: CorruptText) -> std::io::Error {
        std::io::Error::other(e)
    }
}

/// The decompressed block a run is at.
#[derive(Debug, Default)]
struct Slot {
    block: Option<u32>,
    bytes: Vec<u8>,
}

/// [`RenderedObjects::texts`]: each object with its text, in output order.
#[derive(Debug)]
pub struct TextReader<'a> {
    held: &'a RenderedObjects,
    next: usize,
    /// One decompressed block per run.
    slots: Vec<Slot>,
    /// The last object read from each run, after which its slot is freed.
    last_of_run: Vec<usize>,
    /// A run whose last object was just read (its slot freed at the next read).
    finished: Option<usize>,
    decompressed: usize,
}

impl TextReader<'_> {
    /// The next object and its text.
    #[allow(clippy::should_implement_trait)] // lends its text: not an `Iterator`
    pub fn next(&mut self) -> Option<(&HeldObject, Result<&str, CorruptText>)> {
        // The run whose last object was read before: its buffer is not needed again.
        if let Some(slot) = self.finished.take().and_then(|run| self.slots.get_mut(run)) {
            *slot = Slot::default();
        }
        let i = self.next;
        let object = self.held.objects.get(i)?;
        self.next += 1;
        let Some(at) = object.at else { return Some((object, Ok(&object.object.text))) };
        let Some(block) = self.held.blocks.get(at.block as usize) else { return Some((object, Err(CorruptText))) };
        let run = block.run as usize;
        if self.last_of_run.get(run) == Some(&i) {
            self.finished = Some(run);
        }
        let Some(slot) = self.slots.get_mut(run) else { return Some((object, Err(CorruptText))) };
        if slot.block != Some(at.block) {
            slot.block = None;
            // Blocks are about one size: the buffer is zeroed only where it grows.
            slot.bytes.resize(block.len as usize, 0);
            match lz4_flex::block::decompress_into(&block.bytes, &mut slot.bytes) {
                Ok(n) if n == block.len as usize => slot.block = Some(at.block),
                _ => return Some((object, Err(CorruptText))),
            }
            self.decompressed += 1;
        }
        let slot = &*slot;
        let text = slot.bytes.get(at.start as usize..(at.start as usize).saturating_add(at.len as usize));
        Some((object, text.and_then(|t| std::str::from_utf8(t).ok()).ok_or(CorruptText)))
    }

    /// Blocks decompressed so far: each at most once when the runs and the output agree on
    /// the order.
    pub fn blocks_decompressed(&self) -> usize {
        self.decompressed
    }
}

/// How a build holds its objects from batch to batch until it orders them: every object as
/// written, or (a large build) each batch's texts as one sorted run of compressed blocks.
#[derive(Debug)]
pub(crate) struct Holder {
    objects: Vec<HeldObject>,
    blocks: Vec<Block>,
    runs: usize,
    /// Estimated output bytes from which texts are compressed.
    compress_from: usize,
    /// Decided from the texts of the batches so far; once set, kept.
    compress: bool,
    /// Bytes of the texts added so far.
    text_bytes: usize,
    block_bytes: usize,
    threads: usize,
}

impl Holder {
    pub(crate) fn new(compress_from: usize, block_bytes: usize, threads: usize) -> Holder {
        Holder {
            objects: Vec::new(),
            blocks: Vec::new(),
            runs: 0,
            compress_from,
            compress: false,
            text_bytes: 0,
            block_bytes: block_bytes.max(1),
            threads: threads.clamp(1, 64),
        }
    }

    /// Sizes the list from the first batch (`first`, from `done` of `files` files): as many
    /// objects per file in the rest, an eighth more (the first batch may hold files without
    /// apps).
    pub(crate) fn first_batch(&mut self, first: &[RenderedObject], done: usize, files: usize) {
        let estimate = first.len().saturating_mul(files).div_ceil(done.max(1));
        self.objects.reserve_exact(estimate.saturating_add(estimate / 8));
    }

    /// Holds one batch's objects, in emission order; `done` of the build's `files` files are
    /// built with this batch. From the batch whose texts, with those before, make an estimated
    /// `compress_from` bytes for the whole build (as many bytes per file in the rest), the
    /// texts are compressed (a first batch of templates and libraries emits nothing, so the
    /// estimate is taken again at every batch; the texts held before stay as written).
    pub(crate) fn add(&mut self, batch: Vec<RenderedObject>, done: usize, files: usize) {
        self.text_bytes = batch.iter().fold(self.text_bytes, |n, o| n.saturating_add(o.text.len()));
        let estimate = self.text_bytes.saturating_mul(files).div_ceil(done.max(1));
        self.compress = self.compress || (self.text_bytes > 0 && estimate >= self.compress_from);
        if !self.compress || batch.is_empty() {
            self.objects.extend(batch.into_iter().map(|object| HeldObject { object, at: None }));
            return;
        }
        let run = u32::try_from(self.runs).unwrap_or(u32::MAX);
        self.runs += 1;
        // The texts end to end in output order, cut after the object that fills a block.
        let order = manifest::output_positions(&batch);
        let first_block = self.blocks.len();
        let mut raw: Vec<Vec<u8>> = Vec::new();
        let mut at = vec![None; batch.len()];
        let mut current: Vec<u8> = Vec::new();
        for i in order {
            let Some(object) = batch.get(i) else { continue };
            let text = object.text.as_bytes();
            if text.is_empty() {
                // Held as it is (an empty text needs no block, and a block of nothing is none).
                continue;
            }
            if !current.is_empty() && current.len().saturating_add(text.len()) > self.block_bytes {
                raw.push(std::mem::take(&mut current));
            }
            if current.is_empty() {
                // Sized for a full block (a knob set very large is not taken at its word).
                current.reserve_exact(self.block_bytes.min(1 << 20).max(text.len()));
            }
            let block = u32::try_from(first_block + raw.len()).unwrap_or(u32::MAX);
            let start = u32::try_from(current.len()).unwrap_or(u32::MAX);
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            current.extend_from_slice(text);
            if let Some(slot) = at.get_mut(i) {
                *slot = Some(TextAt { block, start, len });
            }
        }
        if !current.is_empty() {
            raw.push(current);
        }
        let compressed = compress_all(&raw, self.threads);
        self.blocks.extend(raw.iter().zip(compressed).map(|(raw, bytes)| Block {
            run,
            len: u32::try_from(raw.len()).unwrap_or(u32::MAX),
            bytes,
        }));
        drop(raw);
        self.objects.extend(batch.into_iter().zip(at).map(|(mut object, at)| {
            // The text is in its block now; an empty `Box<str>` holds no allocation.
            object.text = Box::default();
            HeldObject { object, at }
        }));
    }

    /// Drops duplicates and orders the objects ([`manifest::order_and_deduplicate`]).
    pub(crate) fn finish(self) -> (RenderedObjects, Vec<kdep_diag::Diagnostic>) {
        let (objects, diagnostics) = manifest::order_and_deduplicate(self.objects);
        (RenderedObjects { objects, blocks: self.blocks, runs: self.runs }, diagnostics)
    }
}

/// Each raw block compressed, at its exact length, spread over up to `threads` threads (the
/// blocks of a batch are compressed between two batches, when the other threads are idle).
fn compress_all(raw: &[Vec<u8>], threads: usize) -> Vec<Box<[u8]>> {
    let threads = threads.min(raw.len()).max(1);
    if threads == 1 {
        return compress_part(raw);
    }
    let per = raw.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = raw.chunks(per).map(|part| scope.spawn(move || compress_part(part))).collect();
        // A thread that panicked (it cannot: compression of any input succeeds) would leave its
        // blocks out, which the reader reports as corrupt rather than writing wrong bytes.
        parts.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Blocks compressed one after another with one hash table and one output buffer: compressing
/// each into a new vector allocated and zeroed both for every block, and copied the result
/// once more to its exact length.
fn compress_part(raw: &[Vec<u8>]) -> Vec<Box<[u8]>> {
    let mut table = lz4_flex::block::CompressTable::default();
    let mut out: Vec<u8> = Vec::new();
    raw.iter()
        .map(|block| {
            let need = lz4_flex::block::get_maximum_output_size(block.len());
            if out.len() < need {
                out.resize(need, 0);
            }
            // The buffer holds the largest output possible, so compression cannot fail; were it
            // to, the empty block does not decompress and the reader reports it.
            match lz4_flex::block::compress_into_with_table(block, &mut out, &mut table) {
                Ok(n) => Box::from(out.get(..n).unwrap_or_default()),
                Err(_) => Box::default(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::value::{Map, Origin, Value};
    use kdep_diag::{FileId, TextRange};

    fn object(api_version: &str, kind: &str, name: &str, namespace: Option<&str>, app: &str, pad: usize) -> Manifest {
        let mut metadata = Map::new();
        metadata.insert("name", Value::from(name), Origin::computed());
        if let Some(ns) = namespace {
            metadata.insert("namespace", Value::from(ns), Origin::computed());
        }
        let mut m = Map::new();
        m.insert("apiVersion", Value::from(api_version), Origin::computed());
        m.insert("kind", Value::from(kind), Origin::computed());
        m.insert("metadata", Value::map(metadata), Origin::computed());
        // Text of varying length (with a character of two bytes), so blocks end at varying
        // places and objects straddle the nominal block size.
        m.insert("data", Value::from("é".repeat(pad)), Origin::computed());
        let span = Span::new(FileId(0), TextRange::new(0, 1));
        Manifest::from_object(Value::map(m), app, span, "a.kdep:1").unwrap_or_else(|e| panic!("{e}"))
    }

    /// Objects whose output order differs from their emission order in every key: namespaces
    /// first, kinds of the fixed order and unknown ones, no namespace before any, names that
    /// share long prefixes or are prefixes of others, bytes above 0x7f; duplicates (one in an
    /// early batch, one in a late one) and ties in every key but the group.
    fn crowd() -> Vec<Manifest> {
        let kinds = [("v1", "Service"), ("apps/v1", "Deployment"), ("example.com/v1", "Zebra"), ("v1", "ConfigMap")];
        let names = ["abcdefghijklmnopq", "abcdefghijklmnop", "abcdefghijklmnopé", "b", "a-", "a", "z\u{0}"];
        let namespaces = [None, Some("shop"), Some(""), Some("a")];
        let mut out = Vec::new();
        for i in 0..120usize {
            let (api, kind) = kinds.get(i % kinds.len()).copied().unwrap_or(("v1", "Service"));
            let name = format!("{}{}", names.get(i % names.len()).unwrap_or(&"c"), i / 29);
            let namespace = namespaces.get(i % namespaces.len()).copied().flatten();
            out.push(object(api, kind, &name, namespace, &format!("app{i}"), (i * 37) % 90));
            if i % 17 == 0 {
                out.push(object("v1", "Namespace", &format!("ns{}", 9 - i / 17), None, &format!("ns{i}"), i % 7));
            }
        }
        // Same kind, namespace and name as the first object, another group: not a duplicate,
        // ordered after it by emission.
        out.push(object("other.example.com/v1", "Service", "abcdefghijklmnopq0", None, "tie", 3));
        // The first object again, last: a duplicate across the first and last batch.
        out.push(object("v1", "Service", "abcdefghijklmnopq0", None, "again", 5));
        out
    }

    fn rendered(m: &[Manifest]) -> Vec<RenderedObject> {
        m.iter().map(|m| RenderedObject::render(m, Some("env"), crate::emit::Format::Yaml)).collect()
    }

    /// What the held objects give in output order: (app, text) of each, and the blocks read.
    fn read_back(held: &RenderedObjects) -> (Vec<(String, String)>, usize) {
        let mut reader = held.texts();
        let mut out = Vec::new();
        while let Some((o, text)) = reader.next() {
            out.push((o.app().to_owned(), text.map(str::to_owned).unwrap_or_else(|e| panic!("{e}"))));
        }
        (out, reader.blocks_decompressed())
    }

    /// Held in batches (each batch its own run, its texts in blocks of `block_bytes`) or as
    /// written, the objects come back in the order and with the texts and diagnostics of
    /// ordering all of them at once, and every block is decompressed once.
    #[test]
    fn runs_in_blocks_read_back_in_output_order() {
        let manifests = crowd();
        let (want_objects, want_diags) = manifest::order_and_deduplicate(rendered(&manifests));
        let want: Vec<(String, String)> =
            want_objects.iter().map(|o| (o.app().to_owned(), o.text.to_string())).collect();
        assert!(!want_diags.is_empty(), "the crowd has a duplicate");
        for batch in [1, 7, 40, 1000] {
            for block_bytes in [1, 100, 333, 4096, usize::MAX] {
                // From the first batch, never, or from a later batch (the first texts held as
                // written, the rest compressed: both read back in one order).
                for compress_from in [0, usize::MAX, 20_000] {
                    let mut holder = Holder::new(compress_from, block_bytes, 2);
                    let batches = manifests.len().div_ceil(batch);
                    for (k, part) in manifests.chunks(batch).enumerate() {
                        let part = rendered(part);
                        if k == 0 {
                            holder.first_batch(&part, 1, batches);
                        }
                        holder.add(part, k + 1, batches);
                    }
                    let (held, diags) = holder.finish();
                    let case = format!("batches of {batch}, blocks of {block_bytes}, from {compress_from}");
                    assert_eq!(diags, want_diags, "{case}");
                    let (got, decompressed) = read_back(&held);
                    assert!(got == want, "{case}: other objects or texts");
                    if compress_from != 20_000 {
                        assert_eq!(held.compressed_blocks() > 0, compress_from == 0, "{case}");
                    }
                    // Each block once: the runs were sorted by the output's own key.
                    assert!(decompressed <= held.compressed_blocks(), "{case}: {decompressed} decompressions");
                    if compress_from == 0 && block_bytes == 100 && batch == 40 {
                        assert!(held.compressed_blocks() > 3 * manifests.len().div_ceil(batch), "{case}");
                    }
                }
            }
        }
    }

    /// A block that does not decompress to what was compressed is reported, never written.
    #[test]
    fn a_damaged_block_is_reported() {
        let mut holder = Holder::new(0, 64, 1);
        let part = rendered(&crowd());
        holder.first_batch(&part, 1, 1);
        holder.add(part, 1, 1);
        let (mut held, _) = holder.finish();
        if let Some(block) = held.blocks.get_mut(0) {
            block.bytes = vec![0xff; 3].into_boxed_slice();
        }
        let mut reader = held.texts();
        let mut errors = 0;
        while let Some((_, text)) = reader.next() {
            errors += usize::from(text.is_err());
        }
        assert!(errors > 0);
        assert_eq!(held.into_texts().err(), Some(CorruptText));
    }
}
