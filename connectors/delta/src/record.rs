//! Row types whose Delta table schema derives from the Rust type through Arrow.
//!
//! A [`DeltaRecord`] says which Arrow schema its rows have and turns a slice of rows
//! into one [`RecordBatch`]. The [`delta_record!`](crate::delta_record) macro
//! implements it for a plain struct whose fields are [`DeltaColumn`]s; implement the
//! trait by hand for anything else (nested types, renamed columns).
//!
//! | Rust field type            | Arrow type                          | Delta type  |
//! |----------------------------|-------------------------------------|-------------|
//! | `bool`                     | `Boolean`                           | `boolean`   |
//! | `i8` / `i16` / `i32` / `i64` | `Int8` / `Int16` / `Int32` / `Int64` | `byte` / `short` / `integer` / `long` |
//! | `f32` / `f64`              | `Float32` / `Float64`               | `float` / `double` |
//! | `String`, `Arc<str>`       | `Utf8`                              | `string`    |
//! | `Vec<u8>`                  | `Binary`                            | `binary`    |
//! | `chrono::DateTime<Utc>`, [`EventTime`] | `Timestamp(Microsecond, "UTC")` | `timestamp` |
//! | `chrono::NaiveDate`        | `Date32`                            | `date`      |
//! | `Option<T>` of the above   | same type, nullable                 | nullable    |
//!
//! Unsigned integers are left out on purpose: Delta has no unsigned types, and a
//! silent widening or wrap-around is worse than a compile error.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use deltalake::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    Int8Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Date32Type, SchemaRef, TimeUnit};
use deltalake::arrow::error::ArrowError;
use tidemill_runtime::EventTime;

/// The time zone written on every timestamp column. Delta's `timestamp` type is
/// instant-in-UTC; delta-rs maps it to exactly `Timestamp(Microsecond, Some("UTC"))`.
pub const UTC_TZ: &str = "UTC";

/// Rows could not be turned into an Arrow record batch.
#[derive(Debug, thiserror::Error)]
pub enum RecordBatchError {
    /// Arrow refused the columns (length or type mismatch with the schema).
    #[error("arrow")]
    Arrow(#[from] ArrowError),
    /// A hand-written [`DeltaRecord`] implementation rejected a value, for the
    /// reason its own error type gives.
    #[error("a value was rejected")]
    Invalid(#[source] tidemill_runtime::BoxError),
}

/// A row type that can be written to a Delta table.
///
/// The table schema is derived from [`DeltaRecord::arrow_schema`]: the sink creates
/// the table with it, and refuses to open an existing table whose schema differs.
/// Use [`delta_record!`](crate::delta_record) to implement it for a struct:
///
/// ```
/// use chrono::{DateTime, Utc};
/// use tidemill_delta::delta_record;
/// use tidemill_delta::DeltaRecord;
///
/// delta_record! {
///     /// Revenue per user and one-minute window.
///     #[derive(Clone, Debug, PartialEq)]
///     pub struct UserRevenue {
///         /// The user.
///         pub user_id: String,
///         /// End of the window (exclusive).
///         pub window_end: DateTime<Utc>,
///         /// Sum of order amounts, in cents.
///         pub revenue_cents: i64,
///         /// The coupon used most often, if any.
///         pub top_coupon: Option<String>,
///     }
/// }
///
/// let schema = UserRevenue::arrow_schema();
/// assert_eq!(schema.field(1).name(), "window_end");
/// assert!(schema.field(3).is_nullable());
/// let rows = vec![UserRevenue {
///     user_id: "u1".into(),
///     window_end: DateTime::from_timestamp(60, 0).unwrap(),
///     revenue_cents: 1250,
///     top_coupon: None,
/// }];
/// let batch = UserRevenue::to_record_batch(&rows).unwrap();
/// assert_eq!(batch.num_rows(), 1);
/// ```
pub trait DeltaRecord: Sized {
    /// The Arrow schema of every batch this type produces (and so of the table).
    fn arrow_schema() -> SchemaRef;

    /// Converts rows to one record batch with exactly [`DeltaRecord::arrow_schema`].
    fn to_record_batch(rows: &[Self]) -> Result<RecordBatch, RecordBatchError>;

    /// About how many bytes the row takes in memory (its size plus the bytes of
    /// its strings and binaries), so that sinks can bound what they buffer by
    /// bytes as well as by rows. [`delta_record!`](crate::delta_record) counts every
    /// field; the default counts only the struct itself.
    fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// A Rust type that maps to one Arrow column; used by [`delta_record!`](crate::delta_record).
pub trait DeltaColumn {
    /// The column's Arrow type.
    fn data_type() -> DataType;

    /// Whether the column may hold nulls (`true` exactly for `Option<_>`).
    fn nullable() -> bool {
        false
    }

    /// Builds the column from one value per row.
    fn to_array<'a, I>(values: I) -> ArrayRef
    where
        I: Iterator<Item = &'a Self>,
        Self: 'a;

    /// Bytes the value holds outside its own size (a string's text).
    fn heap_bytes(&self) -> usize {
        0
    }
}

fn timestamp_micros(t: &DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn event_time_micros(t: &EventTime) -> i64 {
    t.as_millis().saturating_mul(1000)
}

fn utc_timestamps(a: TimestampMicrosecondArray) -> ArrayRef {
    Arc::new(a.with_timezone(UTC_TZ))
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC_TZ.into()))
}

/// Implements [`DeltaColumn`] for `$t` and `Option<$t>`: `$conv` turns `&$t` into
/// the array's item, `$finish` turns the built array into an `ArrayRef`.
macro_rules! column {
    ($t:ty, $dt:expr, $arr:ty, $conv:expr, $finish:expr) => {
        column!($t, $dt, $arr, $conv, $finish, |_: &$t| 0);
    };
    ($t:ty, $dt:expr, $arr:ty, $conv:expr, $finish:expr, $heap:expr) => {
        impl DeltaColumn for $t {
            fn data_type() -> DataType {
                $dt
            }
            fn to_array<'a, I>(values: I) -> ArrayRef
            where
                I: Iterator<Item = &'a Self>,
            {
                let array: $arr = values.map(|v| Some($conv(v))).collect();
                $finish(array)
            }
            fn heap_bytes(&self) -> usize {
                $heap(self)
            }
        }

        impl DeltaColumn for Option<$t> {
            fn data_type() -> DataType {
                $dt
            }
            fn nullable() -> bool {
                true
            }
            fn to_array<'a, I>(values: I) -> ArrayRef
            where
                I: Iterator<Item = &'a Self>,
            {
                let array: $arr = values.map(|v| v.as_ref().map($conv)).collect();
                $finish(array)
            }
            fn heap_bytes(&self) -> usize {
                self.as_ref().map_or(0, $heap)
            }
        }
    };
}

fn arc<A: deltalake::arrow::array::Array + 'static>(a: A) -> ArrayRef {
    Arc::new(a)
}

column!(bool, DataType::Boolean, BooleanArray, |v: &bool| *v, arc);
column!(i8, DataType::Int8, Int8Array, |v: &i8| *v, arc);
column!(i16, DataType::Int16, Int16Array, |v: &i16| *v, arc);
column!(i32, DataType::Int32, Int32Array, |v: &i32| *v, arc);
column!(i64, DataType::Int64, Int64Array, |v: &i64| *v, arc);
column!(f32, DataType::Float32, Float32Array, |v: &f32| *v, arc);
column!(f64, DataType::Float64, Float64Array, |v: &f64| *v, arc);
column!(String, DataType::Utf8, StringArray, String::as_str, arc, |v: &String| v.len());
column!(Arc<str>, DataType::Utf8, StringArray, <Arc<str> as AsRef<str>>::as_ref, arc, |v: &Arc<str>| v.len());
column!(Vec<u8>, DataType::Binary, BinaryArray, Vec::<u8>::as_slice, arc, |v: &Vec<u8>| v.len());
column!(DateTime<Utc>, timestamp_type(), TimestampMicrosecondArray, timestamp_micros, utc_timestamps);
column!(EventTime, timestamp_type(), TimestampMicrosecondArray, event_time_micros, utc_timestamps);
column!(NaiveDate, DataType::Date32, Date32Array, |v: &NaiveDate| Date32Type::from_naive_date(*v), arc);

/// Declares a struct and implements [`DeltaRecord`](crate::DeltaRecord) for it:
/// one column per field, named like the field, typed by the field's
/// [`DeltaColumn`](crate::DeltaColumn) implementation, in declaration order.
///
/// Attributes (derives, doc comments) on the struct and its fields are kept.
/// Generic structs and tuple structs are not supported; implement the trait by hand.
/// See [`DeltaRecord`](crate::DeltaRecord) for an example.
#[macro_export]
macro_rules! delta_record {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $fvis:vis $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $(
                $(#[$fmeta])*
                $fvis $field : $ty,
            )*
        }

        impl $crate::DeltaRecord for $name {
            fn arrow_schema() -> $crate::arrow::datatypes::SchemaRef {
                static SCHEMA: ::std::sync::OnceLock<$crate::arrow::datatypes::SchemaRef> =
                    ::std::sync::OnceLock::new();
                SCHEMA
                    .get_or_init(|| {
                        ::std::sync::Arc::new($crate::arrow::datatypes::Schema::new(::std::vec![
                            $(
                                $crate::arrow::datatypes::Field::new(
                                    ::std::stringify!($field),
                                    <$ty as $crate::DeltaColumn>::data_type(),
                                    <$ty as $crate::DeltaColumn>::nullable(),
                                )
                            ),*
                        ]))
                    })
                    .clone()
            }

            fn to_record_batch(
                rows: &[Self],
            ) -> ::std::result::Result<$crate::arrow::array::RecordBatch, $crate::RecordBatchError> {
                let columns: ::std::vec::Vec<$crate::arrow::array::ArrayRef> = ::std::vec![
                    $( <$ty as $crate::DeltaColumn>::to_array(rows.iter().map(|row| &row.$field)) ),*
                ];
                let options = $crate::arrow::array::RecordBatchOptions::new()
                    .with_row_count(::std::option::Option::Some(rows.len()));
                $crate::arrow::array::RecordBatch::try_new_with_options(
                    <Self as $crate::DeltaRecord>::arrow_schema(),
                    columns,
                    &options,
                )
                .map_err(::std::convert::From::from)
            }

            fn approx_bytes(&self) -> usize {
                ::std::mem::size_of::<Self>() $( + <$ty as $crate::DeltaColumn>::heap_bytes(&self.$field) )*
            }
        }
    };
}
