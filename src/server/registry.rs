//! The open connections: how many each client holds, and which one has
//! been idle longest, so that a full server can make room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::activity::Activity;
use crate::client::ClientKey;
use crate::metric_names as names;

/// Every open connection, by id.
pub struct Registry {
    table: Mutex<Table>,
    per_client_limit: usize,
    /// Which listener's connections these are, as the metrics label them.
    listener: &'static str,
    /// Woken when some connection falls idle.
    pub went_idle: Arc<Notify>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Arc<Activity>>,
    per_client: HashMap<ClientKey, usize>,
}

/// An accepted connection's place in the registry, given up on drop: its
/// client's count, and once it is served, its entry among the open
/// connections that may be evicted.
pub struct Registration {
    registry: Arc<Registry>,
    id: u64,
    /// The client it is counted against; `None` for a trusted proxy.
    client: Option<ClientKey>,
}

impl Registry {
    pub fn new(per_client_limit: usize, listener: &'static str) -> Arc<Self> {
        let registry = Arc::new(Self {
            table: Mutex::new(Table::default()),
            per_client_limit,
            listener,
            went_idle: Arc::new(Notify::new()),
        });
        registry.publish(0);
        registry
    }

    fn publish(&self, open: usize) {
        metrics::gauge!(names::CONNECTIONS_OPEN, "listener" => self.listener).set(open as f64);
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new connection from `client` (`None`: a trusted proxy,
    /// which carries many clients and is not limited), or `None` when
    /// that client already holds its limit.
    pub fn admit(self: &Arc<Self>, client: Option<ClientKey>) -> Option<Registration> {
        let mut table = self.table();
        if let Some(client) = client {
            let held = table.per_client.entry(client).or_default();
            if *held >= self.per_client_limit {
                return None;
            }
            *held += 1;
        }
        let id = table.next_id;
        table.next_id += 1;
        Some(Registration {
            registry: self.clone(),
            id,
            client,
        })
    }

    /// Marks the connection that has been silent or idle longest to be
    /// closed; `false` when every connection is doing something.
    pub fn evict_longest_idle(&self) -> bool {
        let table = self.table();
        let mut idle: Vec<_> = table
            .open
            .values()
            .filter_map(|activity| Some((activity.idle_since()?, activity)))
            .collect();
        idle.sort_by_key(|(since, _)| *since);
        // One that starts a request meanwhile is passed over.
        idle.into_iter().any(|(_, activity)| activity.evict())
    }
}

impl Registration {
    /// Lists the connection among the open ones, once it has a slot (so a
    /// connection waiting for room is never evicted to make room).
    pub fn track(&self, activity: Arc<Activity>) {
        let mut table = self.registry.table();
        table.open.insert(self.id, activity);
        self.registry.publish(table.open.len());
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut table = self.registry.table();
        table.open.remove(&self.id);
        if let Some(client) = self.client
            && let Some(held) = table.per_client.get_mut(&client)
        {
            *held -= 1;
            if *held == 0 {
                table.per_client.remove(&client);
            }
        }
        self.registry.publish(table.open.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;

    fn key(text: &str) -> ClientKey {
        Client::new(text.parse().unwrap()).key()
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_holds_at_most_its_limit_and_proxies_any_number() {
        let registry = Registry::new(2, "test");
        let a = key("192.0.2.1");
        let first = registry.admit(Some(a)).unwrap();
        let _second = registry.admit(Some(a)).unwrap();
        assert!(registry.admit(Some(a)).is_none());
        assert!(registry.admit(Some(key("192.0.2.2"))).is_some());
        let proxied: Vec<_> = (0..5).map(|_| registry.admit(None).unwrap()).collect();
        assert_eq!(proxied.len(), 5);
        drop(first);
        assert!(registry.admit(Some(a)).is_some(), "room again");
    }

    #[tokio::test(start_paused = true)]
    async fn the_longest_idle_connection_is_evicted_first() {
        let registry = Registry::new(10, "test");
        // Each has been read from and sent nothing.
        let activity = || {
            let activity = Arc::new(Activity::new(registry.went_idle.clone()));
            activity.found_nothing();
            activity
        };
        let served = |activity: &Arc<Activity>| {
            let registration = registry.admit(None).unwrap();
            registration.track(activity.clone());
            registration
        };
        let (old, busy) = (activity(), activity());
        let _registrations = [served(&old), served(&busy)];
        let _guard = busy.request_started();
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let young = activity();
        let _late = served(&young);
        // Admitted, but waiting for room: never a candidate.
        let _waiting = registry.admit(None).unwrap();
        assert!(registry.evict_longest_idle());
        assert!(old.evicted() && !young.evicted());
        assert!(registry.evict_longest_idle());
        assert!(young.evicted());
        assert!(!registry.evict_longest_idle(), "only a busy one is left");
        assert!(!busy.evicted());
    }
}
