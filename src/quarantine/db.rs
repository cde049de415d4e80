//! The seam between the quarantine's logic and its two databases: what a backend must do
//! for `store.rs` — run one SQL text with `$1`-numbered parameters, in a transaction or on
//! its own, and hand back rows of plain values — and nothing more. Which statements run, in
//! which order, and what is sealed is written once, in `store.rs`; `sqlite.rs` and `pg.rs`
//! hold only their schema, their connection and this translation. Imports nothing of
//! Hallpass but the quarantine's error type.

use super::{Result, StoreError};

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bytes(v.to_vec())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row. SQLite has no boolean type (it answers 0/1), so `bool` reads either.
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Invalid(format!("no column {i} in a row")))
    }
    fn mismatch(&self, i: usize, want: &str) -> StoreError {
        StoreError::Invalid(format!(
            "column {i}: expected {want}, found {:?}",
            self.0.get(i)
        ))
    }
    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?.ok_or_else(|| self.mismatch(i, "text"))
    }
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            _ => Err(self.mismatch(i, "text")),
        }
    }
    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| self.mismatch(i, "an integer"))
    }
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            _ => Err(self.mismatch(i, "an integer")),
        }
    }
    pub fn bool(&self, i: usize) -> Result<bool> {
        match self.at(i)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(n) => Ok(*n != 0),
            _ => Err(self.mismatch(i, "a boolean")),
        }
    }
    pub fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        self.opt_bytes(i)?.ok_or_else(|| self.mismatch(i, "bytes"))
    }
    pub fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Bytes(b) => Ok(Some(b.clone())),
            _ => Err(self.mismatch(i, "bytes")),
        }
    }
}

/// A connection, or a transaction on one: statements with `$1`, `$2`… parameters.
pub trait Tx {
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64>;
    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>>;
    fn query_opt(&mut self, sql: &str, args: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, args)?.into_iter().next())
    }
    fn query_one(&mut self, sql: &str, args: &[Value]) -> Result<Row> {
        self.query_opt(sql, args)?
            .ok_or_else(|| StoreError::Invalid(format!("no row from {sql}")))
    }
}

/// A quarantine database. The work handed over must own what it uses: PostgreSQL's client
/// runs it on a thread of its own.
pub trait Db: Send + Sync + 'static {
    /// Runs `f` in one transaction, committed when `f` returns `Ok` and rolled back
    /// otherwise. It takes the write lock from the start where the database has one.
    fn transaction<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    ) -> Result<T>;
    /// Runs `f` on the connection, each statement committed on its own.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    ) -> Result<T>;
    /// A SELECT that takes the key lock inside a transaction — shared by a hold,
    /// exclusive for a key rotation — so no hold seals with a key a rotation is retiring.
    /// `None` where every transaction already excludes the others (SQLite's write lock).
    fn key_lock(&self, exclusive: bool) -> Option<&'static str>;
    /// An SQL expression for the UTC day (`YYYY-MM-DD`) of a Unix-seconds column.
    fn utc_day(&self, column: &str) -> String;
}

/// A statement built piece by piece: each `?` in a pushed piece becomes the next `$n`.
#[derive(Default, Clone)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Value>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str, args: impl IntoIterator<Item = Value>) -> &mut Sql {
        let mut args = args.into_iter();
        for c in text.chars() {
            if c == '?' {
                // A piece with more `?` than arguments binds NULL, which matches nothing.
                self.args.push(args.next().unwrap_or(Value::Null));
                self.text.push_str(&format!("${}", self.args.len()));
            } else {
                self.text.push(c);
            }
        }
        self
    }

    /// `column IN ($a, $b, …)` for a non-empty list (`FALSE` for an empty one).
    pub fn push_in(&mut self, column: &str, values: impl IntoIterator<Item = Value>) -> &mut Sql {
        let values: Vec<Value> = values.into_iter().collect();
        if values.is_empty() {
            return self.push(" AND FALSE", []);
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.push(&format!(" AND {column} IN ({marks})"), values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_number_their_parameters_in_order() {
        let mut s = Sql::new("SELECT 1 FROM items WHERE reference = $1");
        s.args.push("HP-A".into());
        s.push(" AND school = ?", ["x".into()]);
        s.push_in("status", ["held".into(), "releasing".into()]);
        s.push(" LIMIT ? OFFSET ?", [5i64.into(), 10i64.into()]);
        assert_eq!(
            s.text,
            "SELECT 1 FROM items WHERE reference = $1 AND school = $2 AND status IN ($3, $4) LIMIT $5 OFFSET $6"
        );
        assert_eq!(s.args.len(), 6);
        assert_eq!(s.args[5], Value::Int(10));
        let mut e = Sql::new("x");
        e.push_in("status", []);
        assert_eq!(e.text, "x AND FALSE");
    }

    #[test]
    fn rows_read_sqlite_integers_as_booleans_and_refuse_wrong_types() {
        let r = Row(vec![Value::Int(1), Value::Null, Value::Text("a".into())]);
        assert!(r.bool(0).unwrap());
        assert_eq!(r.opt_text(1).unwrap(), None);
        assert!(r.text(1).is_err());
        assert!(r.int(2).is_err());
        assert!(r.text(9).is_err());
    }
}
