//! The event queue: a binary heap ordered by (time, insertion sequence).
//!
//! Two events at the same instant pop in the order they were scheduled, so a
//! run never depends on heap internals. The event type is the model's own
//! enum, dispatched with a `match`: no trait objects or lookups per event.

use super::time::SimTime;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Entry<E> {
    time: SimTime,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: BinaryHeap is a max-heap and we want the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .time
            .cmp(&self.time)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// A deterministic future-event list.
///
/// Besides the heap it keeps *lanes*: numbered slots holding at most one
/// pending occurrence each (a source's next arrival), scheduled and popped
/// in the same (time, sequence) order as heap events, so a run is the same
/// whether an event goes in a lane or the heap. A lane saves the heap's
/// push and pop for the most frequent event of a run.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    lanes: Vec<Option<(SimTime, u64)>>,
    now: SimTime,
    next_seq: u64,
    processed: u64,
}

/// What [`EventQueue::pop_until_with_lanes`] found next.
#[derive(Debug, PartialEq)]
pub enum Next<E> {
    /// An event from the heap.
    Event(E),
    /// Lane `usize`'s occurrence (the lane is empty again).
    Lane(usize),
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero.
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::with_capacity(64),
            lanes: Vec::new(),
            now: 0,
            next_seq: 0,
            processed: 0,
        }
    }

    /// The time of the event most recently popped.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// How many events have been popped so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// Number of events still scheduled (lanes included).
    pub fn len(&self) -> usize {
        self.heap.len() + self.lanes.iter().flatten().count()
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Schedules lane `lane`'s occurrence at absolute time `at` (in the
    /// past: now), replacing any it had.
    pub fn schedule_lane(&mut self, lane: usize, at: SimTime) {
        if self.lanes.len() <= lane {
            self.lanes.resize(lane + 1, None);
        }
        self.lanes[lane] = Some((at.max(self.now), self.next_seq));
        self.next_seq += 1;
    }

    /// Like [`Self::pop_until`], with the lanes' occurrences in their place
    /// in the order.
    pub fn pop_until_with_lanes(&mut self, until: SimTime) -> Option<(SimTime, Next<E>)> {
        let lane = self
            .lanes
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.map(|key| (key, i)))
            .min();
        let heap_first = self.heap.peek().map(|e| (e.time, e.seq));
        match (lane, heap_first) {
            (Some((key, i)), first) if first.is_none_or(|f| key < f) => {
                if key.0 > until {
                    return None;
                }
                self.lanes[i] = None;
                self.now = key.0;
                self.processed += 1;
                Some((key.0, Next::Lane(i)))
            }
            _ => self
                .pop_until(until)
                .map(|(t, event)| (t, Next::Event(event))),
        }
    }

    /// Schedules `event` at absolute time `at`. Scheduling in the past is
    /// treated as "now", so time never runs backwards.
    pub fn schedule(&mut self, at: SimTime, event: E) {
        let time = at.max(self.now);
        self.heap.push(Entry {
            time,
            seq: self.next_seq,
            event,
        });
        self.next_seq += 1;
    }

    /// Schedules `event` `delay` after the current time.
    pub fn schedule_in(&mut self, delay: SimTime, event: E) {
        self.schedule(self.now.saturating_add(delay), event);
    }

    /// Pops the next event if it happens no later than `until`, advancing the
    /// clock to its time.
    pub fn pop_until(&mut self, until: SimTime) -> Option<(SimTime, E)> {
        if self.heap.peek()?.time > until {
            return None;
        }
        let entry = self.heap.pop()?;
        self.now = entry.time;
        self.processed += 1;
        Some((entry.time, entry.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_and_breaks_ties_by_insertion() {
        let mut q = EventQueue::new();
        q.schedule(30, "c");
        q.schedule(10, "a1");
        q.schedule(20, "b");
        q.schedule(10, "a2");
        q.schedule(10, "a3");
        let order: Vec<_> = std::iter::from_fn(|| q.pop_until(u64::MAX).map(|(_, e)| e)).collect();
        assert_eq!(order, ["a1", "a2", "a3", "b", "c"]);
        assert_eq!(q.processed(), 5);
        assert_eq!(q.now(), 30);
    }

    #[test]
    fn lanes_take_their_place_in_the_order_as_if_they_were_in_the_heap() {
        // The same schedule twice: once all in the heap, once with the
        // "a" events in lane 0 (each scheduled when the previous one pops,
        // as a source's arrivals are). Ties at the same time must still go
        // by scheduling order.
        let mut heap = EventQueue::new();
        let mut laned = EventQueue::new();
        heap.schedule(10, "a");
        laned.schedule_lane(0, 10);
        for q in [&mut heap, &mut laned] {
            q.schedule(10, "b");
            q.schedule(5, "c");
            q.schedule(20, "d");
        }
        let mut from_heap = Vec::new();
        while let Some((t, e)) = heap.pop_until(100) {
            from_heap.push((t, e));
            if e == "a" && t < 20 {
                heap.schedule(t + 10, "a");
            }
        }
        let mut from_lanes = Vec::new();
        while let Some((t, next)) = laned.pop_until_with_lanes(100) {
            let e = match next {
                Next::Event(e) => e,
                Next::Lane(0) => "a",
                Next::Lane(_) => unreachable!(),
            };
            from_lanes.push((t, e));
            if e == "a" && t < 20 {
                laned.schedule_lane(0, t + 10);
            }
        }
        // At 20, "d" (scheduled first) goes before the "a" scheduled at 10.
        assert_eq!(
            from_heap,
            [(5, "c"), (10, "a"), (10, "b"), (20, "d"), (20, "a")]
        );
        assert_eq!(from_lanes, from_heap);
        assert_eq!(laned.processed(), heap.processed());
        // The horizon holds for lanes too.
        laned.schedule_lane(3, 500);
        assert_eq!(laned.pop_until_with_lanes(100), None);
        assert_eq!(laned.len(), 1);
    }

    #[test]
    fn stops_at_horizon_and_never_goes_back_in_time() {
        let mut q = EventQueue::new();
        q.schedule(5, 1);
        q.schedule(50, 2);
        assert_eq!(q.pop_until(10), Some((5, 1)));
        assert_eq!(q.pop_until(10), None);
        q.schedule(1, 3); // in the past: runs "now"
        assert_eq!(q.pop_until(10), Some((5, 3)));
        assert_eq!(q.len(), 1);
    }
}
