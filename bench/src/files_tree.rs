//! The files benchmark's trees: a realistic share with deterministic bytes, and a big-file set.
//!
//! The tree (default 100,000 files) is mostly small files, log-uniform between 1 and 64 KB, in folders up
//! to 12 levels deep, plus a few large files (10–200 MB). About one name in ten is awkward the way real
//! shares are: spaces, non-ASCII (accents, CJK), `#%&`, leading dots; two files carry a TAB and two a
//! newline in their names ("a name containing a TAB or a newline is a file like any other"). The same
//! `(seed, shape)` always gives the same names and bytes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Deepest folder level (the root's children are level 1).
pub const MAX_DEPTH: usize = 12;
/// Bytes of the random pool every file's content is cut from.
const POOL: usize = 4 << 20;
const KB: u64 = 1024;
const MB: u64 = 1024 * 1024;

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Files in the tree, large ones included.
    pub files: usize,
    /// How many of them are large (10–200 MB).
    pub large: usize,
    /// Cap on the large files' total bytes (sizes are scaled down to fit).
    pub large_cap: u64,
    /// Smallest and largest large-file size.
    pub large_min: u64,
    pub large_max: u64,
    pub seed: u64,
}

impl Shape {
    /// ~100k files (`quick`: 5k), with 6 large files (2 with `quick`) under `large_cap` bytes.
    pub fn new(files: usize, quick: bool, large_cap: u64, seed: u64) -> Shape {
        Shape {
            files,
            large: if quick { 2 } else { 6 },
            large_cap,
            large_min: 10 * MB,
            large_max: if quick { 40 * MB } else { 200 * MB },
            seed,
        }
    }

    /// Expected bytes, for the free-space check before anything is written: the small files' mean
    /// (log-uniform 1–64 KB: 63 KB ÷ ln 64 ≈ 15.2 KB) plus the large-file cap.
    pub fn estimate_bytes(&self) -> u64 {
        let small = self.files.saturating_sub(self.large) as u64 * 15_500;
        small + self.large_cap
    }
}

/// What was written.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Written {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    pub deepest: usize,
    pub awkward: u64,
}

/// Random bytes that file contents are sliced from (fast to write, incompressible).
struct Pool(Vec<u8>);

impl Pool {
    fn new(rng: &mut fastrand::Rng) -> Pool {
        let mut v = vec![0u8; POOL];
        for chunk in v.chunks_mut(8) {
            let x = rng.u64(..).to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
        Pool(v)
    }

    /// Write `len` bytes starting at a random offset of the pool (wrapping).
    fn write(&self, rng: &mut fastrand::Rng, out: &mut impl Write, mut len: u64) -> io::Result<()> {
        let mut at = rng.usize(..POOL);
        while len > 0 {
            let n = (POOL - at).min(len.min(usize::MAX as u64) as usize);
            out.write_all(&self.0[at..at + n])?;
            len -= n as u64;
            at = 0;
        }
        Ok(())
    }
}

fn log_uniform(rng: &mut fastrand::Rng, lo: u64, hi: u64) -> u64 {
    let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
    (l + rng.f64() * (h - l)).exp().round() as u64
}

/// A folder name: mostly plain, sometimes awkward.
fn dir_name(rng: &mut fastrand::Rng, i: usize) -> (String, bool) {
    match rng.u32(..100) {
        0..=2 => (format!("Projets été {i}"), true),
        3..=4 => (format!(".config-{i}"), true),
        5..=6 => (format!("Q&A #{i} (50%)"), true),
        7 => (format!("資料 {i}"), true),
        _ => (format!("dir-{i:05}"), false),
    }
}

/// A file name: mostly plain, sometimes awkward. `special` forces a TAB (1) or a newline (2).
fn file_name(rng: &mut fastrand::Rng, i: usize, special: u8) -> (String, bool) {
    match special {
        1 => return (format!("tab\there {i}.txt"), true),
        2 => return (format!("new\nline {i}.txt"), true),
        _ => {}
    }
    match rng.u32(..100) {
        0..=2 => (format!("report {i} final version.docx"), true),
        3..=4 => (format!("Übersicht-ñandú-日本語-{i}.xlsx"), true),
        5..=6 => (format!("50% off #{i} & more.pdf"), true),
        7..=8 => (format!(".hidden-{i}"), true),
        9 => (format!("emoji 🚀 {i}.png"), true),
        _ => {
            let ext = ["txt", "pdf", "docx", "jpg", "csv", "xml"][i % 6];
            (format!("file-{i:06}.{ext}"), false)
        }
    }
}

/// The folders of a tree of `files` files: one chain straight down to `MAX_DEPTH`, the rest hung under
/// the last folder made (making chains) or a random one (making breadth). Returns relative paths with
/// their depth; index 0 is the root.
fn folders(rng: &mut fastrand::Rng, files: usize, w: &mut Written) -> Vec<(PathBuf, usize)> {
    let count = (files / 30).max(MAX_DEPTH + 1);
    let mut dirs: Vec<(PathBuf, usize)> = vec![(PathBuf::new(), 0)];
    for i in 1..count {
        // The first MAX_DEPTH folders make the deepest chain; then half the time the last folder made.
        let parent = if i <= MAX_DEPTH || (rng.bool() && dirs[i - 1].1 < MAX_DEPTH) {
            i - 1
        } else {
            loop {
                let p = rng.usize(..dirs.len());
                if dirs[p].1 < MAX_DEPTH {
                    break p;
                }
            }
        };
        let (name, awkward) = dir_name(rng, i);
        w.awkward += u64::from(awkward);
        let (ppath, pdepth) = dirs[parent].clone();
        dirs.push((ppath.join(name), pdepth + 1));
    }
    dirs
}

/// Write the tree under `root` (created). `interrupted` is checked every 1,000 files.
pub fn generate(root: &Path, shape: &Shape, interrupted: &dyn Fn() -> bool) -> io::Result<Written> {
    let mut rng = fastrand::Rng::with_seed(shape.seed);
    let pool = Pool::new(&mut rng);
    let mut w = Written::default();
    let dirs = folders(&mut rng, shape.files, &mut w);
    for (d, depth) in &dirs {
        fs::create_dir_all(root.join(d))?;
        w.deepest = w.deepest.max(*depth);
    }
    w.dirs = dirs.len() as u64 - 1;
    // Large files: log-uniform sizes, scaled down together to fit the cap.
    let large = shape.large.min(shape.files);
    let mut large_sizes: Vec<u64> = (0..large)
        .map(|_| log_uniform(&mut rng, shape.large_min, shape.large_max))
        .collect();
    let total: u64 = large_sizes.iter().sum();
    if total > shape.large_cap && total > 0 {
        let f = shape.large_cap as f64 / total as f64;
        for s in &mut large_sizes {
            *s = ((*s as f64 * f) as u64).max(MB);
        }
    }
    // Indexes of the files that get a TAB / a newline in their name.
    let n = shape.files;
    let specials = [(n / 7, 1), (n / 3, 1), (n / 2, 2), (n * 5 / 6, 2)];
    for i in 0..n {
        if i % 1000 == 0 && interrupted() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        let special = specials
            .iter()
            .find(|(at, _)| *at == i)
            .map_or(0, |(_, k)| *k);
        let (name, awkward) = file_name(&mut rng, i, special);
        w.awkward += u64::from(awkward);
        // Deeper folders get files too: pick a random folder (the root included).
        let (dir, _) = &dirs[rng.usize(..dirs.len())];
        let size = match i.checked_sub(n - large) {
            Some(k) => large_sizes[k],
            None => log_uniform(&mut rng, KB, 64 * KB),
        };
        let path = root.join(dir).join(name);
        let mut f = io::BufWriter::with_capacity(256 * 1024, fs::File::create(&path)?);
        pool.write(&mut rng, &mut f, size)?;
        f.flush()?;
        w.files += 1;
        w.bytes += size;
    }
    Ok(w)
}

/// `count` files of `size` bytes each in `root` (created): the MB/s set.
pub fn generate_big(root: &Path, count: usize, size: u64, seed: u64) -> io::Result<Written> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xb16);
    let pool = Pool::new(&mut rng);
    fs::create_dir_all(root)?;
    let mut w = Written::default();
    for i in 0..count {
        let mut f = io::BufWriter::with_capacity(
            1 << 20,
            fs::File::create(root.join(format!("big-{i}.bin")))?,
        );
        pool.write(&mut rng, &mut f, size)?;
        f.flush()?;
        w.files += 1;
        w.bytes += size;
    }
    Ok(w)
}

/// `files` tiny files (16–64 bytes) in `parts` top-level folders of equal size, 100 files per folder:
/// the RSS-flatness tree (`part-0` alone is the small run, the whole tree the large one).
pub fn generate_tiny(
    root: &Path,
    files: usize,
    parts: usize,
    seed: u64,
    interrupted: &dyn Fn() -> bool,
) -> io::Result<Written> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x7177);
    let pool = Pool::new(&mut rng);
    let mut w = Written::default();
    let per_part = files.div_ceil(parts.max(1));
    for i in 0..files {
        if i % 1000 == 0 && interrupted() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        let (part, k) = (i / per_part, i % per_part);
        let dir = root
            .join(format!("part-{part}"))
            .join(format!("d{:03}", k / 10_000))
            .join(format!("d{:03}", (k / 100) % 100));
        if k % 100 == 0 {
            fs::create_dir_all(&dir)?;
            w.dirs += 1;
        }
        let size = rng.u64(16..=64);
        let mut f = fs::File::create(dir.join(format!("f{i:07}.txt")))?;
        pool.write(&mut rng, &mut f, size)?;
        w.files += 1;
        w.bytes += size;
    }
    w.deepest = 3;
    Ok(w)
}

/// Regular files and their bytes under `root` (symlinks not followed; a missing root counts 0).
pub fn count(root: &Path) -> io::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound && dir == root => return Ok((0, 0)),
            Err(e) => return Err(e),
        };
        for e in entries {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                files += 1;
                bytes += e.metadata()?.len();
            }
        }
    }
    Ok((files, bytes))
}

/// Free bytes for the bench under `dir`: the smaller of the filesystem's available space (`df`) and,
/// for tmpfs, the memory the kernel says is available (tmpfs pages are RAM).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .args(["-Pk", "--"])
        .arg(dir)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1)?;
    let avail_kb: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    let mem_kb = fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemAvailable:"))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    });
    let is_tmpfs = fs::read_to_string("/proc/mounts").ok().is_some_and(|m| {
        m.lines().any(|l| {
            let mut it = l.split_whitespace();
            let (_, mnt, fstype) = (it.next(), it.next(), it.next());
            fstype == Some("tmpfs") && mnt.is_some_and(|p| dir.starts_with(p) && p != "/")
        })
    });
    Some(match (is_tmpfs, mem_kb) {
        (true, Some(m)) => avail_kb.min(m) * 1024,
        _ => avail_kb * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_tree_has_deep_folders_awkward_names_and_the_right_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shape = Shape {
            files: 600,
            large: 1,
            large_cap: 2 * MB,
            large_min: MB,
            large_max: 2 * MB,
            seed: 7,
        };
        let w = generate(dir.path(), &shape, &|| false).expect("generate");
        assert_eq!(w.files, 600);
        assert_eq!(w.deepest, MAX_DEPTH);
        assert!(w.awkward > 0);
        assert_eq!(count(dir.path()).expect("count"), (w.files, w.bytes));
        let again = tempfile::tempdir().expect("tempdir");
        let w2 = generate(again.path(), &shape, &|| false).expect("generate");
        assert_eq!((w.files, w.bytes), (w2.files, w2.bytes), "deterministic");
    }
}
