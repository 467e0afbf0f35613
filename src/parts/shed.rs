//! Priority load shedding: under pressure, turn away the least important
//! requests first, and let them back in only once the pressure has clearly
//! gone (hysteresis), so the shedder does not flap around its threshold.
//!
//! Requests carry a priority class, 0 (P0, most important: checkout, login)
//! to 2 (P2: recommendations, analytics). [`Shedder::observe`] is told a
//! pressure signal at each check (CPU utilization, queue length, whatever
//! the model measures): above `shed_above` one more class is shed, below
//! `restore_below` one class comes back; in between nothing changes. P0 is
//! never shed. One class per check, so the response is a staircase whose
//! speed is the check interval.

/// Priority classes: P0, P1, P2.
pub const CLASSES: u8 = 3;

/// A shedder's thresholds, in the unit of the signal it watches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShedSpec {
    /// Shed one more class when the signal is above this.
    pub shed_above: f64,
    /// Restore one class when the signal is below this (at most
    /// `shed_above`: the gap between them is the hysteresis).
    pub restore_below: f64,
    /// The most classes it sheds: 1 turns away P2 only, 2 (the most, since
    /// P0 is never shed) P2 and then P1.
    pub deepest: u8,
}

/// The shedder's state: how many of the lowest classes are shed.
#[derive(Clone, Debug)]
pub struct Shedder {
    spec: ShedSpec,
    shed: u8,
    /// Times a class was shed, and restored.
    sheds: u64,
    restores: u64,
}

impl Shedder {
    /// A shedder admitting every class.
    pub fn new(spec: ShedSpec) -> Self {
        let spec = ShedSpec {
            restore_below: spec.restore_below.min(spec.shed_above),
            deepest: spec.deepest.min(CLASSES - 1),
            ..spec
        };
        Self {
            spec,
            shed: 0,
            sheds: 0,
            restores: 0,
        }
    }

    /// One check of the pressure `signal`.
    pub fn observe(&mut self, signal: f64) {
        if signal > self.spec.shed_above && self.shed < self.spec.deepest {
            self.shed += 1;
            self.sheds += 1;
        } else if signal < self.spec.restore_below && self.shed > 0 {
            self.shed -= 1;
            self.restores += 1;
        }
    }

    /// Whether a request of priority `class` is let in now.
    pub fn admits(&self, class: u8) -> bool {
        class.min(CLASSES - 1) < CLASSES - self.shed
    }

    /// How many of the lowest classes are shed now (0 to 2).
    pub fn shed_classes(&self) -> u8 {
        self.shed
    }

    /// Classes shed, and restored, over the run.
    pub fn changes(&self) -> (u64, u64) {
        (self.sheds, self.restores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(s: &Shedder) -> Vec<u8> {
        (0..CLASSES).filter(|&c| s.admits(c)).collect()
    }

    #[test]
    fn pressure_sheds_p2_then_p1_and_never_p0() {
        // Shed above 80 % CPU, restore below 60 %.
        let mut s = Shedder::new(ShedSpec {
            shed_above: 0.8,
            restore_below: 0.6,
            deepest: 2,
        });
        assert_eq!(admitted(&s), vec![0, 1, 2]);
        s.observe(0.95);
        assert_eq!(admitted(&s), vec![0, 1]);
        s.observe(0.95);
        assert_eq!(admitted(&s), vec![0]);
        // However high the pressure, P0 stays.
        s.observe(1.0);
        assert_eq!(admitted(&s), vec![0]);
        assert_eq!(s.shed_classes(), 2);
        assert_eq!(s.changes(), (2, 0));
    }

    #[test]
    fn between_the_thresholds_nothing_changes_and_classes_come_back_one_by_one() {
        let mut s = Shedder::new(ShedSpec {
            shed_above: 0.8,
            restore_below: 0.6,
            deepest: 2,
        });
        s.observe(0.9);
        s.observe(0.9);
        // 70 %: below the shed threshold but above the restore one: the
        // shedder holds (a single threshold would restore here and shed
        // again at the next spike: flapping).
        for _ in 0..5 {
            s.observe(0.7);
            assert_eq!(admitted(&s), vec![0]);
        }
        s.observe(0.5);
        assert_eq!(admitted(&s), vec![0, 1]);
        s.observe(0.5);
        assert_eq!(admitted(&s), vec![0, 1, 2]);
        s.observe(0.5);
        assert_eq!(s.changes(), (2, 2));
    }

    #[test]
    fn a_shedder_limited_to_one_class_keeps_p1() {
        let mut s = Shedder::new(ShedSpec {
            shed_above: 0.8,
            restore_below: 0.6,
            deepest: 1,
        });
        for _ in 0..3 {
            s.observe(0.95);
        }
        assert_eq!(admitted(&s), vec![0, 1]);
        assert_eq!(s.changes(), (1, 0));
        // Asking for more than P2 and P1 still leaves P0.
        let mut s = Shedder::new(ShedSpec {
            shed_above: 0.8,
            restore_below: 0.6,
            deepest: 7,
        });
        for _ in 0..3 {
            s.observe(0.95);
        }
        assert_eq!(admitted(&s), vec![0]);
    }

    #[test]
    fn a_restore_threshold_above_the_shed_one_is_pulled_down_to_it() {
        // A misconfigured restore_below of 0.9 above shed_above 0.8 would
        // shed and restore on alternate checks; it is capped at 0.8.
        let mut s = Shedder::new(ShedSpec {
            shed_above: 0.8,
            restore_below: 0.9,
            deepest: 2,
        });
        s.observe(0.85);
        s.observe(0.85);
        assert_eq!(admitted(&s), vec![0]);
        // 0.8 itself neither sheds (not above) nor restores (not below).
        s.observe(0.8);
        assert_eq!(admitted(&s), vec![0]);
    }
}
