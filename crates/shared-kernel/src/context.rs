//! Who is asking, and which request this is: carried to every log line, audit entry and event.

use std::fmt;

use crate::constants::{
    ACTOR_ANONYMOUS, ACTOR_KEY_PREFIX, ACTOR_SYSTEM, ACTOR_SYSTEM_PREFIX, ACTOR_USER_PREFIX,
    MAX_REQUEST_ID_LEN,
};
use crate::error::Error;

/// Builds a prefixed actor from its suffix.
type MakeActor = fn(ActorSuffix) -> Actor;

/// The longest suffix of a `system:`, `key:` or `user:` actor.
const MAX_ACTOR_SUFFIX_LEN: usize = 128;

/// Who made a change. Its text form is recorded in signed audit entries, so the grammar is
/// fixed: `anonymous`, `system`, `system:<worker>`, `key:<id>`, `user:<subject>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// No authentication.
    Anonymous,
    /// Internal work with no more specific name.
    System,
    /// A named internal worker.
    Worker(ActorSuffix),
    /// An API key, by its id.
    Key(ActorSuffix),
    /// An authenticated user, by subject.
    User(ActorSuffix),
}

/// The part after `system:`, `key:` or `user:`: 1–128 printable ASCII characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActorSuffix(String);

impl ActorSuffix {
    /// Checks the suffix grammar.
    ///
    /// # Errors
    /// `INVALID_INPUT` when empty, too long, or holding a space or non-printable character.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let printable = value.bytes().all(|b| b.is_ascii_graphic());
        if value.is_empty() || value.len() > MAX_ACTOR_SUFFIX_LEN || !printable {
            return Err(Error::invalid_input(format!(
                "an actor name must be 1-{MAX_ACTOR_SUFFIX_LEN} printable ASCII characters"
            )));
        }
        Ok(Self(value.to_owned()))
    }

    /// The suffix text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Actor {
    /// Parses the text form.
    ///
    /// # Errors
    /// `INVALID_INPUT` when the text follows none of the forms.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text == ACTOR_ANONYMOUS {
            return Ok(Actor::Anonymous);
        }
        if text == ACTOR_SYSTEM {
            return Ok(Actor::System);
        }
        let prefixed: [(&str, MakeActor); 3] = [
            (ACTOR_SYSTEM_PREFIX, Actor::Worker),
            (ACTOR_KEY_PREFIX, Actor::Key),
            (ACTOR_USER_PREFIX, Actor::User),
        ];
        for (prefix, make) in prefixed {
            if let Some(rest) = text.strip_prefix(prefix) {
                return Ok(make(ActorSuffix::parse(rest)?));
            }
        }
        Err(Error::invalid_input(format!(
            "`{text}` is not a valid actor"
        )))
    }

    /// A named internal worker (`system:<worker>`).
    ///
    /// # Errors
    /// `INVALID_INPUT` when the name breaks the suffix grammar.
    pub fn worker(name: &str) -> Result<Self, Error> {
        Ok(Actor::Worker(ActorSuffix::parse(name)?))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Anonymous => f.write_str(ACTOR_ANONYMOUS),
            Actor::System => f.write_str(ACTOR_SYSTEM),
            Actor::Worker(name) => write!(f, "{ACTOR_SYSTEM_PREFIX}{}", name.as_str()),
            Actor::Key(id) => write!(f, "{ACTOR_KEY_PREFIX}{}", id.as_str()),
            Actor::User(subject) => write!(f, "{ACTOR_USER_PREFIX}{}", subject.as_str()),
        }
    }
}

/// A request id: 1–128 characters of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// Accepts a client-supplied id when it follows the grammar.
    ///
    /// # Errors
    /// `INVALID_INPUT` when it does not; callers at the edge generate a new one instead.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-');
        if value.is_empty() || value.len() > MAX_REQUEST_ID_LEN || !value.bytes().all(allowed) {
            return Err(Error::invalid_input(
                "request id does not follow the grammar",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// A fresh id (a UUIDv7, which sorts by time).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A W3C trace id: 32 lowercase hex characters, not all zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceId(String);

impl TraceId {
    /// Parses a trace id.
    ///
    /// # Errors
    /// `INVALID_INPUT` when it is not 32 lowercase hex characters or is all zeros.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let hex = value.len() == 32
            && value
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex || value.bytes().all(|b| b == b'0') {
            return Err(Error::invalid_input(
                "trace id must be 32 lowercase hex characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The context of one request or one piece of internal work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// Who is acting.
    pub actor: Actor,
    /// Which request.
    pub request_id: RequestId,
    /// The distributed trace, when there is one.
    pub trace_id: Option<TraceId>,
    /// When the request's work must stop (`None` for work without one): a command does not
    /// start a retry it could not finish in time.
    pub deadline: Option<crate::Deadline>,
}

impl RequestContext {
    /// The context of internal work by a named worker, with a fresh request id.
    pub fn system() -> Self {
        Self {
            actor: Actor::System,
            request_id: RequestId::generate(),
            trace_id: None,
            deadline: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_actor_form_round_trips_through_text() {
        for text in [
            "anonymous",
            "system",
            "system:sequencer",
            "key:k_1",
            "user:alice@example.com",
        ] {
            assert_eq!(
                Actor::parse(text).map(|a| a.to_string()).ok().as_deref(),
                Some(text),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_actors_are_rejected() {
        for text in [
            "",
            "root",
            "system:",
            "key:has space",
            "user:\u{e9}",
            "Anonymous",
        ] {
            assert!(Actor::parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn request_ids_follow_the_grammar() {
        assert!(RequestId::parse("abc-123:x.y_z").is_ok());
        assert!(RequestId::parse(&"a".repeat(128)).is_ok());
        for bad in ["", "has space", "slash/", "\u{e9}"] {
            assert!(RequestId::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(RequestId::parse(&"a".repeat(129)).is_err());
        assert!(RequestId::parse(RequestId::generate().as_str()).is_ok());
    }

    #[test]
    fn trace_ids_are_w3c_hex() {
        assert!(TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").is_ok());
        assert!(TraceId::parse("00000000000000000000000000000000").is_err());
        assert!(TraceId::parse("4BF92F3577B34DA6A3CE929D0E0E4736").is_err());
        assert!(TraceId::parse("4bf9").is_err());
    }
}
