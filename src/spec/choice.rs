//! Choice parameters as Rust enums, and a log of what a model reads.
//!
//! A model reads a select parameter with [`Params::pick`](super::Params::pick)
//! into an enum that implements [`Choice`] (with [`choices!`]): the enum
//! carries its option names, so a misspelt option fails instead of
//! falling through to a default, and the registry test checks that the
//! names equal the data file's options. The same test runs every model
//! with [`with_read_log`] to check that every declared parameter is read.

use std::cell::RefCell;

/// An enum whose variants are the options of a select parameter.
pub trait Choice: Copy + 'static {
    /// The option names, in the order of [`Choice::from_index`].
    const NAMES: &'static [&'static str];

    /// The variant named `NAMES[i]`.
    fn from_index(i: usize) -> Option<Self>;

    /// The variant called `name`.
    fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(Self::from_index)
    }
}

/// Implements [`Choice`] for an enum: `choices!(Strategy { Strategy::Naive
/// = "naive_retry", … })`, each variant with the option name it stands for.
#[macro_export]
macro_rules! choices {
    ($ty:ty { $($variant:path = $name:literal),+ $(,)? }) => {
        impl $crate::spec::Choice for $ty {
            const NAMES: &'static [&'static str] = &[$($name),+];
            fn from_index(i: usize) -> Option<Self> {
                [$($variant),+].get(i).copied()
            }
        }
    };
}

/// One parameter read by a model: its key and, for a choice read into an
/// enum, the enum's option names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// The parameter.
    pub key: String,
    /// The names of the enum it was read into (None: not a choice).
    pub options: Option<&'static [&'static str]>,
}

thread_local! {
    static READS: RefCell<Option<Vec<Read>>> = const { RefCell::new(None) };
}

/// Runs `f`, returning what it returned and every parameter read on this
/// thread meanwhile.
pub fn with_read_log<R>(f: impl FnOnce() -> R) -> (R, Vec<Read>) {
    READS.with(|r| *r.borrow_mut() = Some(Vec::new()));
    let out = f();
    let reads = READS.with(|r| r.borrow_mut().take()).unwrap_or_default();
    (out, reads)
}

/// Notes a read, if a log is open.
pub(crate) fn note(key: &str, options: Option<&'static [&'static str]>) {
    READS.with(|r| {
        if let Some(log) = r.borrow_mut().as_mut() {
            log.push(Read {
                key: key.to_string(),
                options,
            });
        }
    });
}
