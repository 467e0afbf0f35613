//! Reusable simulated components. Each is a plain state machine driven by the
//! scenario model's event loop: it is told the current simulated time and
//! answers with decisions, never scheduling events or reading clocks itself.
//! That keeps every part testable on its own with hand-picked times.

pub mod autoscale;
pub mod batch;
pub mod db;
pub mod heap;
pub mod jobs;
pub mod load;
pub mod lock;
pub mod mmck;
pub mod paging;
pub mod query;
pub mod rate_limit;
pub mod replica;
pub mod server;
pub mod shed;
pub mod stream;

pub use autoscale::{Autoscaler, Fleet, HpaSpec};
pub use batch::{BatchWriter, WriteMode};
pub use db::{ConnectionPool, Database};
pub use heap::{Batch, BoundedCache, GcConfig, GcWork, Heap};
pub use jobs::{Job, JobQueue, Retry};
pub use load::{Arrivals, KeyChooser, RateShape};
pub use lock::{Lock, LockGrant, LockMode};
pub use query::{AccessPath, Disk, QueryCost, Table};
pub use rate_limit::{Algorithm, RateLimiter, WindowPeak};
pub use replica::{ClusterState, Recovery, ReplicatedDb, Replication, WriteOutcome};
pub use server::{Admit, WorkerPool};
pub use shed::{ShedSpec, Shedder};
