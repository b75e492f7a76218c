//! How model files get into memory: read-only maps of the file (the
//! default, zero-copy) or a copy in the process's own huge pages
//! ([`Load`]), and the writer that lays new model files into the page
//! cache so that those maps are fast.
//!
//! Decoding reads every weight once per token, so the page size behind the
//! map matters: with 4 KiB pages a 90 MB model is 22 000 TLB entries a
//! token, and SmolLM2's decode ran 20-30% slower than from the same bytes
//! in 2 MiB pages (measured on this project's AMD EPYC machines). A Linux
//! file system with large folios (ext4 on the 6.18 kernel measured here;
//! others that support them alike) keeps a file in 2 MiB page-cache folios
//! when it is read in with huge-page readahead or written in whole aligned
//! 2 MiB pieces, and maps them with single TLB entries when the map is
//! 2 MiB-aligned (which ext4 arranges for large maps).
//! [`map_file`] asks for the first, [`ChunkWriter`] does the second.

use crate::progress::Progress;
use crate::{Error, Result};
use memmap2::Mmap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// How a model's weights get into memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Load {
    /// Map the file read-only, in place (the default): opening costs
    /// nothing, the memory is the page cache's (shared with every process
    /// that maps the file), and the file must not change while open: a
    /// file truncated under the map kills the process with SIGBUS when a
    /// weight past the new end is read (no error can be returned), and a
    /// rewritten one changes the weights in use. Choose [`Load::Read`]
    /// for files that other programs may replace.
    /// Decoding is fastest when the file sits in the page cache in 2 MiB
    /// folios: true of files minke wrote or read in cold, not always of
    /// files that other programs wrote or read first.
    #[default]
    Map,
    /// Read the file into this process's own memory, in 2 MiB pages where
    /// the OS allows: opening costs one copy of the file (0.1-0.2 s per
    /// 100 MB from the page cache on the machines measured), the weights then
    /// decode at full speed whatever state the page cache is in, and the
    /// file may change or go away once open. Resident memory is the same
    /// as a map whose pages have all been touched.
    Read,
}

/// A model file's bytes, however they were loaded.
pub(crate) struct FileBytes {
    map: Mmap,
    /// The file's length: a read-in copy is rounded up to whole huge pages.
    len: usize,
}

impl FileBytes {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map[..self.len]
    }
}

/// Loads `path` as `load` says.
pub(crate) fn load_file(path: &Path, load: Load) -> Result<FileBytes> {
    load_file_with(path, load, &mut Progress::none())
}

/// [`load_file`], reporting the bytes read (a map reads none: it reports
/// its step done at once).
pub(crate) fn load_file_with(
    path: &Path,
    load: Load,
    progress: &mut Progress<'_>,
) -> Result<FileBytes> {
    match load {
        Load::Map => {
            let map = map_file(path)?;
            let len = map.len();
            progress.step(1, 1)?;
            Ok(FileBytes { map, len })
        }
        Load::Read => read_file(path, progress),
    }
}

/// Reads `path` into an anonymous map advised into huge pages, then makes
/// the map read-only.
fn read_file(path: &Path, progress: &mut Progress<'_>) -> Result<FileBytes> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let len = usize::try_from(file.metadata().map_err(io)?.len())
        .map_err(|_| io(std::io::Error::other("file too large for memory")))?;
    // Whole huge pages (Linux aligns an anonymous map whose length is a
    // multiple of 2 MiB to 2 MiB); at least one, as empty maps are errors.
    let mut anon = memmap2::MmapOptions::new()
        .len(len.next_multiple_of(CHUNK).max(CHUNK))
        .map_anon()
        .map_err(io)?;
    #[cfg(target_os = "linux")]
    {
        // A hint: 4 KiB pages otherwise.
        let _ = anon.advise(memmap2::Advice::HugePage);
    }
    // A file cut short while we read is an error here (UnexpectedEof);
    // anything appended after `len` is not read. Read in chunks, so that
    // the progress callback sees the bytes arrive and may stop the read.
    progress.step(0, len as u64)?;
    for start in (0..len).step_by(READ_CHUNK) {
        let end = (start + READ_CHUNK).min(len);
        std::io::Read::read_exact(&mut file, &mut anon[start..end]).map_err(io)?;
        progress.step(end as u64, len as u64)?;
    }
    let map = anon.make_read_only().map_err(io)?;
    Ok(FileBytes { map, len })
}

/// Maps `path` read-only.
fn map_file(path: &Path) -> Result<Mmap> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // SAFETY: the map is read-only, and shared with the page cache: it
    // shows the file as it is, so the bytes behind a `&[u8]` change if
    // someone rewrites the file, and a read past a truncated end raises
    // SIGBUS, which nothing in-process can turn into an error. (A private
    // map would not help: its untouched pages are the page cache's too.)
    // Like every mmap-based loader (llama.cpp, candle, safetensors) we
    // require that a model file does not change while it is open, and say
    // so where a caller chooses: `Load`, `Model::open`, the C header's
    // `use_mmap` and the CLI's `--no-mmap`. `Load::Read` is the choice
    // for files that may change.
    let map = unsafe { Mmap::map(&file) }.map_err(io)?;
    #[cfg(target_os = "linux")]
    {
        // Pages not yet in the page cache are read in as 2 MiB folios
        // where the file system can (see the module docs). Pages already
        // cached keep their size. A hint: failure is harmless.
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    #[cfg(unix)]
    {
        // Weights are read front to back once per token; ask the kernel to
        // read ahead. Advice is a hint: failure is harmless.
        let _ = map.advise(memmap2::Advice::WillNeed);
    }
    Ok(map)
}

/// This machine's physical memory in bytes, where the OS says.
pub(crate) fn physical_memory() -> Option<usize> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf reads system constants; no pointers involved.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && size > 0 {
            return (pages as usize).checked_mul(size as usize);
        }
    }
    None
}

/// Bytes of the maps that hold `ranges` which are backed by 2 MiB pages,
/// from `/proc/self/smaps` (`FilePmdMapped` for file maps,
/// `AnonHugePages` for read-in copies). `None` if it cannot be read.
pub(crate) fn huge_page_bytes(ranges: &[std::ops::Range<usize>]) -> Option<usize> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    // A read-in copy's last huge page reaches past the file.
    let len = ranges.iter().map(|r| r.len()).sum();
    Some(smaps_huge_bytes(&smaps, ranges).min(len))
}

/// [`huge_page_bytes`] of an smaps text.
fn smaps_huge_bytes(smaps: &str, ranges: &[std::ops::Range<usize>]) -> usize {
    let mut total = 0;
    let mut inside = false;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((a, b)) = first.split_once('-') {
            // A mapping's header line: "start-end perms offset dev inode path".
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                inside = ranges.iter().any(|r| r.start < b && a < r.end);
                continue;
            }
        }
        if inside && (first == "FilePmdMapped:" || first == "AnonHugePages:") {
            let kb: usize = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            total += kb * 1024;
        }
    }
    total
}

/// Bytes [`read_file`] reads between two progress reports: small enough
/// that a slow disk reports often, large enough that reads stay efficient.
const READ_CHUNK: usize = 16 << 20;

/// Bytes a [`ChunkWriter`] hands the file at once: one huge page.
pub const CHUNK: usize = 2 << 20;

/// A buffered writer that writes whole [`CHUNK`]s at multiples of
/// [`CHUNK`] (and the remainder last), so that a file system with large
/// folios caches the new file in 2 MiB pages: a model loaded right after
/// `minke quantize` wrote it then decodes at full speed (see the module
/// docs). `std::io::BufWriter` passes large writes through unbuffered at
/// whatever offset they start, which leaves a file in small folios.
/// Unlike `BufWriter` it writes nothing on drop: end with
/// [`ChunkWriter::into_inner`] or `flush`, whose errors then reach the
/// caller (a writer dropped on an error path leaves the rest unwritten).
pub struct ChunkWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> ChunkWriter<W> {
    /// Wraps `inner`, which must be at offset 0 of its file.
    pub fn new(inner: W) -> ChunkWriter<W> {
        ChunkWriter {
            inner,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    /// Writes what is buffered and returns the inner writer.
    pub fn into_inner(mut self) -> std::io::Result<W> {
        self.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ChunkWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let take = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() == CHUNK {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(take)
    }

    /// Writes the partial chunk: call it only at the end of the file, or
    /// the chunks after it lose their alignment.
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the size of every write it gets.
    #[derive(Default)]
    struct Writes(Vec<usize>, Vec<u8>);

    impl Write for Writes {
        fn write(&mut self, d: &[u8]) -> std::io::Result<usize> {
            self.0.push(d.len());
            self.1.extend_from_slice(d);
            Ok(d.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn smaps_count_only_the_model_maps() {
        let smaps = "\
7f0000000000-7f0000600000 r--s 00000000 fe:01 123 /m/model.minke
Size:               6144 kB
AnonHugePages:         0 kB
FilePmdMapped:      4096 kB
7f0000600000-7f0000800000 rw-p 00000000 00:00 0
AnonHugePages:      2048 kB
FilePmdMapped:         0 kB
7f1000000000-7f1000400000 rw-p 00000000 00:00 0
AnonHugePages:      4096 kB
";
        let at = |a: usize, len: usize| a..a + len;
        let file = at(0x7f00_0000_0000, 0x5f_0000);
        let read_in = at(0x7f10_0000_0000, 0x30_0000);
        assert_eq!(
            smaps_huge_bytes(smaps, std::slice::from_ref(&file)),
            4096 * 1024
        );
        assert_eq!(
            smaps_huge_bytes(smaps, std::slice::from_ref(&read_in)),
            4096 * 1024
        );
        assert_eq!(smaps_huge_bytes(smaps, &[file, read_in]), 8192 * 1024);
        assert_eq!(smaps_huge_bytes(smaps, &[at(0x1000, 0x1000)]), 0);
        // The real file: this process's own maps parse.
        assert!(huge_page_bytes(&[]).is_none_or(|b| b == 0));
    }

    #[test]
    fn chunks_are_whole_and_the_bytes_unchanged() {
        let mut w = ChunkWriter::new(Writes::default());
        let mut want = Vec::new();
        for (i, n) in [7usize, CHUNK, 3 * CHUNK + 5, 1, 0, CHUNK - 13, 100]
            .into_iter()
            .enumerate()
        {
            let piece: Vec<u8> = (0..n).map(|j| (i * 31 + j) as u8).collect();
            w.write_all(&piece).unwrap();
            want.extend_from_slice(&piece);
        }
        let got = w.into_inner().unwrap();
        assert_eq!(got.1, want);
        let (last, whole) = got.0.split_last().unwrap();
        assert!(whole.iter().all(|&n| n == CHUNK), "{:?}", got.0);
        assert_eq!(*last, want.len() % CHUNK);
    }
}
