//! Pages (`struct page`) as the notification queue uses them: note pages
//! that hold up to `PAGE_SIZE / 128` records, and the data pages of plain
//! pipes. A page is freed when its reference count reaches zero
//! (`put_page()`, `__free_page()`), which the heap tracker records.

use crate::heap::{Id, null_deref};
use crate::invariant::{Inv, fail};
use crate::kernel::Cx;
use crate::sync::{KCell, instr};
use crate::trace;

/// Bytes per chunk of page data. Notes are 128 bytes, so a note never
/// straddles two chunks; plain pipe data may.
pub const CHUNK: usize = 128;

/// Models `struct page`.
#[derive(Debug)]
pub struct Page {
    /// `page_count()`.
    count: instr::AtomicI64,
    /// `page->private`: for note pages, the number of the page's first note.
    pub private: KCell<u32>,
    data: Vec<KCell<[u8; CHUNK]>>,
}

impl Page {
    /// `page_count()`.
    pub fn page_count(&self) -> i64 {
        self.count.load(instr::Ordering::Relaxed)
    }
    /// Copy `bytes` into the page at `off` (`memcpy` into a mapped page).
    #[track_caller]
    pub fn write(&self, off: usize, bytes: &[u8]) {
        let end = off + bytes.len();
        if end > self.data.len() * CHUNK {
            fail(Inv::H3, format!("page-out-of-bounds: write of [{off}, {end}) in {}", trace::current_fn()));
        }
        let mut pos = off;
        let mut src = 0;
        while pos < end {
            let c = pos / CHUNK;
            let o = pos % CHUNK;
            let n = (CHUNK - o).min(end - pos);
            self.data[c].with_mut(|d| d[o..o + n].copy_from_slice(&bytes[src..src + n]));
            pos += n;
            src += n;
        }
    }
    /// Copy `len` bytes out of the page at `off`.
    #[track_caller]
    pub fn read(&self, off: usize, len: usize) -> Vec<u8> {
        let end = off + len;
        if end > self.data.len() * CHUNK {
            fail(Inv::H3, format!("page-out-of-bounds: read of [{off}, {end}) in {}", trace::current_fn()));
        }
        let mut out = Vec::with_capacity(len);
        let mut pos = off;
        while pos < end {
            let c = pos / CHUNK;
            let o = pos % CHUNK;
            let n = (CHUNK - o).min(end - pos);
            self.data[c].with(|d| out.extend_from_slice(&d[o..o + n]));
            pos += n;
        }
        out
    }
}

/// `alloc_page(GFP_KERNEL)`: a fresh page with one reference, or `None`
/// when fault injection fails it.
pub fn alloc_page(cx: &Cx<'_>, site: &'static str) -> Option<Id<Page>> {
    if cx.k.heap.fail_nth.should_fail(site) {
        return None;
    }
    let chunks = cx.k.config.page_size as usize / CHUNK;
    let page = Page {
        count: instr::AtomicI64::new(1),
        private: KCell::new(0),
        data: (0..chunks).map(|_| KCell::new([0u8; CHUNK])).collect(),
    };
    Some(cx.k.heap.alloc_in(&cx.k.pages, "page", page).0)
}

/// `get_page()`.
#[track_caller]
pub fn get_page(cx: &Cx<'_>, page: Id<Page>) {
    let p = cx.k.pages.get(page);
    p.count.fetch_add(1, instr::Ordering::Relaxed);
}

/// `put_page()`: drop a reference; the last one frees the page.
#[track_caller]
pub fn put_page(cx: &Cx<'_>, page: Id<Page>) {
    let p = cx.k.pages.get(page);
    let old = p.count.fetch_sub(1, instr::Ordering::Relaxed);
    if old <= 0 {
        fail(
            Inv::H2,
            format!(
                "double-free: page#{} reference count underflow in {}",
                crate::heap::Obj::hdr(&p).id(),
                trace::current_fn()
            ),
        );
    }
    if old == 1 {
        cx.k.heap.kfree(crate::heap::Obj::hdr(&p));
    }
}

/// `__free_page()`: drop the allocation's reference. A NULL page is a
/// NULL dereference.
#[track_caller]
pub fn __free_page(cx: &Cx<'_>, page: Option<Id<Page>>) {
    match page {
        Some(p) => put_page(cx, p),
        None => null_deref("__free_page(NULL)"),
    }
}
