//! The process's allocator: the system's, except that a block of 2 MiB or more
//! (the workers' flow tables and analysis pools, sized once at start) is a
//! mapping of its own, aligned to 2 MiB and advised for transparent huge pages
//! (`madvise(MADV_HUGEPAGE)`), and a zeroed one is faulted in before it is
//! returned.
//!
//! Why: a worker reads its flow table and pools at random places of ~90 MiB on
//! every packet. On 4 KiB pages many of those reads are also TLB misses, and the
//! first touch of each page is a page fault on the fast path. With the
//! kernel's default `madvise` mode nothing is on huge pages unless asked for;
//! DPDK's own memory (the mbufs) is on hugetlbfs already. Tables are not moved
//! to DPDK's allocator because the analysis also runs without an EAL (tests,
//! benches, `analysis_cost`).
//!
//! Faulting a zeroed block in at allocation makes the process hold, from start,
//! the memory its configuration asks for: RSS does not grow under load, and no
//! page fault is left for the first packets of a flood.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Blocks this large or larger are aligned and advised (a huge page on x86_64
/// and on aarch64 with 4 KiB base pages).
pub const HUGE_PAGE: usize = 2 << 20;
const BASE_PAGE: usize = 4096;

pub struct HugeHeap;

/// Bytes held in advised blocks, for the start-up line.
static ADVISED_BYTES: AtomicUsize = AtomicUsize::new(0);

fn is_huge(size: usize) -> bool {
    size >= HUGE_PAGE
}

/// The layout a huge block is allocated with: its size rounded up to whole
/// huge pages, aligned to one, so that every page of it can be a huge page.
fn huge_layout(layout: Layout) -> Option<Layout> {
    let size = layout.size().checked_next_multiple_of(HUGE_PAGE)?;
    Layout::from_size_align(size, layout.align().max(HUGE_PAGE)).ok()
}

/// Maps a block of `huge_layout`'s size at a huge-page boundary, advised for
/// huge pages: an anonymous mapping of one huge page more, trimmed at both
/// ends. Its memory is fresh, so zero and not yet touched when advised.
/// Null where the kernel refuses the mapping.
fn map_huge(huge: Layout) -> *mut u8 {
    let Some(len) = huge.size().checked_add(huge.align()) else {
        return std::ptr::null_mut();
    };
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choice touches no existing memory.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    let start = raw as usize;
    let aligned = start.next_multiple_of(huge.align());
    let (head, tail) = (aligned - start, start + len - (aligned + huge.size()));
    // SAFETY: the head and the tail are the parts of the new mapping outside
    // the aligned block; unmapping them leaves the block mapped. Failure
    // (ENOMEM splitting the mapping) would only keep them mapped, untouched.
    // madvise only changes how the kernel backs the block, never its
    // contents; failure (a kernel without THP) leaves it on base pages.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + huge.size()) as *mut libc::c_void, tail);
        }
        libc::madvise(
            aligned as *mut libc::c_void,
            huge.size(),
            libc::MADV_HUGEPAGE,
        );
    }
    ADVISED_BYTES.fetch_add(huge.size(), Ordering::Relaxed);
    aligned as *mut u8
}

// SAFETY: a block of `is_huge(layout.size())` is mapped by `map_huge` with
// `huge_layout(layout)` and unmapped with it; every other block is `System`'s
// with the caller's layout. `realloc` moves between the two kinds through
// `alloc` and `dealloc`.
unsafe impl GlobalAlloc for HugeHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_huge(layout.size()) {
            // SAFETY: forwarded as given.
            return unsafe { System.alloc(layout) };
        }
        huge_layout(layout).map_or(std::ptr::null_mut(), map_huge)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !is_huge(layout.size()) {
            // SAFETY: forwarded as given.
            return unsafe { System.alloc_zeroed(layout) };
        }
        let Some(huge) = huge_layout(layout) else {
            return std::ptr::null_mut();
        };
        let ptr = map_huge(huge);
        if ptr.is_null() {
            return ptr;
        }
        // A fresh mapping is zero already. Writing a zero into each of its
        // base pages maps them now, as huge pages where the kernel has them,
        // rather than on a worker's first touch.
        for offset in (0..huge.size()).step_by(BASE_PAGE) {
            // SAFETY: offset < huge.size(), inside the live block; volatile so
            // that storing the zero the byte holds is not elided.
            unsafe { ptr.add(offset).write_volatile(0) };
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !is_huge(layout.size()) {
            // SAFETY: allocated by System with this layout.
            return unsafe { System.dealloc(ptr, layout) };
        }
        // huge_layout gives None only for a layout `alloc` refused, of which
        // no block exists.
        if let Some(huge) = huge_layout(layout) {
            ADVISED_BYTES.fetch_sub(huge.size(), Ordering::Relaxed);
            // SAFETY: the block map_huge mapped for this layout, not used
            // after this call (the caller's guarantee).
            unsafe { libc::munmap(ptr.cast(), huge.size()) };
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !is_huge(layout.size()) && !is_huge(new_size) {
            // SAFETY: both blocks are of the system's kind; forwarded as given.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees new_size with layout.align() is a
        // valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a non-zero size (the caller's guarantee).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct; the copy stays within
            // the smaller of them.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

/// Bytes now held in blocks advised for huge pages.
pub fn advised_bytes() -> usize {
    ADVISED_BYTES.load(Ordering::Relaxed)
}

/// The kernel's transparent huge page mode (`always`, `madvise` or `never`),
/// or None where it cannot be read (no THP in the kernel).
pub fn thp_mode() -> Option<String> {
    let text = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?;
    selected_mode(&text).map(str::to_owned)
}

/// The bracketed word of a sysfs choice list: `always [madvise] never` → `madvise`.
fn selected_mode(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let len = text.get(start..)?.find(']')?;
    text.get(start..start + len)
}

/// Bytes of this process's memory on transparent huge pages
/// (`AnonHugePages` of `/proc/self/smaps_rollup`), None where it cannot be read.
pub fn anon_huge_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    smaps_kib(&text, "AnonHugePages:").map(|kib| kib << 10)
}

/// The value in KiB of one `Name:   1234 kB` line of an smaps file.
fn smaps_kib(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line.get(name.len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The start-up line: the advised tables, and how much of them the kernel
/// gave huge pages. A warning where it gives none, since it costs the workers
/// a TLB miss on most table reads.
pub fn describe() -> String {
    let advised = advised_bytes() >> 20;
    let mode = thp_mode();
    let held = anon_huge_bytes().map_or("unknown".to_owned(), |b| format!("{} MiB", b >> 20));
    match mode.as_deref() {
        Some(on @ ("always" | "madvise")) => format!(
            "huge pages: {advised} MiB of tables advised for transparent huge pages \
             (mode {on}), {held} held on them"
        ),
        Some(other) => format!(
            "huge pages: transparent huge pages are `{other}` in \
             /sys/kernel/mm/transparent_hugepage/enabled: the {advised} MiB of tables are on \
             4 KiB pages (set `madvise` for faster table reads)"
        ),
        None => format!(
            "huge pages: this kernel has no transparent huge pages: the {advised} MiB of \
             tables are on base pages"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address range of an smaps header line (`lo-hi perms offset …`).
    fn range_of(line: &str) -> Option<std::ops::Range<usize>> {
        let (lo, hi) = line.split_whitespace().next()?.split_once('-')?;
        Some(usize::from_str_radix(lo, 16).ok()?..usize::from_str_radix(hi, 16).ok()?)
    }

    /// The smaps entry of the mapping that holds `addr`, without its header.
    fn mapping_of(addr: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
        let mut lines = smaps.lines().peekable();
        while let Some(header) = lines.next() {
            let Some(range) = range_of(header) else {
                continue;
            };
            let mut body = String::new();
            while let Some(l) = lines.next_if(|l| range_of(l).is_none()) {
                body.push_str(l);
                body.push('\n');
            }
            if range.contains(&addr) {
                return body;
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    /// The value of one `Name: value` line of an smaps entry.
    fn field<'a>(body: &'a str, name: &str) -> &'a str {
        let value = body.lines().find_map(|l| l.strip_prefix(name));
        value
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .trim()
    }

    #[test]
    fn a_large_zeroed_block_is_aligned_advised_and_resident() {
        let layout = Layout::from_size_align(5 * HUGE_PAGE + 100, 8).expect("layout");
        let before = advised_bytes();
        // SAFETY: a non-zero size; freed below with the same layout.
        let ptr = unsafe { HugeHeap.alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        assert_eq!(ptr as usize % HUGE_PAGE, 0, "aligned to a huge page");
        assert!(advised_bytes() >= before + 6 * HUGE_PAGE);
        // SAFETY: the block is live and layout.size() bytes long.
        let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
        assert!(bytes.iter().all(|&b| b == 0), "zeroed");
        let mapping = mapping_of(ptr as usize);
        let flags = field(&mapping, "VmFlags:");
        // A kernel without THP refuses the advice (and has no mode to read).
        if thp_mode().is_some() {
            assert!(
                flags.split_whitespace().any(|f| f == "hg"),
                "advised: {flags}"
            );
        }
        // At least: the mapping may have merged with a neighbour advised alike.
        let rss_kib = smaps_kib(&mapping, "Rss:").expect("Rss");
        assert!(
            rss_kib >= (6 * HUGE_PAGE / 1024) as u64,
            "faulted in: Rss {rss_kib} kB"
        );
        if matches!(thp_mode().as_deref(), Some("always" | "madvise")) {
            assert_eq!(field(&mapping, "THPeligible:"), "1", "{mapping}");
        }
        // SAFETY: allocated above with this layout.
        unsafe { HugeHeap.dealloc(ptr, layout) };
    }

    #[test]
    fn small_blocks_are_the_systems_and_realloc_crosses_kinds_keeping_bytes() {
        let small = Layout::from_size_align(1000, 8).expect("layout");
        // SAFETY: non-zero sizes; each block freed with the layout it has.
        unsafe {
            let ptr = HugeHeap.alloc(small);
            assert!(!ptr.is_null());
            for i in 0..1000 {
                ptr.add(i).write(i as u8);
            }
            let big = HugeHeap.realloc(ptr, small, 3 * HUGE_PAGE);
            assert_eq!(big as usize % HUGE_PAGE, 0);
            assert!((0..1000).all(|i| big.add(i).read() == i as u8));
            let big_layout = Layout::from_size_align(3 * HUGE_PAGE, 8).expect("layout");
            let back = HugeHeap.realloc(big, big_layout, 500);
            assert!((0..500).all(|i| back.add(i).read() == i as u8));
            HugeHeap.dealloc(back, Layout::from_size_align(500, 8).expect("layout"));
        }
    }

    #[test]
    fn the_kernels_modes_and_sizes_are_read() {
        assert_eq!(selected_mode("always [madvise] never\n"), Some("madvise"));
        assert_eq!(selected_mode("[always] madvise never"), Some("always"));
        assert_eq!(selected_mode("always madvise never"), None);
        let rollup = "Rss:              123 kB\nAnonHugePages:   4096 kB\n";
        assert_eq!(smaps_kib(rollup, "AnonHugePages:"), Some(4096));
        assert_eq!(smaps_kib(rollup, "Swap:"), None);
    }
}
