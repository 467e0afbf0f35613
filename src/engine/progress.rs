//! An optional observer of run progress (the browser's worker uses it to
//! drive a progress bar). It only watches: a run behaves identically with or
//! without a hook installed.

use std::cell::RefCell;

type Hook = Box<dyn FnMut(f64)>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Installs (or with `None` removes) the hook called with the fraction of
/// simulated time done, about fifty times per run.
pub fn set_hook(hook: Option<Hook>) {
    HOOK.with(|h| *h.borrow_mut() = hook);
}

/// Reports progress to the hook, if any.
pub(crate) fn report(fraction: f64) {
    HOOK.with(|h| {
        if let Ok(mut slot) = h.try_borrow_mut() {
            if let Some(f) = slot.as_mut() {
                f(fraction.clamp(0.0, 1.0));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn hook_sees_monotonic_progress_and_changes_nothing() {
        let s = crate::scenarios::find("rate-limiting").unwrap_or_else(|e| panic!("{e}"));
        let cfg = crate::spec::RunConfig {
            seed: 3,
            duration_s: 20.0,
        };
        let plain = s.run(&s.spec.defaults(), &cfg);
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&seen);
        set_hook(Some(Box::new(move |f| sink.borrow_mut().push(f))));
        let observed = s.run(&s.spec.defaults(), &cfg);
        set_hook(None);
        assert_eq!(plain, observed);
        let seen = seen.borrow();
        assert!(seen.len() >= 40, "{}", seen.len());
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        assert!(seen.last().is_some_and(|&f| f > 0.9));
    }
}
