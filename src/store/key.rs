//! Row keys: the store hands one out with each record it reads and takes it back to
//! name that row again. Outside the store a key can be kept, compared and carried in a
//! signed cursor, but not made or looked into: no row id leaves the store as data.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The key of a row holding a `T`.
pub struct Key<T> {
    id: i64,
    of: PhantomData<fn() -> T>,
}

impl<T> Key<T> {
    pub(super) fn new(id: i64) -> Self {
        Self {
            id,
            of: PhantomData,
        }
    }

    pub(super) fn id(self) -> i64 {
        self.id
    }
}

// By hand: derives would ask `T` for what only the id needs.
impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Key<T> {}

impl<T> PartialEq for Key<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<T> Eq for Key<T> {}

impl<T> Hash for Key<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl<T> fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

/// For page cursors, which the service signs so that clients cannot alter them.
impl<T> Serialize for Key<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.id.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Key<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i64::deserialize(d).map(Self::new)
    }
}

/// A record as the store read it, with the key of its row.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub key: Key<T>,
    pub record: T,
}

impl<T> Deref for Stored<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.record
    }
}
