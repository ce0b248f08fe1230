//! rumprops: typed, declarative property capture for real-user monitoring.
//!
//! A JSON list of rules ([`config::Config`]) says which values to read from a page (CSS
//! selectors, meta tags, cookies, the query string, JS globals) and how to type them (string,
//! long, double, date). The core in this crate is plain Rust: it sees the page only through
//! the [`page::Page`] trait, so the same rules give the same values in the browser (WASM,
//! `browser` module) and natively (scraper, `native` module, used by `rumprops eval`).
//!
//! A rule's path: [`config::Config::parse`] validates it, [`capture::evaluate`] reads its
//! source through a `Page` and runs [`capture::finish`] (trim, cleanup, `ignoreCase`,
//! [`value::type_text`], truncation), and [`session::SessionProps`] folds session-stored values.
//!
//! # Browser vs native
//!
//! | what | browser | native (scraper) |
//! |---|---|---|
//! | form values | live `value` (what the user typed) | the value right after parsing |
//! | JS globals | live `window` | a JSON object given with `--js`; no functions, getters or proxies |
//! | CSS selectors | the browser's engine | `selectors` crate: no state pseudo-classes (`:checked`, `:hover`, …) |
//! | cookies, URL | `document.cookie`, `location.href` | given with `--cookie`, `--url` |
//!
//! Everything after the raw read (whitespace, decoding, JSON `$` segments, regex dialect,
//! date parsing, number formatting) is this crate's own code and identical on both sides.
#![no_std]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::todo,
        clippy::unimplemented,
        clippy::unreachable
    )
)]

extern crate alloc;
#[cfg(any(test, feature = "std", not(target_arch = "wasm32")))]
extern crate std;

/// What the standard prelude would bring: the crate is `no_std` so that the browser build can
/// leave out std's panic machinery.
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::vec;
    #[allow(unused_imports)] // in tests and native-only code
    pub use alloc::format;
}

pub mod agent;
#[cfg(target_arch = "wasm32")]
pub mod heap;
pub mod capture;
pub mod config;
pub mod json;
pub mod page;
pub mod platform;
pub mod regex;
pub mod session;
#[cfg(not(target_arch = "wasm32"))]
pub mod sha256;
pub mod small;
pub mod text;
pub mod value;
pub mod watch;

#[cfg(not(target_arch = "wasm32"))]
pub mod native;

#[cfg(target_arch = "wasm32")]
pub mod browser;

#[cfg(target_arch = "wasm32")]
pub mod runtime;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: heap::Classes = heap::Classes::new();

/// The shipped module (built without `std`): a panic, which the code is written never to reach,
/// traps, and the loader stops calling the module.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

pub use capture::{Issue, Outcome, PropertyMap, Report};
pub use config::{Config, ConfigError, Property, Source};
pub use page::Page;
pub use value::{PropType, PropertyValue, Reason};
