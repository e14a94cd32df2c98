//! API tokens: 256 random bits, shown once; the database keeps their SHA-256 only, so a copy of it
//! lets nobody in. Revoked tokens stay listed.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::sql::{p, Row};
use super::{now_s, random_hex, Store, StoreError, StoreResult};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Operator,
    /// Its room, and the sessions and invitations that room takes part in.
    Anchor,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Anchor => "anchor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "operator" => Some(Role::Operator),
            "anchor" => Some(Role::Anchor),
            _ => None,
        }
    }
}

/// A token as it is listed: never the token itself.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TokenInfo {
    pub id: String,
    pub role: Role,
    /// An anchor token's room.
    pub room: Option<String>,
    pub created_at: i64,
    pub revoked: bool,
}

/// SHA-256 of a token, hex: what the database compares.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Creates a token; returns it (the only time it is seen) and how it is listed.
    pub fn create_token(&self, role: Role, room: Option<&str>) -> StoreResult<(String, TokenInfo)> {
        if let Some(r) = room {
            self.room(r)?;
        }
        let token = format!("cst_{}", random_hex(32));
        let info = TokenInfo {
            id: format!("tok_{}", random_hex(6)),
            role,
            room: room.map(str::to_string),
            created_at: now_s(),
            revoked: false,
        };
        self.db().execute(
            "INSERT INTO api_tokens (id, hash, role, room, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            p![&info.id, token_hash(&token), role.as_str(), &info.room, info.created_at],
        )?;
        Ok((token, info))
    }

    /// The live (not revoked) token with this hash.
    pub fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenInfo>> {
        self.db().query_opt(
            "SELECT id, role, room, created_at, revoked FROM api_tokens WHERE hash = ?1 AND revoked = 0",
            p![hash],
            row,
        )
    }

    pub fn tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        self.db().query_all(
            "SELECT id, role, room, created_at, revoked FROM api_tokens ORDER BY created_at, id",
            p![],
            row,
        )
    }

    pub fn revoke_token(&self, id: &str) -> StoreResult<()> {
        match self.db().execute("UPDATE api_tokens SET revoked = 1 WHERE id = ?1", p![id])? {
            0 => Err(StoreError::NoToken(id.to_string())),
            _ => Ok(()),
        }
    }
}

fn row(r: &Row) -> StoreResult<TokenInfo> {
    let role: String = r.get(1)?;
    Ok(TokenInfo {
        id: r.get(0)?,
        role: Role::parse(&role).unwrap_or(Role::Anchor),
        room: r.get(2)?,
        created_at: r.get(3)?,
        revoked: r.get::<i64>(4)? != 0,
    })
}
