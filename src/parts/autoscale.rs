//! A horizontal autoscaler with the Kubernetes HorizontalPodAutoscaler's
//! documented rules, and the fleet of instances it sizes.
//!
//! [`Autoscaler::evaluate`] is one sync of the HPA controller (every
//! [`HpaSpec::sync`], 15 s by default):
//! 1. **Proportional rule.** `desired = ceil(current × utilization ÷ target)`,
//!    except that nothing changes while the ratio `utilization ÷ target` is
//!    within the tolerance (0.1) of 1.
//! 2. **Stabilization.** Every sync's unstabilized `desired` is remembered
//!    with its time. Scaling up uses the *lowest* recommendation of the
//!    scale-up window (0 s by default: the latest one), scaling down the
//!    *highest* of the scale-down window (300 s), so a brief dip does not
//!    remove instances that the next spike needs.
//! 3. **Rate limits.** Each direction has policies over a period (`Pods`: at
//!    most N instances, `Percent`: at most N % of the count at the period's
//!    start) and picks the most permissive (`Max`, the default) or the least
//!    (`Min`). By default scale-up may add the larger of 100 % or 4 instances
//!    per 15 s, and scale-down may remove 100 % per 15 s.
//! 4. **Bounds.** The result stays within `min..=max` replicas.
//!
//! A recommendation or scale event counts in a window or period when it is
//! newer than `now − length` (exactly `length` old is out), as in the
//! controller. [`Fleet`] turns the replica count into serving capacity: a
//! new instance serves only after its warm-up (image pull, start, warm
//! caches), and every instance, warming or not, is paid for by the hour.

use crate::engine::time::SECOND;
use crate::engine::SimTime;
use std::collections::VecDeque;

/// How one scaling policy limits a change within its period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PolicyKind {
    /// At most this many instances per period.
    Pods(u32),
    /// At most this percentage of the count at the period's start.
    Percent(u32),
}

/// One policy: a limit and the period it applies over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// The limit.
    pub kind: PolicyKind,
    /// Its period.
    pub period: SimTime,
}

/// Which of several policies wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// The one allowing the biggest change (Kubernetes' default).
    Max,
    /// The one allowing the smallest change.
    Min,
    /// No change in this direction at all.
    Disabled,
}

/// The rules for one direction (HPA's `behavior.scaleUp` or `scaleDown`).
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingRules {
    /// How far back recommendations are looked at.
    pub stabilization: SimTime,
    /// The rate limits.
    pub policies: Vec<Policy>,
    /// How they combine.
    pub select: Select,
}

/// An autoscaler's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct HpaSpec {
    /// Fewest and most replicas.
    pub min: u32,
    /// See `min`.
    pub max: u32,
    /// Target utilization (0.6: 60 % of the requested CPU).
    pub target: f64,
    /// Ratios within this of 1 change nothing.
    pub tolerance: f64,
    /// How often the controller evaluates.
    pub sync: SimTime,
    /// Scaling up.
    pub up: ScalingRules,
    /// Scaling down.
    pub down: ScalingRules,
}

impl HpaSpec {
    /// Kubernetes' defaults around the given bounds and target: a 15 s
    /// sync, a 0.1 tolerance; scale-up with no stabilization, the larger
    /// of 100 % or 4 pods per 15 s; scale-down over a 300 s stabilization
    /// window, 100 % per 15 s.
    pub fn kubernetes_defaults(min: u32, max: u32, target: f64) -> Self {
        let period = 15 * SECOND;
        Self {
            min,
            max: max.max(min),
            target,
            tolerance: 0.1,
            sync: period,
            up: ScalingRules {
                stabilization: 0,
                policies: vec![
                    Policy {
                        kind: PolicyKind::Percent(100),
                        period,
                    },
                    Policy {
                        kind: PolicyKind::Pods(4),
                        period,
                    },
                ],
                select: Select::Max,
            },
            down: ScalingRules {
                stabilization: 300 * SECOND,
                policies: vec![Policy {
                    kind: PolicyKind::Percent(100),
                    period,
                }],
                select: Select::Max,
            },
        }
    }
}

/// The HPA controller's state for one target: recent recommendations and
/// scale events.
#[derive(Clone, Debug)]
pub struct Autoscaler {
    spec: HpaSpec,
    /// (time, unstabilized desired count), oldest first.
    recommendations: VecDeque<(SimTime, u32)>,
    /// (time, instances added) and (time, instances removed), oldest first.
    ups: VecDeque<(SimTime, u32)>,
    downs: VecDeque<(SimTime, u32)>,
}

/// True when something recorded at `at` is still inside a span of `length`
/// ending at `now`: newer than `now − length`.
fn within(at: SimTime, now: SimTime, length: SimTime) -> bool {
    at.saturating_add(length) > now
}

impl Autoscaler {
    /// A controller with no history.
    pub fn new(spec: HpaSpec) -> Self {
        Self {
            spec,
            recommendations: VecDeque::new(),
            ups: VecDeque::new(),
            downs: VecDeque::new(),
        }
    }

    /// Its configuration.
    pub fn spec(&self) -> &HpaSpec {
        &self.spec
    }

    /// One sync at `now`: `current` replicas, all serving, whose mean
    /// utilization is `utilization` (a fraction of what each requested).
    /// Returns the replica count to run from now on.
    pub fn evaluate(&mut self, now: SimTime, current: u32, utilization: f64) -> u32 {
        self.evaluate_warming(now, current, current, utilization)
    }

    /// One sync at `now` while some of the `current` replicas are still
    /// warming up: only the `ready` ones report `utilization`. As the
    /// controller does (`replica_calculator.go`): scaling down looks at the
    /// ready ones alone; scaling up counts the warming ones as idle (0 %),
    /// so `desired = ceil(ready × utilization ÷ target)`, and a rise that
    /// the idle ones would cancel, or bring within the tolerance, changes
    /// nothing. A saturated fleet therefore grows by at most `1 ÷ target`
    /// of its *ready* size per sync until its new instances serve.
    pub fn evaluate_warming(
        &mut self,
        now: SimTime,
        current: u32,
        ready: u32,
        utilization: f64,
    ) -> u32 {
        let desired = self.proportional(current, ready.min(current), utilization);
        let stabilized = self.stabilize(now, current, desired);
        let next = self.limit_rate(now, current, stabilized);
        self.forget_before(now);
        if next > current {
            self.ups.push_back((now, next - current));
        } else if next < current {
            self.downs.push_back((now, current - next));
        }
        next
    }

    /// The proportional rule, with the tolerance and the warming replicas.
    fn proportional(&self, current: u32, ready: u32, utilization: f64) -> u32 {
        if ready == 0 || self.spec.target <= 0.0 || !utilization.is_finite() {
            // No replica reports a metric: the controller skips the sync.
            return current;
        }
        let ratio = utilization / self.spec.target;
        let warming = current - ready;
        // Warming replicas join the average, at 0 %, only on a scale-up.
        let ratio = if warming > 0 && ratio > 1.0 {
            let diluted = ratio * f64::from(ready) / f64::from(current);
            if diluted < 1.0 {
                // The direction would flip: no change.
                return current;
            }
            diluted
        } else {
            ratio
        };
        if (ratio - 1.0).abs() <= self.spec.tolerance {
            return current;
        }
        let counted = if ratio > 1.0 { current } else { ready };
        let want = (f64::from(counted) * ratio).ceil();
        want.clamp(0.0, f64::from(u32::MAX)) as u32
    }

    /// Records `desired` and brings `current` within the lowest recent
    /// recommendation (up window) and the highest (down window).
    fn stabilize(&mut self, now: SimTime, current: u32, desired: u32) -> u32 {
        let (mut up, mut down) = (desired, desired);
        for &(at, rec) in &self.recommendations {
            if within(at, now, self.spec.up.stabilization) {
                up = up.min(rec);
            }
            if within(at, now, self.spec.down.stabilization) {
                down = down.max(rec);
            }
        }
        self.recommendations.push_back((now, desired));
        current.max(up).min(down)
    }

    /// Instances added (or removed) by scale events within `period`.
    fn changed_within(events: &VecDeque<(SimTime, u32)>, now: SimTime, period: SimTime) -> u32 {
        events
            .iter()
            .filter(|&&(at, _)| within(at, now, period))
            .map(|&(_, n)| n)
            .sum()
    }

    /// The count at the start of `period`: undoes the changes made in it.
    fn period_start(&self, now: SimTime, current: u32, period: SimTime) -> u32 {
        let added = Self::changed_within(&self.ups, now, period);
        let removed = Self::changed_within(&self.downs, now, period);
        (current + removed).saturating_sub(added)
    }

    /// How far the rules let the count move from `current` at `now`: the
    /// highest count allowed going up, the lowest going down.
    fn rate_bound(&self, now: SimTime, current: u32, up: bool) -> u32 {
        let rules = if up { &self.spec.up } else { &self.spec.down };
        if rules.select == Select::Disabled {
            return current;
        }
        let proposals = rules.policies.iter().map(|p| {
            let start = self.period_start(now, current, p.period);
            match (p.kind, up) {
                (PolicyKind::Pods(n), true) => start.saturating_add(n),
                (PolicyKind::Pods(n), false) => start.saturating_sub(n),
                // Rounded up, so that a small count can still grow.
                (PolicyKind::Percent(pct), true) => {
                    (f64::from(start) * (1.0 + f64::from(pct) / 100.0)).ceil() as u32
                }
                // Truncated, as the controller does.
                (PolicyKind::Percent(pct), false) => {
                    (f64::from(start) * (1.0 - f64::from(pct.min(100)) / 100.0)) as u32
                }
            }
        });
        // `Max` picks the biggest change: the highest ceiling going up, the
        // lowest floor going down; `Min` the smallest.
        let pick = if (rules.select == Select::Max) == up {
            proposals.max()
        } else {
            proposals.min()
        };
        let bound = pick.unwrap_or(current);
        if up {
            bound.max(current)
        } else {
            bound.min(current)
        }
    }

    /// Applies the rate limits and the min/max bounds to a move from
    /// `current` to `wanted`.
    fn limit_rate(&self, now: SimTime, current: u32, wanted: u32) -> u32 {
        let (lo, hi) = (self.spec.min, self.spec.max);
        if wanted > current {
            let ceiling = self.rate_bound(now, current, true);
            wanted.min(ceiling.min(hi)).max(lo)
        } else if wanted < current {
            let floor = self.rate_bound(now, current, false);
            wanted.max(floor.max(lo)).min(hi)
        } else {
            current.clamp(lo, hi)
        }
    }

    /// Drops history no window or period can reach any more.
    fn forget_before(&mut self, now: SimTime) {
        let spec = &self.spec;
        let keep_recs = spec.up.stabilization.max(spec.down.stabilization);
        let longest = |r: &ScalingRules| r.policies.iter().map(|p| p.period).max().unwrap_or(0);
        let (keep_up, keep_down) = (longest(&spec.up), longest(&spec.down));
        while self
            .recommendations
            .front()
            .is_some_and(|&(at, _)| !within(at, now, keep_recs))
        {
            self.recommendations.pop_front();
        }
        while self
            .ups
            .front()
            .is_some_and(|&(at, _)| !within(at, now, keep_up))
        {
            self.ups.pop_front();
        }
        while self
            .downs
            .front()
            .is_some_and(|&(at, _)| !within(at, now, keep_down))
        {
            self.downs.pop_front();
        }
    }
}

/// The instances an autoscaler sizes: which serve, which are still warming
/// up, and what they have cost.
#[derive(Clone, Debug)]
pub struct Fleet {
    ready: u32,
    /// When each warming instance starts serving, earliest first.
    warming: VecDeque<SimTime>,
    warmup: SimTime,
    /// Instance-nanoseconds paid for so far, and since when at what count.
    paid: u128,
    since: SimTime,
}

impl Fleet {
    /// `ready` instances serving at time 0; new ones serve `warmup` after
    /// they are asked for.
    pub fn new(ready: u32, warmup: SimTime) -> Self {
        Self {
            ready,
            warming: VecDeque::new(),
            warmup,
            paid: 0,
            since: 0,
        }
    }

    /// How long a new instance warms up before it serves.
    pub fn warmup(&self) -> SimTime {
        self.warmup
    }

    /// Instances that serve at `now` (call [`Fleet::advance`] first).
    pub fn ready(&self) -> u32 {
        self.ready
    }

    /// Instances running, serving or warming up: what is paid for.
    pub fn running(&self) -> u32 {
        self.ready + self.warming.len() as u32
    }

    /// When the next warming instance starts serving.
    pub fn next_ready_at(&self) -> Option<SimTime> {
        self.warming.front().copied()
    }

    /// Brings the fleet to `now`: warmed-up instances start serving, and
    /// the time since the last change is paid for.
    pub fn advance(&mut self, now: SimTime) {
        let now = now.max(self.since);
        self.paid += u128::from(self.running()) * u128::from(now - self.since);
        self.since = now;
        while self.warming.front().is_some_and(|&at| at <= now) {
            self.warming.pop_front();
            self.ready += 1;
        }
    }

    /// Sets the number of instances running to `target` at `now`: new ones
    /// start warming up; removed ones go at once, warming ones first
    /// (the newest), since they serve nobody yet.
    pub fn scale_to(&mut self, now: SimTime, target: u32) {
        self.advance(now);
        while self.running() < target {
            self.warming.push_back(now.saturating_add(self.warmup));
        }
        while self.running() > target {
            if self.warming.pop_back().is_none() {
                self.ready -= 1;
            }
        }
    }

    /// Instance-hours paid for up to `now`.
    pub fn instance_hours(&mut self, now: SimTime) -> f64 {
        self.advance(now);
        self.paid as f64 / (3_600.0 * SECOND as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: SimTime = SECOND;

    fn hpa(min: u32, max: u32, target: f64) -> Autoscaler {
        Autoscaler::new(HpaSpec::kubernetes_defaults(min, max, target))
    }

    #[test]
    fn desired_is_the_ceiling_of_current_times_the_ratio() {
        // 4 replicas at 90 % of a 50 % target: ratio 1.8, ceil(4 × 1.8) =
        // ceil(7.2) = 8, within the scale-up limit max(4 × 2, 4 + 4) = 8.
        assert_eq!(hpa(1, 100, 0.5).evaluate(0, 4, 0.9), 8);
        // 3 replicas at 90 % of a 60 % target: ratio 1.5, ceil(4.5) = 5.
        assert_eq!(hpa(1, 100, 0.6).evaluate(0, 3, 0.9), 5);
    }

    #[test]
    fn nothing_changes_within_the_tolerance() {
        // Ratios 1.08 and 0.92 are within 0.1 of 1: stay at 4.
        assert_eq!(hpa(1, 100, 0.5).evaluate(0, 4, 0.54), 4);
        assert_eq!(hpa(1, 100, 0.5).evaluate(0, 4, 0.46), 4);
        // 1.12 is not: ceil(4 × 1.12) = ceil(4.48) = 5.
        assert_eq!(hpa(1, 100, 0.5).evaluate(0, 4, 0.56), 5);
    }

    #[test]
    fn scale_up_adds_at_most_the_larger_of_double_or_four_per_15_s() {
        let mut a = hpa(1, 20, 0.5);
        // t = 0: 2 replicas at 500 %: ratio 10, desired 20; the limit is
        // max(ceil(2 × 2) = 4, 2 + 4 = 6) = 6.
        assert_eq!(a.evaluate(0, 2, 5.0), 6);
        // t = 5 s, still inside the period of the +4 at 0: it started at
        // 2, so the limit is still 6.
        assert_eq!(a.evaluate(5 * S, 6, 5.0), 6);
        // t = 15 s: the +4 at 0 is exactly 15 s old, out of the period,
        // which starts at 6: max(12, 10) = 12 (desired 6 × 10 = 60).
        assert_eq!(a.evaluate(15 * S, 6, 5.0), 12);
        // t = 30 s: from 12, max(24, 16) = 24, but at most 20 replicas.
        assert_eq!(a.evaluate(30 * S, 12, 5.0), 20);
    }

    #[test]
    fn scale_down_waits_for_the_highest_recommendation_of_300_s() {
        let mut a = hpa(1, 100, 0.5);
        // t = 0: 10 replicas right at target: desired 10.
        assert_eq!(a.evaluate(0, 10, 0.5), 10);
        // From 15 s on the load drops to 10 % of the target's worth:
        // ratio 0.2, desired 2; but the 10 recommended at t = 0 is in
        // the 300 s window, so the count stays 10 ...
        let mut t = 15 * S;
        while t < 300 * S {
            assert_eq!(a.evaluate(t, 10, 0.1), 10, "t = {} s", t / S);
            t += 15 * S;
        }
        // ... until t = 300 s, when it is exactly 300 s old and out: every
        // recommendation left says 2, and 100 % per 15 s allows it.
        assert_eq!(a.evaluate(300 * S, 10, 0.1), 2);
    }

    #[test]
    fn a_dip_shorter_than_the_window_removes_nothing() {
        let mut a = hpa(1, 100, 0.5);
        assert_eq!(a.evaluate(0, 8, 0.5), 8);
        // 60 s of idle (desired 1 each sync), then the load is back.
        for k in 1..=4 {
            assert_eq!(a.evaluate(k * 15 * S, 8, 0.05), 8);
        }
        assert_eq!(a.evaluate(75 * S, 8, 0.5), 8);
    }

    #[test]
    fn bounds_hold_and_a_disabled_direction_never_moves() {
        // 10 at target, then (once that recommendation is 300 s old) a
        // desired ceil(10 × 0.1) = 1, but never below 3.
        let mut a = hpa(3, 10, 0.5);
        assert_eq!(a.evaluate(0, 10, 0.5), 10);
        assert_eq!(a.evaluate(300 * S, 10, 0.05), 3);
        // With no history at all, a low reading scales down at once.
        assert_eq!(hpa(3, 10, 0.5).evaluate(0, 10, 0.05), 3);
        // Never above 10 either: 8 at 4 × the target wants 32.
        assert_eq!(hpa(3, 10, 0.5).evaluate(0, 8, 2.0), 10);
        let mut spec = HpaSpec::kubernetes_defaults(1, 100, 0.5);
        spec.up.select = Select::Disabled;
        assert_eq!(Autoscaler::new(spec).evaluate(0, 4, 2.0), 4);
    }

    #[test]
    fn warming_replicas_count_as_idle_on_a_scale_up() {
        // 2 ready at 100 % of a 50 % target, 2 more warming: the four
        // average (2 × 100 % + 2 × 0 %) ÷ 4 = 50 %, ratio 1: no change. Had
        // all four been counted at the ready ones' 100 %, desired would be
        // ceil(4 × 2) = 8.
        assert_eq!(hpa(1, 100, 0.5).evaluate_warming(0, 4, 2, 1.0), 4);
        // 3 ready at 100 % of a 50 % target, 1 warming: (3 × 100 %) ÷ 4 =
        // 75 %, ratio 1.5, desired ceil(4 × 1.5) = 6 = ceil(3 × 2).
        assert_eq!(hpa(1, 100, 0.5).evaluate_warming(0, 4, 3, 1.0), 6);
        // 1 ready at 60 % of a 50 % target, 1 warming: 30 % over the two,
        // ratio 0.6: the rise would turn into a fall, so nothing changes.
        assert_eq!(hpa(1, 100, 0.5).evaluate_warming(0, 2, 1, 0.6), 2);
        // A scale-down looks at the ready ones only: 2 ready at 10 % of a
        // 50 % target, 2 warming: ceil(2 × 0.2) = 1.
        assert_eq!(hpa(1, 100, 0.5).evaluate_warming(0, 4, 2, 0.1), 1);
        // None ready: no metric, no change.
        assert_eq!(hpa(1, 100, 0.5).evaluate_warming(0, 3, 0, 0.0), 3);
    }

    #[test]
    fn new_instances_serve_after_their_warm_up_and_all_are_paid_for() {
        let mut f = Fleet::new(2, 30 * S);
        f.scale_to(0, 6);
        assert_eq!((f.ready(), f.running()), (2, 6));
        assert_eq!(f.next_ready_at(), Some(30 * S));
        f.advance(29 * S);
        assert_eq!(f.ready(), 2);
        f.advance(30 * S);
        assert_eq!(f.ready(), 6);
        // 6 instances for 60 s = 360 instance-seconds = 0.1 h.
        assert!((f.instance_hours(60 * S) - 0.1).abs() < 1e-12);
        // Down to 3 at 60 s, while 2 more warm up: the warming go first.
        f.scale_to(60 * S, 8);
        f.scale_to(60 * S, 3);
        assert_eq!((f.ready(), f.running()), (3, 3));
        // Then 3 for 120 s more: 0.1 h + 360 s = 0.2 h.
        assert!((f.instance_hours(180 * S) - 0.2).abs() < 1e-12);
    }
}
