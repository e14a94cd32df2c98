//! The embedded engine: one SQLite file, one connection behind the store's lock.

use rusqlite::types::{ToSqlOutput, Value as Lite, ValueRef};
use rusqlite::{Connection, ToSql};

use super::sql::{Row, Sql, Val};
use super::StoreResult;

impl ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Owned(Lite::Null),
            Val::Int(i) => ToSqlOutput::Owned(Lite::Integer(*i)),
            Val::Real(f) => ToSqlOutput::Owned(Lite::Real(*f)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn val(v: ValueRef<'_>) -> Val {
    match v {
        ValueRef::Null => Val::Null,
        ValueRef::Integer(i) => Val::Int(i),
        ValueRef::Real(f) => Val::Real(f),
        ValueRef::Text(t) | ValueRef::Blob(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
    }
}

impl Sql for Connection {
    fn exec(&mut self, sql: &str, params: &[Val]) -> StoreResult<usize> {
        Ok(self.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params))?)
    }

    fn rows(&mut self, sql: &str, params: &[Val]) -> StoreResult<Vec<Row>> {
        let mut st = self.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(Row((0..n).map(|i| r.get_ref(i).map(val)).collect::<Result<_, _>>()?));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> StoreResult<()> {
        Ok(self.execute_batch(sql)?)
    }
}
