//! Support teams: console users grouped for assignment.

use crate::clock::Micros;
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SupportTeam)]
pub struct Team {
    pub id: String,
    pub code: String,
    pub name: String,
    /// User ids of the members.
    pub members: Vec<String>,
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Team>> {
    let rows = sqlx::query("SELECT id, code, name FROM teams ORDER BY code")
        .fetch_all(&mut *conn)
        .await?;
    let mut teams = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0)?;
        let members = sqlx::query_scalar(
            "SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id",
        )
        .bind(&id)
        .fetch_all(&mut *conn)
        .await?;
        teams.push(Team {
            id,
            code: row.try_get(1)?,
            name: row.try_get(2)?,
            members,
        });
    }
    Ok(teams)
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Team> {
    list(conn)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| Error::not_found("team"))
}

/// Creates a team or renames the one with the same code.
pub async fn upsert(conn: &mut Conn, code: &str, name: &str, at: Micros) -> Result<Team> {
    let code = code.trim();
    if code.is_empty() || name.trim().is_empty() {
        return Err(Error::invalid(
            "invalid_team",
            "a team needs a code and a name",
        ));
    }
    let existing: Option<String> = sqlx::query_scalar("SELECT id FROM teams WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    let id = match existing {
        Some(id) => {
            sqlx::query("UPDATE teams SET name = $2 WHERE id = $1")
                .bind(&id)
                .bind(name.trim())
                .execute(&mut *conn)
                .await?;
            id
        }
        None => {
            let id = new_id();
            sqlx::query("INSERT INTO teams (id, code, name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&id)
                .bind(code)
                .bind(name.trim())
                .bind(at)
                .execute(&mut *conn)
                .await?;
            id
        }
    };
    get(conn, &id).await
}

/// Sets the members of a team to exactly `users` (active console users).
pub async fn set_members(
    conn: &mut Conn,
    team_id: &str,
    users: &[String],
    at: Micros,
) -> Result<Team> {
    get(conn, team_id).await?;
    for user in users {
        require_user(conn, user).await?;
    }
    sqlx::query("DELETE FROM team_members WHERE team_id = $1")
        .bind(team_id)
        .execute(&mut *conn)
        .await?;
    for user in users {
        sqlx::query(
            "INSERT INTO team_members (team_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(team_id)
        .bind(user)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    get(conn, team_id).await
}

pub async fn require_user(conn: &mut Conn, user_id: &str) -> Result<()> {
    let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
    if found == 0 {
        return Err(Error::invalid(
            "unknown_agent",
            format!("no console user {user_id}"),
        ));
    }
    Ok(())
}

pub async fn is_member(conn: &mut Conn, team_id: &str, user_id: &str) -> Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(n > 0)
}
