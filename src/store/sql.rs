//! The little SQL the store speaks, the same on both engines: statements are written once, with
//! numbered parameters (`?1`), in the subset SQLite and PostgreSQL share (`ON CONFLICT … DO`,
//! `RETURNING`, `CAST(… AS DOUBLE PRECISION)`); each engine runs them through [`Sql`].

use super::{StoreError, StoreResult};

/// One parameter or one column's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// Parameters for a statement: `p![a, b]`.
macro_rules! p {
    ($($x:expr),* $(,)?) => { &[$($crate::store::sql::Val::from($x)),*][..] };
}
pub(crate) use p;

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::Int(v as i64)
    }
}
impl From<u32> for Val {
    fn from(v: u32) -> Val {
        Val::Int(v as i64)
    }
}
impl From<usize> for Val {
    fn from(v: usize) -> Val {
        Val::Int(v as i64)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Int(v as i64)
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::Real(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::Text(v.clone())
    }
}
impl<T: Into<Val> + Clone> From<&Option<T>> for Val {
    fn from(v: &Option<T>) -> Val {
        v.clone().map_or(Val::Null, Into::into)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}
impl From<&i64> for Val {
    fn from(v: &i64) -> Val {
        Val::Int(*v)
    }
}
impl From<&f64> for Val {
    fn from(v: &f64) -> Val {
        Val::Real(*v)
    }
}

/// A value read back as a Rust type.
pub trait FromVal: Sized {
    fn from_val(v: &Val) -> Option<Self>;
}
impl FromVal for i64 {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromVal for usize {
    fn from_val(v: &Val) -> Option<Self> {
        i64::from_val(v).and_then(|i| usize::try_from(i).ok())
    }
}
impl FromVal for u32 {
    fn from_val(v: &Val) -> Option<Self> {
        i64::from_val(v).and_then(|i| u32::try_from(i).ok())
    }
}
impl FromVal for bool {
    fn from_val(v: &Val) -> Option<Self> {
        i64::from_val(v).map(|i| i != 0)
    }
}
impl FromVal for f64 {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Real(f) => Some(*f),
            Val::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl FromVal for String {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl<T: FromVal> FromVal for Option<T> {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Null => Some(None),
            v => T::from_val(v).map(Some),
        }
    }
}

/// One result row.
pub struct Row(pub Vec<Val>);

impl Row {
    /// Column `i` as `T`; a missing column or another type is a fault of the statement.
    pub fn get<T: FromVal>(&self, i: usize) -> StoreResult<T> {
        let v = self.0.get(i).unwrap_or(&Val::Null);
        T::from_val(v).ok_or_else(|| StoreError::Column(format!("column {i} holds {v:?}")))
    }
}

/// One connection of either engine. Object-safe; the typed helpers are on `dyn Sql` below.
pub trait Sql: Send {
    /// Runs a statement that returns no rows; how many rows it changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> StoreResult<usize>;
    /// Runs a query; every row.
    fn rows(&mut self, sql: &str, params: &[Val]) -> StoreResult<Vec<Row>>;
    /// Runs statements without parameters (transaction control, schema steps).
    fn batch(&mut self, sql: &str) -> StoreResult<()>;
}

impl<'s> dyn Sql + 's {
    pub fn execute(&mut self, sql: &str, params: &[Val]) -> StoreResult<usize> {
        self.exec(sql, params)
    }

    /// The first row mapped by `f`, if there is one.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        p: &[Val],
        f: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.rows(sql, p)?.first().map(f).transpose()
    }

    /// The first row mapped by `f`; none is a fault (for queries that always return one, as COUNT).
    pub fn query_row<T>(&mut self, sql: &str, p: &[Val], f: impl FnOnce(&Row) -> StoreResult<T>) -> StoreResult<T> {
        self.query_opt(sql, p, f)?.ok_or_else(|| StoreError::Column(format!("no row from {sql}")))
    }

    /// Every row mapped by `f`.
    pub fn query_all<T>(&mut self, sql: &str, p: &[Val], f: impl FnMut(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
        self.rows(sql, p)?.iter().map(f).collect()
    }

    /// Starts a transaction; it rolls back when dropped without [`Tx::commit`].
    pub fn transaction(&mut self) -> StoreResult<Tx<'_, 's>> {
        self.batch("BEGIN")?;
        Ok(Tx { db: self, done: false })
    }
}

/// An open transaction on one connection.
pub struct Tx<'a, 's> {
    db: &'a mut (dyn Sql + 's),
    done: bool,
}

impl Tx<'_, '_> {
    /// Commits; a COMMIT that fails (SQLite busy) rolls back, so the connection leaves the
    /// transaction either way.
    pub fn commit(mut self) -> StoreResult<()> {
        let r = self.db.batch("COMMIT");
        if r.is_err() {
            let _ = self.db.batch("ROLLBACK");
        }
        self.done = true;
        r
    }
}

impl<'s> std::ops::Deref for Tx<'_, 's> {
    type Target = dyn Sql + 's;
    fn deref(&self) -> &Self::Target {
        self.db
    }
}

impl std::ops::DerefMut for Tx<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.db
    }
}

impl Drop for Tx<'_, '_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.db.batch("ROLLBACK");
        }
    }
}
