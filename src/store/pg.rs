//! PostgreSQL, for several nodes sharing one database (`--db postgres://…`).
//!
//! The store's callers are synchronous (as with SQLite) and often run on the HTTP event loops, so a
//! call must not enter a Tokio runtime. Each connection's socket is driven by a small runtime of
//! the store's own, on its own thread; a call sends its request down the client's channel and
//! parks on the reply, as a lock on SQLite's one connection parks.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use super::sql::{Row, Sql, Val};
use super::{StoreError, StoreResult};

/// Connections kept open: enough that a slow query does not hold every API call.
const POOL: usize = 4;

pub struct Pg {
    conns: Vec<Mutex<PgConn>>,
    /// The cluster's lease renewals have a connection of their own: a flood of API calls must not
    /// make a node miss its lease.
    lease: Mutex<PgConn>,
    next: std::sync::atomic::AtomicUsize,
    config: tokio_postgres::Config,
    rt: Option<tokio::runtime::Runtime>,
}

pub struct PgConn {
    client: Client,
    /// Statements this connection prepared, by their text (the store's statements are constants).
    prepared: HashMap<String, Statement>,
}

impl Pg {
    /// Connects to `url` (never logged: it may hold a password).
    pub fn connect(url: &str) -> StoreResult<Pg> {
        let mut config: tokio_postgres::Config = url.parse()?;
        // A database that went away is found out in seconds, not at the kernel's TCP timeouts; a
        // statement that hangs is ended by the server.
        config
            .connect_timeout(Duration::from_secs(3))
            .tcp_user_timeout(Duration::from_secs(5))
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(1))
            .keepalives_retries(3)
            .options("-c statement_timeout=10000");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("costream-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let open = |rt: &tokio::runtime::Runtime| open(rt.handle(), &config).map(Mutex::new);
        let conns = (0..POOL).map(|_| open(&rt)).collect::<StoreResult<Vec<_>>>()?;
        let lease = open(&rt)?;
        Ok(Pg { conns, lease, next: Default::default(), config, rt: Some(rt) })
    }

    /// A free connection, or (all busy) the next in turn; one the server closed is opened again.
    pub fn conn(&self) -> MutexGuard<'_, PgConn> {
        let g = self.conns.iter().find_map(|c| c.try_lock().ok()).unwrap_or_else(|| {
            let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.conns.len();
            crate::sys::lock(&self.conns[i])
        });
        self.alive(g)
    }

    /// The lease renewals' connection.
    pub fn lease_conn(&self) -> MutexGuard<'_, PgConn> {
        self.alive(crate::sys::lock(&self.lease))
    }

    fn alive<'a>(&self, mut g: MutexGuard<'a, PgConn>) -> MutexGuard<'a, PgConn> {
        if g.client.is_closed() {
            if let Some(rt) = &self.rt {
                match open(rt.handle(), &self.config) {
                    Ok(c) => *g = c,
                    Err(e) => tracing::warn!(error = %e, "PostgreSQL: could not connect again"),
                }
            }
        }
        g
    }
}

/// What a listener is told: each notification's payload.
pub type OnNotify = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

impl Pg {
    /// Calls `on` with every notification on `channel` (LISTEN), on a connection of its own,
    /// opened again a second after it ends (what is sent meanwhile is not seen), for as long as
    /// the store lives.
    pub fn listen(&self, channel: &'static str, on: OnNotify) {
        let Some(rt) = &self.rt else { return };
        let config = self.config.clone();
        rt.spawn(async move {
            // (Logged once per spell of failures: the database may be away a while.)
            let mut failing = false;
            loop {
                let ended = listen_once(&config, channel, &on).await;
                if let (Err(e), false) = (&ended, failing) {
                    tracing::warn!(error = %e, channel, "PostgreSQL: LISTEN ended; listening again");
                }
                failing = ended.is_err();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

/// One LISTEN connection, until it ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    channel: &str,
    on: &OnNotify,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut conn) = config.connect(NoTls).await?;
    let on = on.clone();
    // Polling the connection for its messages also carries the client's requests.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => on(n.payload()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    let ended = driver.await;
    drop(client);
    ended.unwrap_or(Ok(()))
}

/// One connection, its socket driven by the store's runtime.
fn open(rt: &tokio::runtime::Handle, config: &tokio_postgres::Config) -> StoreResult<PgConn> {
    let config = config.clone();
    let client = rt.spawn(async move {
        let (client, conn) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok::<_, tokio_postgres::Error>(client)
    });
    let client = pollster::block_on(client).map_err(|e| StoreError::Task(e.to_string()))??;
    Ok(PgConn { client, prepared: HashMap::new() })
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async caller may not do.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// `?1` → `$1`: the store writes SQLite's numbered parameters.
fn dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl PgConn {
    fn statement(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = pollster::block_on(self.client.prepare(&dollars(sql)))?;
        self.prepared.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

fn refs(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Sql for PgConn {
    fn exec(&mut self, sql: &str, params: &[Val]) -> StoreResult<usize> {
        let st = self.statement(sql)?;
        Ok(pollster::block_on(self.client.execute(&st, &refs(params)))? as usize)
    }

    fn rows(&mut self, sql: &str, params: &[Val]) -> StoreResult<Vec<Row>> {
        let st = self.statement(sql)?;
        let rows = pollster::block_on(self.client.query(&st, &refs(params)))?;
        rows.iter().map(|r| (0..r.len()).map(|i| column(r, i)).collect::<StoreResult<_>>().map(Row)).collect()
    }

    fn batch(&mut self, sql: &str) -> StoreResult<()> {
        Ok(pollster::block_on(self.client.batch_execute(sql))?)
    }
}

fn column(r: &tokio_postgres::Row, i: usize) -> StoreResult<Val> {
    let ty = r.columns()[i].type_().clone();
    let v = match ty {
        Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Val::Int),
        Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|v| Val::Int(v as i64)),
        Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(|v| Val::Int(v as i64)),
        Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(|v| Val::Int(v as i64)),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Val::Real),
        Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(|v| Val::Real(v as f64)),
        _ => r.try_get::<_, Option<String>>(i)?.map(Val::Text),
    };
    Ok(v.unwrap_or(Val::Null))
}

/// A parameter takes the type the server inferred for its place (an integer where a REAL column
/// is compared, say), as SQLite's loose typing would.
impl ToSql for Val {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (self, ty) {
            (Val::Null, _) => Ok(IsNull::Yes),
            (Val::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Val::Int(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (Val::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Val::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Val::Int(i), &Type::FLOAT4) => (*i as f32).to_sql(ty, out),
            (Val::Int(i), &Type::TEXT | &Type::VARCHAR) => i.to_string().to_sql(ty, out),
            (Val::Int(i), _) => i.to_sql(ty, out),
            (Val::Real(f), &Type::FLOAT4) => (*f as f32).to_sql(ty, out),
            (Val::Real(f), &Type::INT8) => (*f as i64).to_sql(ty, out),
            (Val::Real(f), _) => f.to_sql(ty, out),
            (Val::Text(s), _) => s.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_parameters_become_dollars() {
        assert_eq!(super::dollars("a = ?1 AND b = ?12 OR c = '?'"), "a = $1 AND b = $12 OR c = '?'");
    }
}
