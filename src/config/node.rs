//! A node of several sharing one PostgreSQL database: its name, address and capacity.

use super::{ConfigError, ServiceConfig};

/// A node of several, as the others see it.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub id: String,
    /// Its API's base URL (http://host:port), reachable from the other nodes.
    pub advertise: String,
    /// Sessions it carries in real time.
    pub capacity: usize,
}

impl ServiceConfig {
    pub(super) fn validate_node(&self) -> Result<(), ConfigError> {
        let bad = |key, why: &str| Err(ConfigError::Invalid { key, why: why.into() });
        if let Some(u) = &self.hls_origin {
            if !(u.starts_with("http://") || u.starts_with("https://")) || u.contains('@') || u.contains(['?', '#']) {
                return bad("hls_origin", "must be an http(s) URL without credentials, query or fragment");
            }
        }
        let Some(id) = &self.node_id else { return Ok(()) };
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return bad("node_id", "must be 1 to 64 letters, digits, - or _");
        }
        if !crate::store::is_postgres(&self.db_url()) {
            return bad("node_id", "several nodes share a PostgreSQL database: set db to a postgres:// URL");
        }
        match &self.advertise {
            Some(a) if a.starts_with("http://") || a.starts_with("https://") => {}
            _ => return bad("advertise", "a node needs the http(s) URL the other nodes reach its API at"),
        }
        if self.node_capacity == Some(0) {
            return bad("node_capacity", "must be at least 1");
        }
        Ok(())
    }

    /// This node in a cluster, if it is one.
    pub fn node(&self) -> Option<NodeConfig> {
        Some(NodeConfig {
            id: self.node_id.clone()?,
            advertise: self.advertise.clone()?.trim_end_matches('/').to_string(),
            capacity: self.node_capacity.unwrap_or(self.max_sessions),
        })
    }
}
