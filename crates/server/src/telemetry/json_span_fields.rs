//! The fields of a span as one JSON object, written straight into its buffer.
//!
//! The JSON log format keeps each span's fields as the text of a JSON object, which it parses
//! again to put them into every line logged inside the span. tracing-subscriber's own field
//! formatter builds that text through a map of `serde_json::Value`s, one allocated string per
//! field; with the request span's three fields that was a sixth of the instructions of a
//! read by id. This one escapes each value as it is written, into the span's one buffer.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use shared_kernel::escape_json_string;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;

/// Formats span fields as a JSON object: `{"name":value,...}`, strings escaped per RFC 8259.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    /// The object is built in a reused per-thread buffer and handed over in one write: the
    /// span's own buffer starts empty, and filling it piece by piece made it grow (allocate
    /// and copy) four or five times per span.
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                scratch.clear();
                write_object(&mut Writer::new(&mut *scratch), fields)?;
                let written = writer.write_str(&scratch);
                if scratch.capacity() > SCRATCH_KEPT_BYTES {
                    *scratch = String::new();
                }
                written
            }
            // Not expected (tracing hands whatever a field's `Debug` logs to no subscriber, so
            // this is never re-entered), but a second borrow must not panic: write directly.
            Err(_) => write_object(&mut writer, fields),
        })
    }

    /// Adds fields recorded later to the object: its closing brace is taken off, the new
    /// members written, and the brace put back.
    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if current.fields.is_empty() {
            return self.format_fields(current.as_writer(), fields);
        }
        if current.fields.pop() != Some('}') {
            return Err(fmt::Error);
        }
        let empty = current.fields.ends_with('{');
        let mut writer = current.as_writer();
        let mut visitor = ObjectVisitor::new(&mut writer, empty);
        fields.record(&mut visitor);
        let result = visitor.result;
        current.fields.push('}');
        result
    }
}

thread_local! {
    /// Where [`JsonSpanFields::format_fields`] builds an object before handing it over.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// A scratch buffer grown past this (by a span with huge fields) is let go after use.
const SCRATCH_KEPT_BYTES: usize = 16 * 1024;

/// `{"name":value,...}` of `fields`, into `writer`.
fn write_object(writer: &mut Writer<'_>, fields: impl RecordFields) -> fmt::Result {
    writer.write_char('{')?;
    let mut visitor = ObjectVisitor::new(writer, true);
    fields.record(&mut visitor);
    visitor.result?;
    writer.write_char('}')
}

/// Writes each recorded field as a member of an object already opened.
struct ObjectVisitor<'a, 'writer> {
    writer: &'a mut Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl<'a, 'writer> ObjectVisitor<'a, 'writer> {
    fn new(writer: &'a mut Writer<'writer>, first: bool) -> Self {
        Self {
            writer,
            first,
            result: Ok(()),
        }
    }

    /// Writes `"name":` (with the separating comma), then `value` with `write_value`.
    fn member(
        &mut self,
        field: &Field,
        write_value: impl FnOnce(&mut Writer<'writer>) -> fmt::Result,
    ) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { "," };
        self.first = false;
        self.result = self
            .writer
            .write_str(separator)
            .and_then(|()| write_json_string(self.writer, field.name()))
            .and_then(|()| self.writer.write_char(':'))
            .and_then(|()| write_value(self.writer));
    }
}

impl Visit for ObjectVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_json_string(w, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinities: those are written as strings.
        if value.is_finite() {
            self.member(field, |w| write!(w, "{value}"));
        } else {
            self.member(field, |w| write_json_string(w, &value.to_string()));
        }
    }

    /// Display (`%`) and Debug (`?`) values: their text, escaped as it is produced.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| {
            w.write_char('"')?;
            write!(Escaping(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

fn write_json_string(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
    writer.write_char('"')?;
    Escaping(writer).write_str(text)?;
    writer.write_char('"')
}

/// Escapes what is written through it for the inside of a JSON string, as the canonical JSON
/// writer does ([`escape_json_string`]).
struct Escaping<'a, 'writer>(&'a mut Writer<'writer>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        escape_json_string(text, |piece| self.0.write_str(piece))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// The JSON lines logged by `body` under the server's JSON format with these fields.
    fn json_lines(body: impl FnOnce()) -> Vec<Value> {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .fmt_fields(JsonSpanFields)
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, body);
        let bytes = captured
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {e}: {line}"))
            })
            .collect()
    }

    #[test]
    fn a_lines_span_carries_every_field_with_its_json_type() {
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{7} é \u{2028} 😀";
        let lines = json_lines(|| {
            let span = tracing::info_span!(
                "request",
                method = %"GET",
                path = %awkward,
                request_id = ?"r-1",
                count = 3_u64,
                delta = -2_i64,
                ok = true,
                ratio = 0.5_f64,
                bad = f64::NAN,
                text = "plain",
            );
            let _entered = span.enter();
            tracing::info!("inside");
        });
        assert_eq!(lines.len(), 1);
        let span = &lines[0]["span"];
        assert_eq!(span["name"], json!("request"));
        assert_eq!(span["method"], json!("GET"));
        assert_eq!(span["path"], json!(awkward));
        assert_eq!(span["request_id"], json!("\"r-1\""));
        assert_eq!(span["count"], json!(3));
        assert_eq!(span["delta"], json!(-2));
        assert_eq!(span["ok"], json!(true));
        assert_eq!(span["ratio"], json!(0.5));
        assert_eq!(span["bad"], json!("NaN"));
        assert_eq!(span["text"], json!("plain"));
    }

    #[test]
    fn fields_recorded_later_join_the_object() {
        let lines = json_lines(|| {
            let span = tracing::info_span!("request", first = 1_u64, later = tracing::field::Empty);
            span.record("later", "yes");
            let _entered = span.enter();
            tracing::info!("inside");
            let empty = tracing::info_span!("bare", later = tracing::field::Empty);
            empty.record("later", 2_u64);
            let _inner = empty.enter();
            tracing::info!("deeper");
        });
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["span"]["first"], json!(1));
        assert_eq!(lines[0]["span"]["later"], json!("yes"));
        assert_eq!(lines[1]["span"]["later"], json!(2));
        assert_eq!(lines[1]["spans"][0]["later"], json!("yes"));
    }

    #[test]
    fn a_span_without_fields_is_an_empty_object() {
        let lines = json_lines(|| {
            let span = tracing::info_span!("quiet");
            let _entered = span.enter();
            tracing::info!("inside");
        });
        assert_eq!(lines[0]["span"], json!({"name": "quiet"}));
    }
}
