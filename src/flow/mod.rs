//! The request-flow layer: requests moving through a topology of stages
//! (services, load balancers, third-party APIs, databases, rate limiters,
//! message queues) over calls with timeouts,
//! retries, breakers, fallbacks and bulkheads, with faults on a timeline.
//!
//! * [`topology`]: the system as plain values, built at run time.
//! * [`sim`]: the one run loop that executes it and records what happened.
//! * Pure parts, each with its own tests: [`breaker`] (resilience4j's
//!   circuit breaker), [`retry`] (backoff with jitter, retry budgets),
//!   [`balance`] (load-balancing policies), [`quota`] (a provider's quota,
//!   429 and Retry-After), [`cache`] (LRU with TTL), [`hit_ratio`]
//!   (its expected hit ratio in closed form, for aggregate models), and
//!   [`stampede`] (what a cache does when many readers miss one key).
//! * [`aggregate`]: the same kind of traffic as rates through tiers of
//!   M/M/c/K queues, for loads too heavy to simulate request by request.
//!
//! This layer depends on `engine` and `parts` only; scenarios depend on it.

pub mod aggregate;
pub mod balance;
pub mod breaker;
pub mod cache;
pub mod hit_ratio;
pub mod quota;
pub mod retry;
pub mod sim;
pub mod stampede;
pub mod topology;

pub use sim::{
    CacheStats, DatabaseStats, FlowTotals, PoolStats, QueueStats, ReplicationStats, Request,
    RouteStats, ScalingStats, Sim,
};
pub use topology::*;

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod tests;
