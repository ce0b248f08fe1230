//! The browser build's memory allocator: power-of-two size classes with one free list each,
//! carved from memory the module grows page by page.
//!
//! The agent allocates a few kinds of things over and over (action records, beacon and outbox
//! texts, rule values), so freed blocks of a size are soon wanted again at that size. A block
//! never moves to another class and memory never shrinks (WebAssembly memory cannot), so the
//! high-water mark is at most twice the live bytes per class. In exchange the allocator is a few
//! hundred bytes of code where dlmalloc, Rust's default here, is about 8 kB: docs/size.md has
//! the measurements.
//!
//! WebAssembly in the browser has one thread (the crate does not build with the atomics
//! feature), so the state is a plain static cell.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;

/// Class `c` holds blocks of `1 << c` bytes, from 16 B up to 2 GiB.
const MIN_CLASS: usize = 4;
const CLASSES: usize = 32;
/// Every block is aligned to `min(its size, 16)`: no type here asks for more.
const MAX_ALIGN: usize = 16;
const PAGE: usize = 65_536;

struct State {
    /// The head of each class's free list; a free block's first word points to the next one.
    free: [usize; CLASSES],
    /// The unused memory at the end: `[next, end)`.
    next: usize,
    end: usize,
}

/// The allocator: `#[global_allocator]` in lib.rs.
pub struct Classes(UnsafeCell<State>);

// SAFETY: one thread (see the module docs), and no allocator call re-enters another.
unsafe impl Sync for Classes {}

impl Classes {
    /// An allocator with nothing carved yet.
    pub const fn new() -> Classes {
        Classes(UnsafeCell::new(State { free: [0; CLASSES], next: 0, end: 0 }))
    }
}

impl Default for Classes {
    fn default() -> Classes {
        Classes::new()
    }
}

/// The class of a layout: the smallest power of two that holds it. `None` when it cannot be
/// served (an alignment above [`MAX_ALIGN`] or a size above 2 GiB).
fn class(layout: Layout) -> Option<usize> {
    if layout.align() > MAX_ALIGN {
        return None;
    }
    let size = layout.size().max(1 << MIN_CLASS);
    let c = size.checked_next_power_of_two()?.trailing_zeros() as usize;
    (c < CLASSES).then_some(c)
}

impl State {
    /// A new block of class `c` from the end of memory, growing memory when it runs out.
    fn carve(&mut self, c: usize) -> *mut u8 {
        let size = 1usize << c;
        let start = (self.next + (size.min(MAX_ALIGN) - 1)) & !(size.min(MAX_ALIGN) - 1);
        let Some(stop) = start.checked_add(size) else { return null_mut() };
        if self.next == 0 || stop > self.end {
            let pages = size.div_ceil(PAGE) + 1;
            let old = core::arch::wasm32::memory_grow(0, pages);
            if old == usize::MAX {
                return null_mut();
            }
            // Memory that is not contiguous with the rest (the first call, or after memory grew
            // elsewhere) starts a new run; what is left of the old run is given up.
            if self.next == 0 || old * PAGE != self.end {
                self.next = old * PAGE;
            }
            self.end = (old + pages) * PAGE;
            return self.carve(c);
        }
        self.next = stop;
        start as *mut u8
    }
}

unsafe impl GlobalAlloc for Classes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class(layout) else { return null_mut() };
        // SAFETY: one thread, and this is the only reference to the state for this call.
        let st = unsafe { &mut *self.0.get() };
        let Some(head) = st.free.get_mut(c) else { return null_mut() };
        if *head == 0 {
            return st.carve(c);
        }
        let block = *head as *mut usize;
        // SAFETY: a free block of this class: its first word is the next free block.
        *head = unsafe { block.read() };
        block.cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(c) = class(layout) else { return };
        // SAFETY: as in `alloc`.
        let st = unsafe { &mut *self.0.get() };
        let Some(head) = st.free.get_mut(c) else { return };
        // SAFETY: `ptr` is a block of class `c` (at least 16 bytes, aligned) that is no longer used.
        unsafe { ptr.cast::<usize>().write(*head) };
        *head = ptr as usize;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new) = Layout::from_size_align(new_size, layout.align()) else { return null_mut() };
        if class(new).is_some() && class(new) == class(layout) {
            return ptr;
        }
        // SAFETY: the caller's contract for `realloc`, passed on to `alloc` and `dealloc`.
        unsafe {
            let out = self.alloc(new);
            if !out.is_null() {
                core::ptr::copy_nonoverlapping(ptr, out, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            out
        }
    }
}
